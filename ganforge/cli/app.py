"""The ``ganforge`` command. Every command calls the public API and prints; nothing more.

``ganforge train TASK`` is made from the task registry (cli/train.py); sample, apply, walk, info, resume and
the predictors' verbs take any model (cli/models.py); the commands here need no model or task. Errors meant
for the user are printed as one line (``--debug`` shows the traceback).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

from . import models
from .common import DynamicTyper, state, user_errors
from .train import train_app

app = DynamicTyper(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                   help="Train, sample and inspect GANs on your own data.")
app.add_typer(train_app, name="train")
for _name, _fn in models.COMMANDS.items():
    app.command(_name)(_fn)


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors."),
          verbose: bool = typer.Option(False, "--verbose", "-v", help="More log output.")) -> None:
    state["debug"] = debug
    from rich.console import Console
    from rich.logging import RichHandler
    # logs go to stderr: stdout is for what a command outputs (the JSON of --dry-run, a report's lines)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        handlers=[RichHandler(console=Console(stderr=True), show_path=False, show_time=False,
                                              markup=False)])
    for noisy in ("matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


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
    from ..metrics.report import compare_files

    with user_errors():
        typer.echo(compare_files(real, synth, output, kind=kind, target=target, holdout=holdout, types=types,
                                 seed=seed))


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

    with user_errors():
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
    with user_errors():
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

    with user_errors(), Progress(transient=True) as bar:
        task = bar.add_task("training features", total=None)
        kwargs = {k: v for k, v in dict(size=size, epochs=epochs, minutes=minutes, test_data=test_data,
                                        threads=threads).items() if v is not None}
        result = train_domain_features(data, out, seed=seed, progress=lambda done, total: bar.update(
            task, completed=done, total=total), **kwargs)
    typer.echo(f"wrote {result.path}  ({result})")


@app.command("augment")
def augment(
    out: Path = typer.Option(..., "--out", help="Folder to write: one subfolder per class, and manifest.csv."),
    per_class: int = typer.Option(..., "--per-class", help="Synthetic images to write for every class."),
    data: Optional[str] = typer.Option(None, "--data", help="The small labelled set: class subfolders, IDX with "
                                       "labels, a file,label CSV or a labelled .npz."),
    model: Optional[Path] = typer.Option(None, "--model", help="A trained conditional model to use instead."),
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
    check: bool = typer.Option(True, "--check/--no-check", help="Measure on held-out --data whether the images help."),
    holdout: float = typer.Option(0.2, help="--check: share of each class held out (at least one image)."),
    synthetic_weight: float = typer.Option(0.5, help="--check: weight of a synthetic batch against a real one."),
    check_steps: int = typer.Option(500, help="--check: classifier steps, for each of its two classifiers."),
    precision: str = typer.Option("auto", help="auto, bf16, fp32 or fp16 (CUDA)."),
    threads: Optional[int] = typer.Option(None, help="CPU threads."),
    seed: int = typer.Option(0, help="Seed of the training run and of the images' seeds."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace what is in --out (and the run)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Augment a small labelled set: train a class-conditional GAN, write N images per class, check they help."""
    from ..recipes.synthetic_sets import augment_dataset

    train = {}
    if model is None:
        steps = 2000 if steps is None and minutes is None else steps
        train = {k: v for k, v in dict(size=size, steps=steps, minutes=minutes, batch=batch, arch=arch, width=width,
                 cond_mode=cond_mode, channels=channels, precision=precision, threads=threads).items() if v is not None}
    with user_errors():
        result = augment_dataset(data, out, per_class=per_class, model=model, run=run, seed=seed,
                                 overwrite=overwrite, progress=not quiet, image_format=image_format,
                                 filter=filter_with, min_confidence=min_confidence, check=check, holdout=holdout,
                                 synthetic_weight=synthetic_weight, check_steps=check_steps, **train)
        typer.echo(f"wrote {result}\n{result.check_summary()}")


@app.command()
def studio(host: str = typer.Option("127.0.0.1", help="Address to bind; anything but loopback needs a token."),
           port: int = typer.Option(8765, help="Port."),
           workspace: Path = typer.Option(Path("studio-workspace"), help="Folder for the database, data sets and runs."),
           token: Optional[str] = typer.Option(None, help="Token every API call must carry (made and printed when "
                                                          "binding beyond loopback without one)."),
           workers: int = typer.Option(1, help="Training jobs that run at once (each in its own process)."),
           max_upload_mb: float = typer.Option(200.0, help="Largest upload accepted, in MiB.")) -> None:
    """Serve the web studio: upload data, train in worker processes, watch live, collect results."""
    with user_errors():
        try:
            from ..studio import serve
        except ImportError as e:
            typer.secho(f"error: the studio needs its extra ({e.name} is missing): pip install 'ganforge[studio]'",
                        fg="red", err=True)
            raise typer.Exit(1)
        serve(host=host, port=port, workspace=workspace, token=token, workers=workers, max_upload_mb=max_upload_mb)


@app.command("import")
def import_weights(weights: Path = typer.Argument(..., help="Another project's weight file (.pth .pt .pkl "
                                                  ".safetensors): Real-ESRGAN, pix2pix/CycleGAN, StyleGAN2 ..."),
                   output: Path = typer.Option(..., "-o", "--output", help="The ganforge model file to write."),
                   arch: Optional[str] = typer.Option(None, help="Force the architecture (default: detected from "
                                                      "the keys and shapes)."),
                   wdn: Optional[Path] = typer.Option(None, help="Real-ESRGAN general-x4v3: the -wdn weight file "
                                                      "to interpolate with (denoise strength)."),
                   denoise: Optional[float] = typer.Option(None, help="With --wdn: denoise strength 0..1.")) -> None:
    """Convert a weight file into a ganforge model file (every model command also takes the weight file itself)."""
    from .. import artifact, importers

    with user_errors():
        extra = {k: v for k, v in dict(wdn=str(wdn) if wdn else None, denoise=denoise).items() if v is not None}
        tensors, meta = importers.convert(weights, arch=arch, **extra)
        artifact.save(output, tensors, meta)
        typer.echo(f"wrote {output} ({meta['task']} model, {meta['imported']['arch']})")


app.generate = models.generate_verbs


def main() -> None:
    app()


if __name__ == "__main__":
    main()
