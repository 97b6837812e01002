"""The ``ganforge`` command. Every command calls the public API and prints; nothing more.

Errors meant for the user are printed as one line (``--debug`` shows the traceback).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from ..errors import GanforgeError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Train, sample and inspect GANs on your own data.")
train_app = typer.Typer(no_args_is_help=True, help="Train a GAN. One subcommand per application.")
app.add_typer(train_app, name="train")

_state = {"debug": False}


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors."),
          verbose: bool = typer.Option(False, "--verbose", "-v", help="More log output.")) -> None:
    _state["debug"] = debug
    from rich.logging import RichHandler
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        handlers=[RichHandler(show_path=False, show_time=False, markup=False)])
    for noisy in ("matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.contextmanager
def _user_errors():
    try:
        yield
    except GanforgeError as e:
        if _state["debug"]:
            raise
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        raise typer.Exit(130)


def _relaunch_with_torchrun(devices: int) -> None:
    """``--devices N`` without a launcher: re-run this very command under torchrun with N processes."""
    if devices <= 1 or "WORLD_SIZE" in os.environ:
        return
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={devices}",
            "-m", "ganforge", *sys.argv[1:]]
    os.execv(sys.executable, args)


def _print_outputs(run_dir: Path) -> None:
    typer.echo(f"\nrun folder: {run_dir}")
    for name, what in [("model.safetensors", "model file"), ("samples", "sample grids"),
                       ("losses.png", "loss curves"), ("walk.gif", "latent walk"),
                       ("metrics.jsonl", "metrics log"), ("checkpoints", "checkpoints")]:
        if (run_dir / name).exists():
            typer.echo(f"  {what:<13} {run_dir / name}")


@train_app.command("image")
def train_image(
    data: str = typer.Option(..., "--data", help="Folder, .zip/.tar, IDX (MNIST) folder or file, .npz/.npy, "
                             "builtin:digits or builtin:shapes."),
    out: Path = typer.Option(..., "--out", help="Run folder to create."),
    size: int = typer.Option(32, help="Image side: 16, 32, 64, 128 or 256."),
    steps: Optional[int] = typer.Option(None, help="Training steps (default 2000 when --minutes is not given)."),
    minutes: Optional[float] = typer.Option(None, help="Train for this many minutes."),
    batch: int = typer.Option(64, help="Batch size per process."),
    arch: str = typer.Option("auto", help="dcgan, resnet or auto (by data and image size)."),
    loss: str = typer.Option("ns", help="ns (non-saturating), hinge, wgan-gp or lsgan."),
    augment: Optional[bool] = typer.Option(None, "--augment/--no-augment",
                                           help="Differentiable augmentation (default: on below 10k images)."),
    r1_gamma: Optional[float] = typer.Option(None, help="R1 penalty weight (default 0.1; 0 turns it off)."),
    z_dim: int = typer.Option(128, help="Latent size."),
    width: int = typer.Option(64, help="Base channel count of both networks."),
    lr_g: float = typer.Option(2e-4, help="Generator learning rate."),
    lr_d: float = typer.Option(2e-4, help="Discriminator learning rate."),
    channels: Optional[int] = typer.Option(None, help="Force 1 (grey) or 3 (RGB) channels."),
    limit: Optional[int] = typer.Option(None, help="Use only the first N images."),
    precision: str = typer.Option("auto", help="auto, bf16, fp32 or fp16 (CUDA)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    devices: int = typer.Option(1, help="Processes on this machine (data-parallel; uses torchrun)."),
    threads: Optional[int] = typer.Option(None, help="CPU threads per process."),
    compile: bool = typer.Option(False, "--compile", help="torch.compile the networks."),
    seed: int = typer.Option(0),
    eval_every: int = typer.Option(500, help="Write a sample grid every N steps."),
    checkpoint_every: int = typer.Option(500, help="Write a checkpoint every N steps."),
    log_every: int = typer.Option(10, help="Log losses every N steps."),
    metrics: str = typer.Option("", help="Scores at each evaluation, e.g. kid or fid,kid,pr; keeps "
                                "model-best.safetensors by KID (or the first metric)."),
    eval_n: int = typer.Option(1000, help="Generated and real images per evaluation."),
    features: str = typer.Option("auto", help="Feature network for --metrics: inception, pixels, a domain "
                                 "feature file, or auto (inception when its weights are set)."),
    weights: Optional[str] = typer.Option(None, help="Inception weight file (or GANFORGE_INCEPTION_WEIGHTS)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate config and data, print the resolved config."),
    conditional: bool = typer.Option(False, "--conditional", help="Class-conditional: labels from class "
                                     "subfolders, IDX label files or a file,label CSV given as --data."),
    cond_mode: str = typer.Option("projection", help="With --conditional: projection (discriminator) or acgan "
                                  "(auxiliary classifier)."),
) -> None:
    """Train an image generator on your own images."""
    from .. import api

    if steps is None and minutes is None:
        steps = 2000
    kwargs = dict(data=data, size=size, steps=steps, minutes=minutes, batch=batch, arch=arch, loss=loss,
                  augment=augment, r1_gamma=r1_gamma, z_dim=z_dim, width=width, lr_g=lr_g, lr_d=lr_d,
                  channels=channels, limit=limit, precision=precision, device=device, devices=devices,
                  threads=threads, compile=compile, seed=seed, eval_every=eval_every,
                  checkpoint_every=checkpoint_every, log_every=log_every, metrics=metrics, eval_n=eval_n,
                  features=features, weights=weights)
    if conditional:
        kwargs.update(conditional=True, cond_mode=cond_mode)
    with _user_errors():
        if dry_run:
            typer.echo(json.dumps(api.train("image", out=out, dry_run=True, **kwargs), indent=2))
            return
        _relaunch_with_torchrun(devices)
        api.train("image", out=out, overwrite=overwrite, progress=not quiet, **kwargs)
        if int(os.environ.get("RANK", "0")) == 0:
            _print_outputs(out)


@train_app.command("table")
def train_table(
    data: str = typer.Argument(..., help="CSV, TSV or Parquet file."),
    out: Path = typer.Option(..., "--out", help="Run folder to create."),
    target: Optional[str] = typer.Option(None, help="Column to predict (utility reports, preferred condition)."),
    types: Optional[str] = typer.Option(None, help="Override inferred types: age=int,zip=categorical,id=drop "
                                        "(int, float, categorical, bool, datetime, drop)."),
    steps: Optional[int] = typer.Option(None, help="Training steps (default 3000 when --minutes is not given)."),
    minutes: Optional[float] = typer.Option(None, help="Train for this many minutes."),
    batch: int = typer.Option(500, help="Rows per step (a multiple of --pac)."),
    pac: int = typer.Option(10, help="Rows the critic judges together (PacGAN)."),
    z_dim: int = typer.Option(128, help="Noise size."),
    max_levels: int = typer.Option(100, help="Modelled levels per categorical column; rarer ones share 'other'."),
    lr_g: float = typer.Option(2e-4, help="Generator learning rate."),
    lr_d: float = typer.Option(2e-4, help="Critic learning rate."),
    precision: str = typer.Option("fp32", help="fp32 (default for tables: the networks are small), bf16 or auto."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    threads: Optional[int] = typer.Option(None, help="CPU threads (1 is often fastest on a busy machine)."),
    seed: int = typer.Option(0),
    eval_every: int = typer.Option(200, help="Score fidelity every N steps; the best model is kept."),
    patience: Optional[int] = typer.Option(10, help="Stop after N evaluations without a fidelity gain (0: never)."),
    min_delta: float = typer.Option(0.001, "--min-delta", help="The smallest fidelity gain that counts for --patience."),
    dp_epsilon: Optional[float] = typer.Option(None, "--dp-epsilon", help="Differential privacy: train the critic "
                                               "with DP-SGD and stop when this epsilon is spent."),
    dp_delta: Optional[float] = typer.Option(None, "--dp-delta", help="DP delta (default 1 / (10 x rows))."),
    dp_noise: float = typer.Option(1.0, "--dp-noise", help="DP noise multiplier: more noise, more steps per epsilon."),
    dp_max_grad_norm: float = typer.Option(1.0, "--dp-max-grad-norm", help="DP per-record gradient clip."),
    checkpoint_every: int = typer.Option(500, help="Write a checkpoint every N steps."),
    log_every: int = typer.Option(50, help="Log losses every N steps."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate the table, print column types and config."),
) -> None:
    """Train a synthetic-data generator on a table (conditional tabular GAN)."""
    from .. import api

    if steps is None and minutes is None:
        steps = 3000
    kwargs = dict(data=data, target=target, types=types, steps=steps, minutes=minutes, batch=batch, pac=pac,
                  z_dim=z_dim, max_levels=max_levels, lr_g=lr_g, lr_d=lr_d, precision=precision, device=device,
                  threads=threads, seed=seed, eval_every=eval_every, checkpoint_every=checkpoint_every,
                  log_every=log_every, patience=patience or None, min_delta=min_delta, dp_epsilon=dp_epsilon, dp_delta=dp_delta,
                  dp_noise=dp_noise, dp_max_grad_norm=dp_max_grad_norm)
    with _user_errors():
        if dry_run:
            typer.echo(json.dumps(api.train("table", out=out, dry_run=True, **kwargs), indent=2))
            return
        api.train("table", out=out, overwrite=overwrite, progress=not quiet, **kwargs)
        _print_outputs(out)


@train_app.command("series")
def train_series(
    data: str = typer.Argument(..., help="Long CSV (series_id, time, feature..., [label]), .npy (N,T,F), .npz, "
                               "or builtin:sines."),
    out: Path = typer.Option(..., "--out", help="Run folder to create."),
    length: Optional[int] = typer.Option(None, help="Truncate series to this many steps."),
    steps: Optional[int] = typer.Option(None, help="Training steps (default 2000 when --minutes is not given)."),
    minutes: Optional[float] = typer.Option(None, help="Train for this many minutes."),
    batch: int = typer.Option(64, help="Series per step."),
    hidden: int = typer.Option(64, help="GRU width."),
    precision: str = typer.Option("fp32", help="fp32, bf16 or auto."),
    threads: Optional[int] = typer.Option(None, help="CPU threads."),
    seed: int = typer.Option(0),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train a time-series generator (recurrent conditional GAN)."""
    from .. import api

    if steps is None and minutes is None:
        steps = 2000
    with _user_errors():
        api.train("series", out=out, overwrite=overwrite, progress=not quiet, data=data, length=length, steps=steps,
                  minutes=minutes, batch=batch, hidden=hidden, precision=precision, threads=threads, seed=seed)
        _print_outputs(out)


