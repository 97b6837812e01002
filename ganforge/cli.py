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

from .errors import GanforgeError

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
) -> None:
    """Train an image generator on your own images."""
    from . import api

    if steps is None and minutes is None:
        steps = 2000
    kwargs = dict(data=data, size=size, steps=steps, minutes=minutes, batch=batch, arch=arch, loss=loss,
                  augment=augment, r1_gamma=r1_gamma, z_dim=z_dim, width=width, lr_g=lr_g, lr_d=lr_d,
                  channels=channels, limit=limit, precision=precision, device=device, devices=devices,
                  threads=threads, compile=compile, seed=seed, eval_every=eval_every,
                  checkpoint_every=checkpoint_every, log_every=log_every, metrics=metrics, eval_n=eval_n,
                  features=features, weights=weights)
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
    checkpoint_every: int = typer.Option(500, help="Write a checkpoint every N steps."),
    log_every: int = typer.Option(50, help="Log losses every N steps."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate the table, print column types and config."),
) -> None:
    """Train a synthetic-data generator on a table (conditional tabular GAN)."""
    from . import api

    if steps is None and minutes is None:
        steps = 3000
    kwargs = dict(data=data, target=target, types=types, steps=steps, minutes=minutes, batch=batch, pac=pac,
                  z_dim=z_dim, max_levels=max_levels, lr_g=lr_g, lr_d=lr_d, precision=precision, device=device,
                  threads=threads, seed=seed, eval_every=eval_every, checkpoint_every=checkpoint_every,
                  log_every=log_every)
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
    from . import api

    if steps is None and minutes is None:
        steps = 2000
    with _user_errors():
        api.train("series", out=out, overwrite=overwrite, progress=not quiet, data=data, length=length, steps=steps,
                  minutes=minutes, batch=batch, hidden=hidden, precision=precision, threads=threads, seed=seed)
        _print_outputs(out)


@app.command()
def report(real: Path = typer.Argument(..., help="The real table (CSV/Parquet)."),
           synth: Path = typer.Argument(..., help="The synthetic table."),
           output: Path = typer.Option(Path("report.json"), "-o", "--output", help="report.json (or .html)."),
           target: Optional[str] = typer.Option(None, help="Column for train-synthetic-test-real utility."),
           holdout: Optional[Path] = typer.Option(None, help="Real rows the generator never saw (default: 20% "
                                                  "of REAL, stated in the report)."),
           types: Optional[str] = typer.Option(None, help="Override inferred types, as for train table."),
           seed: int = typer.Option(0)) -> None:
    """Fidelity, detection, utility and privacy of a synthetic table against the real one."""
    from .data.tables import read_table
    from .metrics.tabular import report as table_report, write_report

    with _user_errors():
        r, s = read_table(real), read_table(synth)
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
    from . import api

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
           text: Optional[str] = typer.Option(None, "--text", help="Text-to-image models: the caption of every "
                                              "image (default: captions from the training data).")) -> None:
    """Generate images (or, from a table model, rows: --rows N -o synth.csv) from a trained model."""
    from . import load, media

    with _user_errors():
        if output is None and out_dir is None:
            raise GanforgeError("say where to write: -o grid.png or --out-dir DIR")
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
        if m.task == "text2image":
            images = m.sample(n, seed=seed, text=text)
        elif text is not None:
            raise GanforgeError(f"--text applies to text2image models; this is a {m.task!r} model")
        else:
            images = m.sample(n, seed=seed)
        if output is not None:
            media.save_image(output, media.grid(images, nrow=nrow))
            typer.echo(f"wrote {output}")
        if out_dir is not None:
            for i, im in enumerate(images):
                media.save_image(Path(out_dir) / f"{seed:04d}-{i:05d}.png", im)
            typer.echo(f"wrote {len(images)} images to {out_dir}")


def _sample_table(m, rows: Optional[int], where: Optional[str], seed: int, output: Optional[Path]) -> None:
    from .data.tables import write_table

    if output is None:
        raise GanforgeError("say where to write the rows: -o synth.csv (or .parquet)")
    if rows is None or rows <= 0:
        raise GanforgeError("say how many rows: --rows N (a positive number)")
    df = m.sample(rows, where=where, seed=seed)
    write_table(df, output)
    typer.echo(f"wrote {len(df)} rows x {df.shape[1]} columns to {output}")


