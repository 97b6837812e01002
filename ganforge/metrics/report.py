"""One report for synthetic data files: a table's fidelity, detection, utility and privacy, or the
TimeGAN scores of synthetic series; which one is chosen from the files unless ``kind`` says."""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, GanforgeError

KINDS = ("auto", "table", "series")


def compare_files(real: str | Path, synth: str | Path, output: str | Path, *, kind: str = "auto",
                  target: str | None = None, holdout: str | Path | None = None, types: str | None = None,
                  seed: int = 0) -> str:
    """Score ``synth`` against ``real``, write the report (.json, or .html with pictures) to ``output`` and
    return a two-line summary."""
    from ..data.tables import read_table

    real, synth = Path(real), Path(synth)
    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    r = None
    if kind == "auto":
        r = None if real.suffix in (".npy", ".npz") else read_table(real)
        kind = "series" if r is None or {"series_id", "time"} <= set(r.columns) else "table"
    if kind == "series":
        from .series import report_files, write_report as write_series_report

        try:
            result, r_arr, s_arr = report_files(str(real), str(synth), seed=seed)
        except ValueError as e:
            raise GanforgeError(str(e)) from None
        return (f"discriminative {result['discriminative_score']:.3f}  predictive "
                f"{result['predictive_score']['synthetic']:.4f} (real {result['predictive_score']['real']:.4f})"
                f"  autocorrelation gap {result['autocorrelation_gap']:.4f}\n"
                f"wrote {write_series_report(result, output, r_arr, s_arr)}")
    from .tabular import report as table_report, write_report

    r, s = (r if r is not None else read_table(real)), read_table(synth)
    result = table_report(r, s, target=target, types=types, seed=seed, holdout=read_table(holdout) if holdout else None)
    q = result["sdmetrics_quality"]
    return (f"fidelity {result['fidelity']['score']:.3f} (holdout {result['fidelity_of_holdout']:.3f})  "
            f"SDMetrics-compatible quality {q['overall']:.3f} (holdout {result['sdmetrics_quality_of_holdout']:.3f})  "
            f"detection {result['detection']['score']:.3f}  "
            f"exact copies {result['privacy']['exact_copy_rate']['synthetic']:.2%}\n"
            f"wrote {write_report(result, output, real=r, synth=s)}")