@app.command()
def report(real: Path = typer.Argument(..., help="The real table (CSV/Parquet) or series (long CSV, .npy, .npz)."),
           synth: Path = typer.Argument(..., help="The synthetic table or series."),
           output: Path = typer.Option(Path("report.json"), "-o", "--output", help="report.json (or .html)."),
           kind: str = typer.Option("auto", help="table, series, or auto (series when the real file is .npy/.npz "
                                    "or has series_id and time columns)."),
           target: Optional[str] = typer.Option(None, help="Tables: column for train-synthetic-test-real utility."),
           holdout: Optional[Path] = typer.Option(None, help="Tables: real rows the generator never saw (default: "
                                                  "20% of REAL, stated in the report)."),
           types: Optional[str] = typer.Option(None, help="Tables: override inferred types, as for train table."),
           seed: int = typer.Option(0)) -> None:
    """Fidelity, detection, utility and privacy of a synthetic table (or the TimeGAN scores of synthetic
    series) against the real data; .html adds pictures."""
    from ..data.tables import read_table

    with _user_errors():
        if kind not in ("auto", "table", "series"):
            raise GanforgeError(f"--kind must be auto, table or series; got {kind!r}")
        r = None
        if kind == "auto":
            r = None if real.suffix in (".npy", ".npz") else read_table(real)
            kind = "series" if r is None or {"series_id", "time"} <= set(r.columns) else "table"
        if kind == "series":
            from ..metrics.series import report_files, write_report as write_series_report

            try:
                result, r_arr, s_arr = report_files(str(real), str(synth), seed=seed)
            except ValueError as e:
                raise GanforgeError(str(e)) from None
            typer.echo(f"discriminative {result['discriminative_score']:.3f}  predictive "
                       f"{result['predictive_score']['synthetic']:.4f} (real {result['predictive_score']['real']:.4f})"
                       f"  autocorrelation gap {result['autocorrelation_gap']:.4f}")
            typer.echo(f"wrote {write_series_report(result, output, r_arr, s_arr)}")
            return
        from ..metrics.tabular import report as table_report, write_report

        r, s = (r if r is not None else read_table(real)), read_table(synth)
        result = table_report(r, s, target=target, types=types, seed=seed,
                              holdout=read_table(holdout) if holdout else None)
        typer.echo(f"fidelity {result['fidelity']['score']:.3f} (holdout {result['fidelity_of_holdout']:.3f})  "
                   f"detection {result['detection']['score']:.3f}  "
                   f"exact copies {result['privacy']['exact_copy_rate']['synthetic']:.2%}")
        typer.echo(f"wrote {write_report(result, output, real=r, synth=s)}")


@app.command()
def resume(run: Path = typer.Argument(..., help="Run folder."),
           steps: Optional[int] = typer.Option(None, help="New total step budget."),
           minutes: Optional[float] = typer.Option(None, help="New total time budget."),
           quiet: bool = typer.Option(False, "--quiet")) -> None:
    """Continue a run from its newest checkpoint."""
    from .. import api

    with _user_errors():
        api.resume(run, steps=steps, minutes=minutes, progress=not quiet)
        _print_outputs(run)


@app.command()
def sample(model: Path = typer.Argument(..., help="Model file or run folder."),
           n: int = typer.Option(64, "--n", help="Number of images."),
           seed: int = typer.Option(0),
           output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write one grid image here."),
           out_dir: Optional[Path] = typer.Option(None, "--out-dir", help="Write single images into this folder."),
           nrow: Optional[int] = typer.Option(None, help="Images per grid row."),
           device: str = typer.Option("cpu"),
           rows: Optional[int] = typer.Option(None, "--rows", help="Table models: rows to generate (-o synth.csv)."),
           where: Optional[str] = typer.Option(None, "--where", help='Table models: conditions every row meets, '
                                               'e.g. "sex=F,age>40".'),
           label: Optional[str] = typer.Option(None, "--label", help="Series models: the label of every series; "
                                               "voxel models: the class of every shape."),
           cls: Optional[str] = typer.Option(None, "--class", help="Conditional image models: the class of every "
                                             "image (name or index)."),
           text: Optional[str] = typer.Option(None, "--text", help="Text-to-image models: the caption of every "
                                              "image (default: captions from the training data).")) -> None:
    """Generate images (or, from a table model, rows: --rows N -o synth.csv) from a trained model."""
    from .. import load
    from ..imaging import media

    with _user_errors():
        if output is None and out_dir is None:
            raise GanforgeError("say where to write: -o FILE (a grid image; synth.csv for table and series "
                                "models) or --out-dir DIR")
        if n <= 0:
            raise GanforgeError(f"--n must be positive, got {n}")
        m = load(model, device=device)
        if m.task == "table":
            _sample_table(m, rows, where, seed, output)
            return
        if m.task == "series":
            _sample_series(m, n, label, seed, output)
            return
        if m.task == "voxels":
            _sample_voxels(m, n, label, seed, output, out_dir)
            return
        if rows is not None or where is not None:
            raise GanforgeError(f"--rows and --where apply to table models; this is a {m.task!r} model")
        if text is not None and m.task != "text2image":
            raise GanforgeError(f"--text applies to text2image models; this is a {m.task!r} model")
        if m.task == "text2image":
            images = m.sample(n, seed=seed, text=text)
        else:
            images = m.sample(n, seed=seed) if cls is None else m.sample(n, seed=seed, classes=cls)
        if output is not None:
            media.save_image(output, media.grid(images, nrow=nrow))
            typer.echo(f"wrote {output}")
        if out_dir is not None:
            for i, im in enumerate(images):
                media.save_image(Path(out_dir) / f"{seed:04d}-{i:05d}.png", im)
            typer.echo(f"wrote {len(images)} images to {out_dir}")


def _sample_table(m, rows: Optional[int], where: Optional[str], seed: int, output: Optional[Path]) -> None:
    from ..data.tables import write_table

    if output is None:
        raise GanforgeError("say where to write the rows: -o synth.csv (or .parquet)")
    if rows is None or rows <= 0:
        raise GanforgeError("say how many rows: --rows N (a positive number)")
    df = m.sample(rows, where=where, seed=seed)
    write_table(df, output)
    typer.echo(f"wrote {len(df)} rows x {df.shape[1]} columns to {output}")


def _sample_series(m, n: int, label: Optional[str], seed: int, output: Optional[Path]) -> None:
    from ..data.tables import write_table

    if output is None:
        raise GanforgeError("say where to write the series: -o synth.csv (long format) or synth.npy")
    if output.suffix == ".npy":
        import numpy as np
        from ..fileio import atomic_path
        x, _, _ = m.sample(n, label=label, seed=seed)
        with atomic_path(output) as tmp:
            np.save(tmp, x)
    else:
        write_table(m.sample_frame(n, label=label, seed=seed), output)
    typer.echo(f"wrote {n} series to {output}")