def _sample_series(m, n: int, label: Optional[str], seed: int, output: Optional[Path]) -> None:
    from .data.tables import write_table

    if output is None:
        raise GanforgeError("say where to write the series: -o synth.csv (long format) or synth.npy")
    if output.suffix == ".npy":
        import numpy as np
        from .fileio import atomic_path
        x, _, _ = m.sample(n, label=label, seed=seed)
        with atomic_path(output) as tmp:
            np.save(tmp, x)
    else:
        write_table(m.sample_frame(n, label=label, seed=seed), output)
    typer.echo(f"wrote {n} series to {output}")


@app.command()
def walk(model: Path = typer.Argument(..., help="Model file or run folder."),
         output: Path = typer.Option(Path("walk.gif"), "-o", "--output", help=".gif or .mp4"),
         seed: int = typer.Option(0), walks: int = typer.Option(16, help="Walks shown side by side.")) -> None:
    """Animate a looping walk through the latent space."""
    from . import load

    with _user_errors():
        typer.echo(f"wrote {load(model).walk(output, seed=seed, walks=walks)}")


@app.command()
def info(model: Path = typer.Argument(..., help="Model file or run folder."),
         as_json: bool = typer.Option(False, "--json", help="Print the full metadata as JSON.")) -> None:
    """Show what a model is: task, config, data fingerprint, metrics, steps done."""
    from . import artifact
    from .engine import checkpoint

    with _user_errors():
        meta = artifact.read_meta(model)
        if as_json:
            typer.echo(json.dumps(meta, indent=2, sort_keys=True))
            return
        data = meta.get("data", {})
        opts = meta.get("options", {})
        lines = [("task", meta.get("task")), ("ganforge", meta.get("ganforge_version")),
                 ("steps done", meta.get("step")), ("status", meta.get("status")),
                 ("training time", f"{meta.get('elapsed_s', 0) / 60:.1f} min"),
                 ("data", f"{data.get('source')}  ({data.get('n')} images, {data.get('size')}px, "
                          f"{data.get('channels')} ch)"),
                 ("fingerprint", data.get("fingerprint")),
                 ("network", f"{opts.get('arch')}  z={opts.get('z_dim')} width={opts.get('width')} "
                             f"loss={opts.get('loss')} augment={opts.get('augment')}")]
        run_dir = Path(model) if Path(model).is_dir() else None
        if run_dir is not None:
            found = checkpoint.list_checkpoints(run_dir / "checkpoints")
            lines.append(("checkpoints", ", ".join(str(s) for s, _ in found) or "none"))
        metrics = {k: v for k, v in meta.get("metrics", {}).items() if k.startswith(("loss/", "imgs"))}
        lines.append(("last metrics", "  ".join(f"{k}={v:.4g}" for k, v in metrics.items())))
        for key, value in lines:
            typer.echo(f"{key:<14} {value}")


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
    from .metrics.evaluate import evaluate, save_report, table

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
    metrics: str = typer.Option("fid,kid,pr", help="Comma list of fid, kid, pr, dc, is, memorization."),
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
    from . import load

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
    metrics: str = typer.Option("fid,kid,pr", help="Comma list of fid, kid, pr, dc, is, memorization."),
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
    data: str = typer.Option(..., "--data", help="Real images; labelled data trains a classifier."),
    out: Path = typer.Option(..., "--out", help="Feature file to write (.safetensors)."),
    size: Optional[int] = typer.Option(None, help="Input side (default: from the data, at most 64)."),
    epochs: Optional[int] = typer.Option(None, help="Training epochs (default: by data size)."),
) -> None:
    """Train a domain feature network on real data, for --features PATH."""
    from .metrics.features import train_domain_features

    with _user_errors():
        kwargs = {k: v for k, v in dict(size=size, epochs=epochs).items() if v is not None}
        result = train_domain_features(data, out, **kwargs)
        typer.echo(f"wrote {out}" + (f"  ({result})" if result else ""))


# ---------------------------------------------------------------- new modalities: video, voxels, text-to-image
def _train_modality(task: str, out: Path, overwrite: bool, quiet: bool, dry_run: bool, **kwargs) -> None:
    from . import api

    if kwargs.get("steps") is None and kwargs.get("minutes") is None:
        kwargs["steps"] = 2000
    with _user_errors():
        if dry_run:
            typer.echo(json.dumps(api.train(task, out=out, dry_run=True, **kwargs), indent=2))
            return
        api.train(task, out=out, overwrite=overwrite, progress=not quiet, **kwargs)
        _print_outputs(out)


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