@app.command()
def walk(model: Path = typer.Argument(..., help="Model file or run folder."),
         output: Path = typer.Option(Path("walk.gif"), "-o", "--output", help=".gif or .mp4"),
         seed: int = typer.Option(0), walks: int = typer.Option(16, help="Walks shown side by side."),
         start: Optional[str] = typer.Option(None, "--from", help="Walk from this seed (or latent file) ..."),
         end: Optional[str] = typer.Option(None, "--to", help="... to this seed (or latent file from 'invert')."),
         frames: int = typer.Option(48, help="With --from/--to: frames, both ends included."),
         fps: int = typer.Option(12, help="With --from/--to: frames per second."),
         spherical: bool = typer.Option(True, "--slerp/--lerp", help="Spherical or straight interpolation."),
         cls: Optional[str] = typer.Option(None, "--class", help="Conditional models: the class along the walk.")
         ) -> None:
    """Animate a walk through the latent space: between two seeds or inverted images (--from/--to), or a
    looping walk of many samples."""
    from ..predict import latent
    from .. import load

    with _user_errors():
        m = load(model)
        if start is None and end is None:
            typer.echo(f"wrote {m.walk(output, seed=seed, walks=walks)}")
            return
        if start is None or end is None:
            raise GanforgeError("give both ends of the walk: --from SEED --to SEED")
        a, b = latent.endpoint(m, start, cls), latent.endpoint(m, end, cls)
        path, note = latent.write_walk(m, output, a, b, frames=frames, fps=fps,
                                       mode="slerp" if spherical else "lerp")
        if note:
            typer.secho(note, fg="yellow", err=True)
        typer.echo(f"wrote {path}")


@app.command()
def info(model: Path = typer.Argument(..., help="Model file or run folder."),
         as_json: bool = typer.Option(False, "--json", help="Print the full metadata as JSON.")) -> None:
    """Show what a model is: task, config, data fingerprint, metrics, steps done."""
    from .. import artifact
    from ..engine import checkpoint

    with _user_errors():
        meta = artifact.read_meta(model)
        if as_json:
            typer.echo(json.dumps(meta, indent=2, sort_keys=True))
            return
        data = meta.get("data", {})
        lines = [("task", meta.get("task")), ("ganforge", meta.get("ganforge_version")),
                 ("steps done", meta.get("step")), ("status", meta.get("status")),
                 ("training time", f"{meta.get('elapsed_s', 0) / 60:.1f} min"),
                 ("data", f"{data.get('source')}  ({_scalars(data, skip=('source', 'fingerprint'))})"),
                 ("fingerprint", data.get("fingerprint")),
                 ("options", _scalars(meta.get("options", {}), skip=("data", "types")))]
        if meta.get("stopped_early"):
            lines.append(("stopped early", meta["stopped_early"]["reason"]))
        if meta.get("privacy"):
            pv = meta["privacy"]
            lines.append(("privacy", f"({pv['epsilon']}, {pv['delta']:.2g})-DP, {pv['steps']} critic steps, "
                                     f"noise {pv['noise_multiplier']}, clip {pv['max_grad_norm']}"))
        run_dir = Path(model) if Path(model).is_dir() else None
        if run_dir is not None:
            found = checkpoint.list_checkpoints(run_dir / "checkpoints")
            lines.append(("checkpoints", ", ".join(str(s) for s, _ in found) or "none"))
        metrics = {k: v for k, v in meta.get("metrics", {}).items() if k.startswith(("loss/", "imgs"))}
        lines.append(("last metrics", "  ".join(f"{k}={v:.4g}" for k, v in metrics.items())))
        for key, value in lines:
            typer.echo(f"{key:<14} {value}")


def _scalars(fields: dict, skip: tuple[str, ...] = ()) -> str:
    """``key=value`` for the plain (number, text, bool) fields of a metadata dict."""
    return " ".join(f"{k}={v}" for k, v in fields.items()
                    if k not in skip and v is not None and isinstance(v, (int, float, str, bool)) and len(str(v)) < 40)


def _metric_progress():
    """A rich progress bar for feature extraction: (label, done, total) events."""
    from rich.progress import Progress

    progress = Progress(transient=True)
    tasks: dict[str, int] = {}

    def update(label: str, done: int, total: int | None) -> None:
        if label not in tasks:
            tasks[label] = progress.add_task(f"features: {label}", total=total)
        progress.update(tasks[label], completed=done)

    return progress, update


def _run_eval(fake, real, metrics: str, n: int, n_real: Optional[int], features_spec: str,
              weights: Optional[str], size: Optional[int], seed: int, device: str, output: Path) -> None:
    from ..metrics.evaluate import evaluate, save_report, table

    progress, update = _metric_progress()
    with progress:
        report = evaluate(fake, real, metrics, n=n, n_real=n_real, features=features_spec, weights=weights,
                          size=size, seed=seed, device=device, progress=update)
    typer.echo(table(report))
    typer.echo(f"wrote {save_report(report, output)}")


@app.command("eval")
def eval_model(
    model: Path = typer.Argument(..., help="Model file or run folder."),
    data: Optional[str] = typer.Option(None, "--data", help="Real images (default: the data the model was trained on)."),
    metrics: str = typer.Option("fid,kid,pr", help="Comma list of fid, kid, pr, dc, is, memorization, cas (conditional models)."),
    n: int = typer.Option(10_000, "--n", help="Generated samples."),
    n_real: Optional[int] = typer.Option(None, help="Real samples (default: as many as --n, or all there are)."),
    features: str = typer.Option("auto", help="inception, pixels, a domain feature file, or auto."),
    weights: Optional[str] = typer.Option(None, help="Inception weight file (or GANFORGE_INCEPTION_WEIGHTS)."),
    seed: int = typer.Option(0),
    device: str = typer.Option("cpu"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Where to write eval.json "
                                          "(default: in the run folder, or ./eval.json)."),
) -> None:
    """Score a trained generator against real images; print a table and write eval.json with the protocol."""
    from .. import load

    with _user_errors():
        m = load(model, device=device)
        real = data or m.meta.get("data", {}).get("source")
        if output is None:
            output = (model if model.is_dir() else Path(".")) / "eval.json"
        _run_eval(m, real, metrics, n, n_real, features, weights, None, seed, device, output)


@app.command("eval-folders")
def eval_folders(
    generated: str = typer.Argument(..., help="Images to score (folder, zip, IDX, .npz, builtin:...)."),
    real: str = typer.Argument(..., help="Reference images."),
    metrics: str = typer.Option("fid,kid,pr", help="Comma list of fid, kid, pr, dc, is, memorization, cas (conditional models)."),
    n: int = typer.Option(10_000, "--n", help="At most this many images of each set."),
    size: Optional[int] = typer.Option(None, help="Side at which images are read (default: min(128, the "
                                       "feature network's input))."),
    features: str = typer.Option("auto", help="inception, pixels, a domain feature file, or auto."),
    weights: Optional[str] = typer.Option(None, help="Inception weight file (or GANFORGE_INCEPTION_WEIGHTS)."),
    device: str = typer.Option("cpu"),
    output: Path = typer.Option(Path("eval.json"), "-o", "--output"),
) -> None:
    """Compare two image sets, no model needed."""
    with _user_errors():
        _run_eval(generated, real, metrics, n, n, features, weights, size, 0, device, output)


features_app = typer.Typer(no_args_is_help=True, help="Feature networks for evaluation.")
app.add_typer(features_app, name="features")


@features_app.command("train")
def features_train(
    data: str = typer.Option(..., "--data", help="Real images; labelled data trains a classifier, "
                                                 "unlabelled data a rotation-pretext encoder."),
    out: Path = typer.Option(..., "--out", help="Feature file to write (.safetensors)."),
    size: Optional[int] = typer.Option(None, help="Side the images are loaded at (default 32)."),
    epochs: Optional[float] = typer.Option(None, help="Training epochs, fractions allowed (default: by data size)."),
    minutes: Optional[float] = typer.Option(None, help="Stop after this much training time."),
    test_data: Optional[str] = typer.Option(None, "--test-data", help="Held-out labelled images to report accuracy on."),
    threads: Optional[int] = typer.Option(None, help="torch CPU threads."),
    seed: int = typer.Option(0),
) -> None:
    """Train a domain feature network on real data, for --features PATH."""
    from rich.progress import Progress

    from ..metrics.features import train_domain_features

    with _user_errors(), Progress(transient=True) as bar:
        task = bar.add_task("training features", total=None)
        kwargs = {k: v for k, v in dict(size=size, epochs=epochs, minutes=minutes, test_data=test_data,
                                        threads=threads).items() if v is not None}
        result = train_domain_features(data, out, seed=seed, progress=lambda done, total: bar.update(
            task, completed=done, total=total), **kwargs)
    typer.echo(f"wrote {result.path}  ({result})")


# ---------------------------------------------------------------------------------------------- latent space
def _image_model(model: Path, device: str = "cpu"):
    from .. import load

    m = load(model, device=device)
    if m.task != "image":
        raise GanforgeError(f"{model}: latent tools work on image models; this is a {m.task!r} model")
    return m


def _latent_of(m, image: Optional[Path], latent_file: Optional[Path], cls: Optional[str], steps: int,
               features: Optional[str], resize: bool):
    """(latent, the input image or None): read a latent file or invert an image."""
    from ..predict import latent

    if (image is None) == (latent_file is None):
        raise GanforgeError("give one input: --image IN.png or --latent FILE")
    if latent_file is not None:
        return latent.load_latent(latent_file, m), None
    lat = latent.invert(m, image, classes=cls, steps=steps, features=features, resize=resize)
    for note in lat.meta["notes"]:
        typer.secho(note, fg="yellow", err=True)
    return lat, lat.reconstruction


@app.command()
def invert(model: Path = typer.Argument(..., help="Image model file or run folder."),
           image: Path = typer.Option(..., "--image", help="The image to project into the latent space."),
           output: Path = typer.Option(..., "-o", "--output", help="Latent file to write (.safetensors)."),
           cls: Optional[str] = typer.Option(None, "--class", help="Conditional models: the image's class "
                                             "(default: the best fitting one)."),
           steps: int = typer.Option(300, help="Optimisation steps."),
           features: Optional[str] = typer.Option(None, help="Domain feature file for a feature loss beside pixels."),
           encoder: Optional[Path] = typer.Option(None, help="Encoder file to start from (latent.train_encoder)."),
           resize: bool = typer.Option(True, "--resize/--no-resize", help="Centre-crop and resize another size "
                                       "(else refuse it)."),
           preview: Optional[Path] = typer.Option(None, help="Also write input | reconstruction side by side."),
           seed: int = typer.Option(0)) -> None:
    """Find the latent (and class) whose image matches IN.png; keep it in a small file for editing."""
    from ..predict import latent
    from ..imaging import media

    with _user_errors():
        m = _image_model(model)
        lat = latent.invert(m, image, classes=cls, steps=steps, features=features, encoder=encoder,
                            resize=resize, seed=seed)
        for note in lat.meta["notes"]:
            typer.secho(note, fg="yellow", err=True)
        lat.meta["image"] = str(image)
        latent.save_latent(output, lat, m)
        what = f"  class {lat.meta['classes'][0]}" if lat.meta.get("classes") else ""
        ssim = f"  SSIM {lat.meta['ssim']:.3f}" if lat.meta.get("ssim") is not None else ""
        typer.echo(f"PSNR {lat.meta['psnr']:.2f} dB{ssim}{what}")
        if preview is not None:
            target, _ = latent.load_target(image, m, resize)
            pair = torch_cat_nhwc([target, lat.reconstruction])
            media.save_image(preview, media.upscale(media.grid(pair, nrow=2), max(1, 128 // m.options.size)))
            typer.echo(f"wrote {preview}")
        typer.echo(f"wrote {output}")


def torch_cat_nhwc(batches) -> "np.ndarray":
    """uint8 NCHW tensors -> one uint8 NHWC array."""
    import numpy as np

    return np.concatenate([b.permute(0, 2, 3, 1).numpy() for b in batches])


@app.command()
def edit(model: Path = typer.Argument(..., help="Image model file or run folder."),
         output: Path = typer.Option(..., "-o", "--output", help="Edited image (png)."),
         image: Optional[Path] = typer.Option(None, "--image", help="Image to invert then edit ..."),
         latent_file: Optional[Path] = typer.Option(None, "--latent", help="... or a latent file from 'invert'."),
         direction: Optional[str] = typer.Option(None, help="Direction name (pc0.., a class name) in --directions."),
         directions_file: Optional[Path] = typer.Option(None, "--directions", help="Directions file "
                                                        "(default: directions.safetensors beside the model)."),
         strength: float = typer.Option(2.0, help="How far to move along the direction (in std of z)."),
         to_class: Optional[str] = typer.Option(None, "--to-class", help="Conditional models: regenerate with "
                                                "this class, keeping z (the style)."),
         cls: Optional[str] = typer.Option(None, "--class", help="With --image: the input's class (default: best fit)."),
         steps: int = typer.Option(300, help="With --image: inversion steps."),
         features: Optional[str] = typer.Option(None, help="With --image: domain feature file for the inversion."),
         resize: bool = typer.Option(True, "--resize/--no-resize"),
         side_by_side: bool = typer.Option(False, "--side-by-side", help="Write input | reconstruction | edit.")
         ) -> None:
    """Edit an image in latent space: move along a direction, or change its class keeping its style."""
    from ..predict import latent
    from ..imaging import media

    with _user_errors():
        if direction is None and to_class is None:
            raise GanforgeError("say what to change: --direction NAME (with --strength) or --to-class CLASS")
        m = _image_model(model)
        lat, recon = _latent_of(m, image, latent_file, cls, steps, features, resize)
        z, y = lat.z[:1], (lat.y[:1] if lat.y is not None else None)
        if direction is not None:
            path = directions_file or (artifact_dir(model) / "directions.safetensors")
            z = latent.apply_direction(z, latent.load_directions(path, m).get(direction), strength)
        if to_class is not None:
            y = m.labels(1, to_class)
        out = m.generate(z, y=y)
        if side_by_side:
            parts = ([] if image is None else [latent.load_target(image, m, resize)[0].permute(0, 2, 3, 1).numpy()])
            if recon is None:
                recon_np = m.generate(lat.z[:1], y=lat.y[:1] if lat.y is not None else None)
            else:
                recon_np = recon[:1].permute(0, 2, 3, 1).numpy()
            import numpy as np
            out = np.concatenate(parts + [recon_np, out])
            media.save_image(output, media.upscale(media.grid(out, nrow=len(out)), max(1, 128 // m.options.size)))
        else:
            media.save_image(output, out[0])
        typer.echo(f"wrote {output}")


def artifact_dir(model: Path) -> Path:
    return model if model.is_dir() else model.parent


@app.command()
def directions(model: Path = typer.Argument(..., help="Image model file or run folder."),
               output: Optional[Path] = typer.Option(None, "-o", "--output", help="Directions file (default: "
                                                     "directions.safetensors beside the model)."),
               method: str = typer.Option("pca", help="pca (unsupervised, GANSpace-style) or classifier "
                                          "(supervised, InterFaceGAN-style: needs --features)."),
               k: int = typer.Option(10, help="pca: number of components (pc0..)."),
               space: str = typer.Option("activations", help="pca: of G's first activations (GANSpace) or of z."),
               n: int = typer.Option(2000, "--n", help="Samples to compute them from."),
               features: Optional[str] = typer.Option(None, help="classifier: a domain feature file trained on "
                                                      "labelled data; its classes name the directions."),
               preview: Optional[Path] = typer.Option(None, help="Also write a grid: one row per direction, "
                                                      "strengths -3..3."),
               seed: int = typer.Option(0)) -> None:
    """Compute edit directions in the latent space and save them for 'ganforge edit --direction'."""
    from ..predict import latent

    with _user_errors():
        m = _image_model(model)
        if method == "pca":
            d = latent.pca_directions(m, k=k, n=n, seed=seed, space=space)
        elif method == "classifier":
            if features is None:
                raise GanforgeError("--method classifier needs --features FILE (a domain classifier)")
            from ..metrics.features import load_features
            d = latent.classifier_directions(m, load_features(features).logits, n=n, seed=seed)
        else:
            raise GanforgeError(f"--method must be pca or classifier, got {method!r}")
        output = output or (artifact_dir(model) / "directions.safetensors")
        latent.save_directions(output, d, m)
        typer.echo(f"{len(d.names)} directions: {', '.join(d.names)}")
        if preview is not None:
            _directions_preview(m, d, preview, seed)
            typer.echo(f"wrote {preview}")
        typer.echo(f"wrote {output}")


def _directions_preview(m, d, path: Path, seed: int) -> None:
    import torch
    from ..predict import latent
    from ..imaging import media

    strengths = [-3, -2, -1, 0, 1, 2, 3]
    z = m.latents(1, seed=seed)
    zs = torch.cat([latent.apply_direction(z, v, s) for v in d.vectors for s in strengths])
    y = m.labels(len(zs), 0) if m.conditional else None
    media.save_image(path, media.upscale(media.grid(m.generate(zs, y=y), nrow=len(strengths)),
                                         max(1, 64 // m.options.size)))


@app.command()
def encoder(model: Path = typer.Argument(..., help="Image model file or run folder."),
            output: Path = typer.Option(..., "-o", "--output", help="Encoder file to write (.safetensors)."),
            steps: int = typer.Option(1000, help="Training steps on the model's own samples."),
            batch: int = typer.Option(64), seed: int = typer.Option(0)) -> None:
    """Train an encoder image -> z (and class) on the model's samples, to start 'invert --encoder' from."""
    from ..predict import latent

    with _user_errors():
        m = _image_model(model)
        latent.train_encoder(m, output, steps=steps, batch=batch, seed=seed)
        typer.echo(f"wrote {output}")


@app.command()
def arithmetic(model: Path = typer.Argument(..., help="Image model file or run folder."),
               a: str = typer.Option(..., "--a", help="Seeds whose mean latent is A, e.g. 1,2,5-7."),
               b: str = typer.Option(..., "--b", help="Seeds for B."),
               c: str = typer.Option(..., "--c", help="Seeds for C."),
               output: Path = typer.Option(..., "-o", "--output", help="Grid: mean A, mean B, mean C, A - B + C."),
               cls: Optional[str] = typer.Option(None, "--class", help="Conditional models: the class.")) -> None:
    """Vector arithmetic on mean latents: A - B + C (e.g. smiling woman - neutral woman + neutral man)."""
    import torch
    from ..predict import latent
    from ..imaging import media

    with _user_errors():
        m = _image_model(model)
        za, zb, zc = (latent.mean_latent(m, s) for s in (a, b, c))
        zs = torch.cat([za, zb, zc, latent.arithmetic(za, zb, zc)])
        y = m.labels(4, cls) if m.conditional else (m.labels(4, cls) if cls is not None else None)
        media.save_image(output, media.upscale(media.grid(m.generate(zs, y=y), nrow=4), max(1, 128 // m.options.size)))
        typer.echo(f"wrote {output}  (A, B, C, A - B + C)")


@app.command()
def studio(host: str = typer.Option("127.0.0.1", help="Address to bind; anything but loopback needs a token."),
           port: int = typer.Option(8765, help="Port."),
           workspace: Path = typer.Option(Path("studio-workspace"), help="Folder for the database, data sets and runs."),
           token: Optional[str] = typer.Option(None, help="Token every API call must carry (made and printed when "
                                                          "binding beyond loopback without one)."),
           workers: int = typer.Option(1, help="Training jobs that run at once (each in its own process)."),
           max_upload_mb: float = typer.Option(200.0, help="Largest upload accepted, in MiB.")) -> None:
    """Serve the web studio: upload data, train in worker processes, watch live, collect results."""
    with _user_errors():
        try:
            from ..studio import serve
        except ImportError as e:
            typer.secho(f"error: the studio needs its extra ({e.name} is missing): pip install 'ganforge[studio]'",
                        fg="red", err=True)
            raise typer.Exit(1)
        serve(host=host, port=port, workspace=workspace, token=token, workers=workers, max_upload_mb=max_upload_mb)


# ---------------------------------------------------------------------------------------------- image-to-image
def _train_task(task: str, out: Path, overwrite: bool, quiet: bool, dry_run: bool, kwargs: dict) -> None:
    """Train (or, with dry_run, validate and print the resolved config of) a task; None options are left out."""
    from .. import api

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    with _user_errors():
        if dry_run:
            typer.echo(json.dumps(api.train(task, out=out, dry_run=True, **kwargs), indent=2))
            return
        api.train(task, out=out, overwrite=overwrite, progress=not quiet, **kwargs)
        _print_outputs(out)


@train_app.command("translate")
def train_translate(
    out: Path = typer.Option(..., "--out", help="Run folder to create."),
    pairs: Optional[str] = typer.Option(None, "--pairs", help="Folder of side-by-side A|B images (pix2pix format)."),
    a: Optional[str] = typer.Option(None, "--a", help="Folder of A images (with --b; matched by file name)."),
    b: Optional[str] = typer.Option(None, "--b", help="Folder of B images."),
    unpaired: bool = typer.Option(False, "--unpaired", help="A and B are unrelated images: CycleGAN."),
    direction: str = typer.Option("AtoB", help="AtoB or BtoA."),
    crop: int = typer.Option(128, help="Training crop side."),
    load_size: Optional[int] = typer.Option(None, help="Resize each image's shorter side to this before cropping."),
    steps: Optional[int] = typer.Option(None, help="Training steps (default 2000 when --minutes is not given)."),
    minutes: Optional[float] = typer.Option(None, help="Train for this many minutes."),
    batch: int = typer.Option(4, help="Pairs per step."),
    width: int = typer.Option(64, help="Base channel count of G and D."),
    depth: Optional[int] = typer.Option(None, help="U-Net levels (default: from the crop)."),
    norm: str = typer.Option("batch", help="Generator normalisation: batch, instance or none."),
    loss: Optional[str] = typer.Option(None, help="ns, lsgan or hinge (default ns; lsgan for --unpaired)."),
    lambda_l1: float = typer.Option(100.0, help="L1 weight (paired)."),
    lambda_cycle: float = typer.Option(10.0, help="Cycle-consistency weight (unpaired)."),
    lambda_identity: float = typer.Option(0.5, help="Identity weight, relative to the cycle weight (unpaired)."),
    limit: Optional[int] = typer.Option(None, help="Use only the first N images."),
    lr_g: float = typer.Option(2e-4), lr_d: float = typer.Option(2e-4),
    precision: str = typer.Option("auto", help="auto, bf16, fp32 or fp16 (CUDA)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    threads: Optional[int] = typer.Option(None, help="CPU threads."),
    seed: int = typer.Option(0),
    eval_every: int = typer.Option(200, help="Write a sample grid (input | output | target) every N steps."),
    checkpoint_every: int = typer.Option(500, help="Write a checkpoint every N steps."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate config and data, print the resolved config."),
) -> None:
    """Train image-to-image translation: pix2pix on pairs, CycleGAN with --unpaired."""
    if steps is None and minutes is None:
        steps = 2000
    _train_task("translate", out, overwrite, quiet, dry_run, dict(
        pairs=pairs, a=a, b=b, unpaired=unpaired, direction=direction, crop=crop, load_size=load_size, steps=steps,
        minutes=minutes, batch=batch, width=width, depth=depth, norm=norm, loss=loss, lambda_l1=lambda_l1,
        lambda_cycle=lambda_cycle, lambda_identity=lambda_identity, limit=limit, lr_g=lr_g, lr_d=lr_d,
        beta1=0.5, beta2=0.999, precision=precision, device=device, threads=threads, seed=seed,
        eval_every=eval_every, checkpoint_every=checkpoint_every))


@train_app.command("restore")
def train_restore(
    task: str = typer.Option(..., "--task", help="superres, inpaint, denoise, derain, colorize or deblur."),
    data: str = typer.Option(..., "--data", help="Any folder of clean photos (inputs are degraded on the fly)."),
    out: Path = typer.Option(..., "--out", help="Run folder to create."),
    scale: int = typer.Option(4, help="superres: 2, 3, 4 or 8."),
    crop: Optional[int] = typer.Option(None, help="Training crop (default 96 superres, 128 inpaint/colorize, "
                                       "else 64)."),
    noise: str = typer.Option("gaussian", help="denoise: gaussian or poisson."),
    level: Optional[float] = typer.Option(None, help="denoise: sigma (default 25) or Poisson peak (default 30)."),
    mask: str = typer.Option("mixed", help="inpaint: rect, free or mixed training masks."),
    blur: float = typer.Option(3.0, help="deblur: largest Gaussian blur sigma."),
    sr_blur: float = typer.Option(0.0, help="superres: Gaussian blur sigma before the reduction."),
    sr_noise: float = typer.Option(0.0, help="superres: Gaussian noise sigma on the small image."),
    sr_jpeg: Optional[int] = typer.Option(None, help="superres: JPEG quality of the small image."),
    steps: Optional[int] = typer.Option(None, help="Training steps (default 3000 when --minutes is not given)."),
    minutes: Optional[float] = typer.Option(None, help="Train for this many minutes."),
    batch: int = typer.Option(16, help="Crops per step."),
    width: int = typer.Option(64, help="Base channel count."),
    blocks: int = typer.Option(8, help="superres: residual blocks."),
    pretrain_steps: Optional[int] = typer.Option(None, help="Pixel-loss steps before the adversarial loss "
                                                 "(default 1000 superres, else 0)."),
    lambda_adv: Optional[float] = typer.Option(None, help="Adversarial weight (default 1e-3; 1e-2 inpaint/colorize)."),
    load_size: Optional[int] = typer.Option(None, help="Resize each photo's shorter side to this first."),
    limit: Optional[int] = typer.Option(None, help="Use only the first N photos."),
    lr_g: float = typer.Option(2e-4), lr_d: float = typer.Option(2e-4),
    precision: str = typer.Option("auto", help="auto, bf16, fp32 or fp16 (CUDA)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    threads: Optional[int] = typer.Option(None, help="CPU threads."),
    seed: int = typer.Option(0),
    eval_every: int = typer.Option(200, help="Write a sample grid (input | output | target) every N steps."),
    checkpoint_every: int = typer.Option(500, help="Write a checkpoint every N steps."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate config and data, print the resolved config."),
) -> None:
    """Train a restoration model from any folder of photos (degradations are synthesised)."""
    if steps is None and minutes is None:
        steps = 3000
    _train_task("restore", out, overwrite, quiet, dry_run, dict(
        kind=task, data=data, scale=scale, crop=crop, noise=noise, level=level, mask=mask, blur=blur,
        sr_blur=sr_blur, sr_noise=sr_noise, sr_jpeg=sr_jpeg, steps=steps,
        minutes=minutes, batch=batch, width=width, blocks=blocks, pretrain_steps=pretrain_steps,
        lambda_adv=lambda_adv, load_size=load_size, limit=limit, lr_g=lr_g, lr_d=lr_d, beta1=0.9, beta2=0.99,
        precision=precision, device=device, threads=threads, seed=seed, eval_every=eval_every,
        checkpoint_every=checkpoint_every))


@app.command("apply")
def apply_model(
    model: Path = typer.Argument(..., help="Model file or run folder."),
    input: Path = typer.Argument(..., help="An image or a folder of images."),
    output: Path = typer.Option(..., "-o", "--output", help="Output image, or folder for a folder input."),
    mask: Optional[Path] = typer.Option(None, "--mask", help="Inpainting: mask image (white = fill in), or a folder "
                                        "of masks named like the inputs."),
    compare: bool = typer.Option(False, "--compare", help="Write input | output side by side."),
    tile: Optional[int] = typer.Option(None, "--tile", help="Tile side for large images (default 512)."),
    direction: Optional[str] = typer.Option(None, "--direction", help="CycleGAN models: AtoB or BtoA."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Apply a trained model to an image or a folder (translation, restoration, ...)."""
    from .. import load

    options = {k: v for k, v in dict(mask=mask, tile=tile, direction=direction).items() if v is not None}
    if compare:
        options["compare"] = True
    with _user_errors():
        m = load(model, device=device)
        if not hasattr(m, "apply_path"):
            from ..errors import ConfigError
            raise ConfigError(f"model of task {m.task!r} cannot be applied to images or videos "
                              "(try 'ganforge sample')")
        bar = None
        progress = None
        if not quiet and Path(input).is_dir():
            from rich.progress import Progress
            bar = Progress(transient=True)
            bar.start()
            job = bar.add_task("apply", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(job, completed=done, total=total)
        try:
            written = m.apply_path(Path(input), Path(output), progress=progress, **options)
        finally:
            if bar is not None:
                bar.stop()
        typer.echo(f"wrote {len(written)} file{'s' if len(written) != 1 else ''}" +
                   (f": {written[0]}" if len(written) == 1 else f" under {output}"))


# ---------------------------------------------------------------------------------------------- analysis and defence
@train_app.command("saliency")
def train_saliency(
    out: Path = typer.Option(..., "--out", help="Run folder to create."),
    images: Optional[str] = typer.Option(None, "--images", help="Folder of images (with --maps; matched by name)."),
    maps: Optional[str] = typer.Option(None, "--maps", help="Folder of grey saliency maps, one per image, same size."),
    pairs: Optional[str] = typer.Option(None, "--pairs", help="Folder of image|map side-by-side files."),
    data: Optional[str] = typer.Option(None, "--data", help="builtin:saliency[?n=1000&size=64&seed=0]: synthetic "
                                       "scenes with known maps."),
    crop: int = typer.Option(64, help="Training crop side."),
    load_size: Optional[int] = typer.Option(None, help="Resize each image's shorter side to this before cropping."),
    steps: Optional[int] = typer.Option(None, help="Training steps (default 2000 when --minutes is not given)."),
    minutes: Optional[float] = typer.Option(None, help="Train for this many minutes."),
    batch: int = typer.Option(16, help="Pairs per step."),
    width: int = typer.Option(32, help="Base channel count of G and D."),
    lambda_l1: float = typer.Option(100.0, help="L1 weight."),
    limit: Optional[int] = typer.Option(None, help="Use only the first N pairs."),
    lr_g: float = typer.Option(2e-4), lr_d: float = typer.Option(2e-4),
    precision: str = typer.Option("auto", help="auto, bf16, fp32 or fp16 (CUDA)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    threads: Optional[int] = typer.Option(None, help="CPU threads."),
    seed: int = typer.Option(0),
    eval_every: int = typer.Option(200, help="Write a sample grid (image | predicted | true map) every N steps."),
    checkpoint_every: int = typer.Option(500, help="Write a checkpoint every N steps."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate config and data, print the resolved config."),
) -> None:
    """Train a saliency predictor (image -> grey attention map; pix2pix preset). Apply it with 'ganforge apply'."""
    if steps is None and minutes is None:
        steps = 2000
    _train_task("saliency", out, overwrite, quiet, dry_run, dict(
        images=images, maps=maps, pairs=pairs, data=data, crop=crop, load_size=load_size, steps=steps,
        minutes=minutes, batch=batch, width=width, lambda_l1=lambda_l1, limit=limit, lr_g=lr_g, lr_d=lr_d,
        beta1=0.5, beta2=0.999, precision=precision, device=device, threads=threads, seed=seed,
        eval_every=eval_every, checkpoint_every=checkpoint_every))


@app.command("eval-saliency")
def eval_saliency(
    model: Path = typer.Argument(..., help="Saliency model file or run folder."),
    images: Optional[str] = typer.Option(None, "--images", help="Folder of images (with --maps)."),
    maps: Optional[str] = typer.Option(None, "--maps", help="Folder of true saliency maps matched by name."),
    pairs: Optional[str] = typer.Option(None, "--pairs", help="Folder of image|map side-by-side files."),
    data: Optional[str] = typer.Option(None, "--data", help="builtin:saliency?n=200&seed=1 (use another seed than "
                                       "training's)."),
    fixations: Optional[str] = typer.Option(None, "--fixations", help="Folder of fixation images matched by name "
                                            "(non-zero = fixation); default: pixels >= --level of each map's peak."),
    level: float = typer.Option(0.5, help="Pseudo-fixations: fraction of the true map's maximum."),
    limit: Optional[int] = typer.Option(None, help="Score only the first N pairs."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Also write the scores as JSON."),
) -> None:
    """Score a saliency model against true maps: CC, NSS, KL, AUC-Judd, SIM (means over the images)."""
    from .. import load
    from ..errors import ConfigError
    from ..fileio import write_json

    with _user_errors():
        m = load(model)
        if not hasattr(m, "evaluate") or m.task != "saliency":
            raise ConfigError(f"{model}: a model of task {m.task!r}, not a saliency model")
        scores = m.evaluate(images, maps, data=data, pairs=pairs, fixations=fixations, limit=limit, level=level)
        typer.echo("  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in scores.items()))
        if output is not None:
            write_json(output, scores)
            typer.echo(f"wrote {output}")


@app.command("augment")
def augment(
    out: Path = typer.Option(..., "--out", help="Folder to write: one subfolder per class, and manifest.csv."),
    per_class: int = typer.Option(..., "--per-class", help="Synthetic images to write for every class."),
    data: Optional[str] = typer.Option(None, "--data", help="The small labelled set: class subfolders, IDX with "
                                       "labels, a file,label CSV or a labelled .npz."),
    model: Optional[Path] = typer.Option(None, "--model", help="Use this trained conditional model instead of "
                                         "training one."),
    run: Optional[Path] = typer.Option(None, "--run", help="Run folder for the GAN (default: OUT-run beside OUT)."),
    size: int = typer.Option(32, help="Image side: 16, 32, 64, 128 or 256."),
    steps: Optional[int] = typer.Option(None, help="Training steps (default 2000 when --minutes is not given)."),
    minutes: Optional[float] = typer.Option(None, help="Train for this many minutes."),
    batch: int = typer.Option(64, help="Batch size."),
    arch: str = typer.Option("auto", help="dcgan, resnet or auto."),
    cond_mode: str = typer.Option("projection", help="projection or acgan."),
    width: int = typer.Option(64, help="Base channel count of both networks."),
    channels: Optional[int] = typer.Option(None, help="Force 1 (grey) or 3 (RGB) channels."),
    image_format: str = typer.Option("png", "--format", help="png, jpg, webp or bmp."),
    filter_with: Optional[str] = typer.Option(None, "--filter", help="Keep only samples a classifier assigns to "
                                              "their class: a classifier file (ganforge features train), or "
                                              "'train' to train one on --data."),
    min_confidence: float = typer.Option(0.5, help="--filter: the classifier's least probability for the class."),
    precision: str = typer.Option("auto", help="auto, bf16, fp32 or fp16 (CUDA)."),
    threads: Optional[int] = typer.Option(None, help="CPU threads."),
    seed: int = typer.Option(0, help="Seed of the training run and of the images' seeds."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace what is in --out (and the run)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Augment a small labelled image set: train a class-conditional GAN, write N new images per class."""
    from ..recipes.synthetic_sets import augment_dataset

    train = {}
    if model is None:
        if steps is None and minutes is None:
            steps = 2000
        train = dict(size=size, steps=steps, minutes=minutes, batch=batch, arch=arch, cond_mode=cond_mode,
                     width=width, channels=channels, precision=precision, threads=threads)
        train = {k: v for k, v in train.items() if v is not None}
    with _user_errors():
        result = augment_dataset(data, out, per_class=per_class, model=model, run=run, seed=seed,
                                 overwrite=overwrite, progress=not quiet, image_format=image_format,
                                 filter=filter_with, min_confidence=min_confidence, **train)
        typer.echo(f"wrote {result}")


# ------------------------------------------------------------------ analysis and defence (issue 8)

@train_app.command("anomaly")
def train_anomaly(
    data: str = typer.Option(..., "--data", help="Normal images only (folder, zip, IDX, .npz, builtin:digits)."),
    out: Path = typer.Option(..., "--out", help="Run folder to create."),
    normal_class: Optional[str] = typer.Option(None, "--normal-class", help="Use only this class of labelled data "
                                               "(class folder or IDX label) as the normal images."),
    size: int = typer.Option(32, help="Image side: 16, 32, 64 or 128."),
    steps: Optional[int] = typer.Option(None, help="Training steps (default 2000 when --minutes is not given)."),
    minutes: Optional[float] = typer.Option(None, help="Train for this many minutes."),
    batch: int = typer.Option(64, help="Batch size."),
    score: str = typer.Option("latent", help="Score: latent (GANomaly), recon (reconstruction error) or mixed."),
    quantile: float = typer.Option(0.95, help="Automatic threshold: this quantile of held-out normal scores."),
    width: int = typer.Option(32, help="Base channel count."),
    z_dim: int = typer.Option(100, help="Code size."),
    limit: Optional[int] = typer.Option(None, help="Use only the first N normal images."),
    precision: str = typer.Option("auto", help="auto, bf16 or fp32."),
    threads: Optional[int] = typer.Option(None, help="CPU threads."),
    seed: int = typer.Option(0),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train an anomaly detector (GANomaly class) on normal images only."""
    from .. import api

    if steps is None and minutes is None:
        steps = 2000
    with _user_errors():
        m = api.train("anomaly", out=out, overwrite=overwrite, progress=not quiet, data=data, normal_class=normal_class,
                      size=size, steps=steps, minutes=minutes, batch=batch, score=score, quantile=quantile,
                      width=width, z_dim=z_dim, limit=limit, precision=precision, threads=threads, seed=seed)
        typer.echo(f"automatic threshold ({score} score, {quantile:.0%} of held-out normal images): {m.threshold:.5g}")
        _print_outputs(out)


@app.command("score")
def score_images(
    model: Path = typer.Argument(..., help="Anomaly model file or run folder."),
    images: str = typer.Argument(..., help="Images to score (folder, file, zip, IDX, .npz)."),
    output: Path = typer.Option(Path("scores.csv"), "-o", "--output", help="CSV: name, score[, anomaly]."),
    heatmaps: Optional[Path] = typer.Option(None, "--heatmaps", help="Write input | reconstruction | heat map "
                                            "pictures into this folder."),
    threshold: Optional[str] = typer.Option(None, "--threshold", help="'auto' (stored in the model) or a number: "
                                            "adds an 'anomaly' column."),
    kind: Optional[str] = typer.Option(None, "--kind", help="latent, recon or mixed (default: the model's)."),
    device: str = typer.Option("cpu"),
) -> None:
    """Anomaly score per image (higher = more anomalous), optional heat maps and threshold."""
    import csv
    import io

    from .. import load
    from ..imaging import media
    from ..fileio import write_bytes

    with _user_errors():
        m = load(model, device=device)
        if m.task != "anomaly":
            raise GanforgeError(f"{model}: a {m.task!r} model; 'score' needs an anomaly model "
                                "('ganforge train anomaly')")
        limit = None
        if threshold is not None:
            if threshold == "auto":
                limit = m.threshold
            else:
                try:
                    limit = float(threshold)
                except ValueError:
                    raise GanforgeError(f"--threshold must be 'auto' or a number, got {threshold!r}") from None
        if threshold == "auto" and kind is not None and kind != m.kind:
            raise GanforgeError(f"--threshold auto was calibrated for the {m.kind!r} score; give a number for --kind {kind}")
        result = m.analyze(images, kind)
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["name", "score"] + (["anomaly"] if limit is not None else []))
        for name, s in zip(result["names"], result["scores"]):
            w.writerow([name, f"{s:.6g}"] + ([int(s > limit)] if limit is not None else []))
        write_bytes(output, buf.getvalue().encode())
        n = len(result["names"])
        msg = f"scored {n} images ({result['kind']} score) -> {output}"
        if limit is not None:
            msg += f"; {int((result['scores'] > limit).sum())} above the threshold {limit:.5g}"
        typer.echo(msg)
        if heatmaps is not None:
            for name, panel in zip(result["names"], m.heatmap_panels(result)):
                media.save_image(Path(heatmaps) / (Path(name).with_suffix("").as_posix().replace("/", "__") + ".png"),
                                 panel)
            typer.echo(f"wrote {n} heat maps to {heatmaps}")


@train_app.command("purifier")
def train_purifier(
    classifier: Path = typer.Option(..., "--classifier", help="Classifier to defend: a feature file from 'ganforge "
                                    "features train' on labelled data, or TorchScript (.pt, with --size/--channels)."),
    data: str = typer.Option(..., "--data", help="Clean training images (labels used when present)."),
    out: Path = typer.Option(..., "--out", help="Run folder to create."),
    eps: float = typer.Option(0.3, help="Largest attack strength in training, on the [0, 1] pixel scale."),
    attack: str = typer.Option("fgsm", help="Training attacks: fgsm, or mixed (fgsm + 5-step PGD)."),
    steps: Optional[int] = typer.Option(None, help="Training steps (default 2000 when --minutes is not given)."),
    minutes: Optional[float] = typer.Option(None, help="Train for this many minutes."),
    batch: int = typer.Option(64, help="Batch size."),
    width: int = typer.Option(32, help="Base channel count."),
    limit: Optional[int] = typer.Option(None, help="Use only the first N images."),
    size: Optional[int] = typer.Option(None, help="TorchScript classifiers: input side."),
    channels: Optional[int] = typer.Option(None, help="TorchScript classifiers: input channels."),
    precision: str = typer.Option("auto", help="auto, bf16 or fp32."),
    threads: Optional[int] = typer.Option(None, help="CPU threads."),
    seed: int = typer.Option(0),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train an adversarial purifier (APE-GAN class) in front of a classifier."""
    from .. import api

    if steps is None and minutes is None:
        steps = 2000
    with _user_errors():
        api.train("purifier", out=out, overwrite=overwrite, progress=not quiet, classifier=str(classifier), data=data,
                  eps=eps, attack=attack, steps=steps, minutes=minutes, batch=batch, width=width, limit=limit,
                  size=size, channels=channels, precision=precision, threads=threads, seed=seed)
        _print_outputs(out)


@app.command("robustness")
def robustness(
    classifier: Path = typer.Option(..., "--classifier", help="Classifier file (feature file or TorchScript)."),
    data: str = typer.Option(..., "--data", help="Labelled test images (class folders, IDX, .npz with labels)."),
    purifier: Optional[Path] = typer.Option(None, "--purifier", help="Purifier model file or run folder."),
    attack: str = typer.Option("fgsm,pgd", "--attack", help="fgsm, pgd or both (comma list)."),
    eps: str = typer.Option("0.1,0.3", "--eps", help="Attack strengths on the [0, 1] pixel scale (comma list)."),
    n: int = typer.Option(1000, "--n", help="At most this many test images."),
    pgd_steps: int = typer.Option(40, help="PGD iterations."),
    white_box: bool = typer.Option(False, "--white-box", help="Also attack through the purifier (PGD)."),
    size: Optional[int] = typer.Option(None, help="TorchScript classifiers: input side."),
    channels: Optional[int] = typer.Option(None, help="TorchScript classifiers: input channels."),
    seed: int = typer.Option(0),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Also write the report as JSON."),
) -> None:
    """Clean accuracy, accuracy under FGSM/PGD, and accuracy after purification."""
    from .. import load
    from ..data import load_images
    from ..errors import DataError
    from ..fileio import write_json
    from ..recipes.robustness import evaluate, load_classifier, parse_list, table

    with _user_errors():
        if n <= 0:
            raise GanforgeError(f"--n must be positive, got {n}")
        if white_box and purifier is None:
            raise GanforgeError("--white-box attacks through the purifier: give --purifier too")
        clf = load_classifier(classifier, size, channels)
        attacks = parse_list(attack, "--attack")
        eps_list = parse_list(eps, "--eps", float)
        pur = None
        if purifier is not None:
            pur = load(purifier)
            if pur.task != "purifier":
                raise GanforgeError(f"{purifier}: a {pur.task!r} model, not a purifier ('ganforge train purifier')")
            want = pur.meta["classifier"]
            if (want["input_size"], want["channels"]) != (clf.input_size, clf.channels):
                raise GanforgeError(f"{purifier}: trained for {want['channels']}-channel {want['input_size']}px inputs, "
                                    f"the classifier takes {clf.channels}-channel {clf.input_size}px")
            if want.get("sha256") and want["sha256"] != clf.sha256:
                typer.secho(f"note: the purifier was trained for another classifier ({want['path']})", err=True)
        test = load_images(data, clf.input_size, channels=clf.channels, limit=n)
        if test.labels is None:
            raise DataError(f"{data}: the test images need labels (class folders, IDX labels or .npz labels)")
        if len(test.class_names) != len(clf.classes):
            raise DataError(f"{data}: {len(test.class_names)} classes, the classifier has {len(clf.classes)}")
        x = test.images.float().div(127.5).sub(1.0)
        report = evaluate(clf, x, test.labels, attacks=attacks, eps=eps_list, purifier=pur, white_box=white_box,
                          pgd_steps=pgd_steps, seed=seed)
        typer.echo(table(report))
        if output is not None:
            write_json(output, report)
            typer.echo(f"wrote {output}")


@train_app.command("blend")
def train_blend(
    data: str = typer.Option(..., "--data", help="Colour photos (folder, zip, ...): composites are made from them."),
    out: Path = typer.Option(..., "--out", help="Run folder to create."),
    size: int = typer.Option(64, help="Resolution of the blending network: 16, 32, 64 or 128."),
    steps: Optional[int] = typer.Option(None, help="Training steps (default 2000 when --minutes is not given)."),
    minutes: Optional[float] = typer.Option(None, help="Train for this many minutes."),
    batch: int = typer.Option(64, help="Batch size."),
    width: int = typer.Option(32, help="Base channel count."),
    limit: Optional[int] = typer.Option(None, help="Use only the first N photos."),
    threads: Optional[int] = typer.Option(None, help="CPU threads."),
    seed: int = typer.Option(0),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train the blending network of a GP-GAN class photo blender."""
    from .. import api

    if steps is None and minutes is None:
        steps = 2000
    with _user_errors():
        api.train("blend", out=out, overwrite=overwrite, progress=not quiet, data=data, size=size, steps=steps,
                  minutes=minutes, batch=batch, width=width, limit=limit, threads=threads, seed=seed)
        _print_outputs(out)


@app.command("blend")
def blend_images(
    src: Path = typer.Option(..., "--src", help="Foreground photo, the object already in place (same size as --dst)."),
    dst: Path = typer.Option(..., "--dst", help="Background photo."),
    mask: Path = typer.Option(..., "--mask", help="Mask image: white where --src is pasted."),
    output: Path = typer.Option(..., "-o", "--output", help="Blended image to write."),
    model: Optional[Path] = typer.Option(None, "--model", help="Blending model (run folder or file) for --method gp."),
    method: Optional[str] = typer.Option(None, "--method", help="gp (default with --model), poisson (default "
                                         "without) or copy."),
    beta: float = typer.Option(0.05, help="GP: weight of the network's low-frequency colour."),
    border: str = typer.Option("mask", help="GP: solve inside the mask with the background's border (mask) or "
                               "over the whole image as in the GP-GAN paper (image)."),
) -> None:
    """Paste an object from one photo into another so that it sits naturally (GP-GAN class blending)."""
    import numpy as np
    from PIL import Image

    from .. import load
    from ..imaging import media
    from ..tasks.blend import blend

    def read(path: Path, mode: str):
        try:
            with Image.open(path) as im:
                return np.asarray(im.convert(mode))
        except FileNotFoundError:
            raise GanforgeError(f"{path}: no such image") from None
        except (OSError, ValueError) as e:
            raise GanforgeError(f"{path}: not a readable image ({e})") from None

    with _user_errors():
        m = None
        if model is not None:
            m = load(model)
            if m.task != "blend":
                raise GanforgeError(f"{model}: a {m.task!r} model, not a blending model ('ganforge train blend')")
        method = method or ("gp" if m is not None else "poisson")
        out = blend(read(src, "RGB"), read(dst, "RGB"), read(mask, "L"), method=method, model=m, beta=beta,
                    border=border)
        media.save_image(output, out)
        typer.echo(f"wrote {output} ({method})")


# ---------------------------------------------------------------- new modalities: video, voxels, text-to-image
def _train_modality(task: str, out: Path, overwrite: bool, quiet: bool, dry_run: bool, **kwargs) -> None:
    if kwargs.get("steps") is None and kwargs.get("minutes") is None:
        kwargs["steps"] = 2000
    _train_task(task, out, overwrite, quiet, dry_run, kwargs)


@train_app.command("video")
def train_video(
    data: str = typer.Option("builtin:moving_digits", "--data", help="Folder of video files (.mp4 .avi .mov "
                             ".webm .gif), .npy (N, T, H, W[, C]), or builtin:moving_digits."),
    out: Path = typer.Option(..., "--out", help="Run folder to create."),
    context: int = typer.Option(4, help="Frames given."),
    predict: int = typer.Option(8, help="Frames to predict."),
    size: int = typer.Option(32, help="Frame side (multiple of 4)."),
    steps: Optional[int] = typer.Option(None, help="Training steps (default 2000 when --minutes is not given)."),
    minutes: Optional[float] = typer.Option(None, help="Train for this many minutes."),
    batch: int = typer.Option(32, help="Clips per step."),
    width: int = typer.Option(16, help="Base channel count."),
    recon_weight: float = typer.Option(100.0, help="Weight of the L1 loss to the true future."),
    adv_weight: float = typer.Option(1.0, help="Weight of the adversarial loss."),
    precision: str = typer.Option("auto", help="auto, bf16 or fp32."),
    threads: Optional[int] = typer.Option(None, help="CPU threads."),
    seed: int = typer.Option(0),
    eval_every: int = typer.Option(500, help="Held-out GIF and PSNR/SSIM every N steps."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate config and data, print the resolved config."),
) -> None:
    """Train a video predictor: given CONTEXT frames, predict the next PREDICT (apply it with 'ganforge apply')."""
    _train_modality("video", out, overwrite, quiet, dry_run, data=data, context=context, predict=predict, size=size,
                    steps=steps, minutes=minutes, batch=batch, width=width, recon_weight=recon_weight,
                    adv_weight=adv_weight, precision=precision, threads=threads, seed=seed, eval_every=eval_every)


@train_app.command("voxels")
def train_voxels(
    data: str = typer.Option("builtin:objects", "--data", help="Folder of .npy grids, .binvox files or meshes (.obj "
                             ".stl .off .ply; sub-folders = classes), or builtin:objects."),
    out: Path = typer.Option(..., "--out", help="Run folder to create."),
    resolution: int = typer.Option(32, help="Grid side: 32 or 64."),
    steps: Optional[int] = typer.Option(None, help="Training steps (default 2000 when --minutes is not given)."),
    minutes: Optional[float] = typer.Option(None, help="Train for this many minutes."),
    batch: int = typer.Option(32, help="Shapes per step."),
    width: int = typer.Option(16, help="Base channel count."),
    conditional: bool = typer.Option(True, "--conditional/--unconditional", help="Use class labels when present."),
    precision: str = typer.Option("auto", help="auto, bf16 or fp32."),
    threads: Optional[int] = typer.Option(None, help="CPU threads."),
    seed: int = typer.Option(0),
    eval_every: int = typer.Option(500, help="Write a preview of sample shapes every N steps."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate config and data, print the resolved config."),
) -> None:
    """Train a 3-D shape generator on voxel grids (3D-GAN); sample with 'ganforge sample RUN -o shapes.png'."""
    _train_modality("voxels", out, overwrite, quiet, dry_run, data=data, resolution=resolution, steps=steps,
                    minutes=minutes, batch=batch, width=width, conditional=conditional, precision=precision,
                    threads=threads, seed=seed, eval_every=eval_every)


@train_app.command("text2image")
def train_text2image(
    data: str = typer.Option("builtin:scenes", "--data", help="CSV with image,caption columns, a folder of images "
                             "with .txt caption files, or builtin:scenes (builtin:scenes?objects=1 is simpler)."),
    out: Path = typer.Option(..., "--out", help="Run folder to create."),
    size: int = typer.Option(32, help="Image side: 16, 32 or 64."),
    channels: int = typer.Option(3, help="1 (grey) or 3 (RGB)."),
    steps: Optional[int] = typer.Option(None, help="Training steps (default 2000 when --minutes is not given)."),
    minutes: Optional[float] = typer.Option(None, help="Train for this many minutes."),
    batch: int = typer.Option(32, help="Images per step."),
    width: int = typer.Option(32, help="Base channel count."),
    precision: str = typer.Option("auto", help="auto, bf16 or fp32."),
    threads: Optional[int] = typer.Option(None, help="CPU threads."),
    seed: int = typer.Option(0),
    eval_every: int = typer.Option(500, help="Write a grid of samples for training captions every N steps."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate config and data, print the resolved config."),
) -> None:
    """Train a text-to-image GAN (matching-aware, own text encoder); sample with 'ganforge sample RUN --text ...'."""
    _train_modality("text2image", out, overwrite, quiet, dry_run, data=data, size=size, channels=channels, steps=steps,
                    minutes=minutes, batch=batch, width=width, precision=precision, threads=threads, seed=seed,
                    eval_every=eval_every)


def _sample_voxels(m, n: int, label: Optional[str], seed: int, output: Optional[Path], out_dir: Optional[Path]) -> None:
    """-o shapes.png (preview) / shapes.npy (stack) / shape.obj|.stl|.glb (n = 1); --out-dir: .npy, .obj, .png each."""
    grids = m.sample(n, seed=seed, label=label)
    written = m.save(grids, output=output, out_dir=out_dir)
    typer.echo(f"wrote {len(grids)} shape(s): " + (", ".join(map(str, written)) if len(written) <= 3
                                                   else f"{len(written)} files"))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
