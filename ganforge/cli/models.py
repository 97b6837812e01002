"""Commands that take any trained model: sample, apply, walk, info, eval, resume, and the verbs predictors
declare (``ganforge score``, ``ganforge invert`` ...). They call the predictor contract and never ask
which task a model came from."""
from __future__ import annotations

import inspect
import json
import typing
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from typer.models import CommandInfo

from ..errors import ConfigError, GanforgeError
from .common import flags, make_command, print_outputs, user_errors

MODEL = typer.Argument(..., help="Model file or run folder.")


def _load(model: Path, device: str = "cpu"):
    from .. import api

    return api.load(model, device=device)


def sample(model: Path = MODEL,
           n: int = typer.Option(64, "--n", help="How many (images, rows, series, shapes)."),
           seed: int = typer.Option(0),
           output: Optional[Path] = typer.Option(None, "-o", "--output", help="One file: a grid image, a CSV of rows "
                                                 "... (the suffix picks the format the model offers)."),
           out_dir: Optional[Path] = typer.Option(None, "--out-dir", help="One file per sample in this folder."),
           nrow: Optional[int] = typer.Option(None, help="Images per grid row."),
           condition: Optional[str] = typer.Option(None, "--condition", "--class", "--label", "--where", "--text",
                                                   help="What every sample is conditioned on: a class (--class), "
                                                        "label (--label), table conditions such as \"sex=F,age>40\" "
                                                        "(--where) or a caption (--text); the model says which."),
           rows: Optional[int] = typer.Option(None, "--rows", help="The same as --n (kept for table models; "
                                              "deprecated, will go in the next release)."),
           psi: Optional[float] = typer.Option(None, "--psi", help="Truncation (models with a mapping network): "
                                               "1 none, smaller = closer to the average."),
           device: str = typer.Option("cpu")) -> None:
    """Make new samples with a trained model (images, table rows, series, 3-D shapes)."""
    with user_errors():
        if output is None and out_dir is None:
            raise GanforgeError("say where to write: -o FILE (e.g. grid.png, synth.csv) or --out-dir DIR")
        n = rows if rows is not None else n
        if n <= 0:
            raise GanforgeError(f"--n must be positive, got {n}")
        m = _load(model, device)
        extra = {"psi": psi} if psi is not None else {}
        m.check_sample_options(extra)
        if output is not None:
            m.check_sample_path(output)
        result = m.sample(n, seed=seed, condition=condition, **extra)
        written = []
        if output is not None:
            written += m.write_samples(result, output, nrow=nrow)
        if out_dir is not None:
            written += m.write_each(result, out_dir, prefix=f"{seed:04d}-")
        typer.echo(f"wrote {n} sample(s): " + (", ".join(map(str, written)) if len(written) <= 3
                                               else f"{len(written)} files under {out_dir}"))


def apply(model: Path = MODEL,
          input: Path = typer.Argument(..., help="An input file (image, video, .npy) or a folder of them."),
          output: Path = typer.Option(..., "-o", "--output", help="Output file, or folder for a folder input."),
          mask: Optional[Path] = typer.Option(None, "--mask", help="Inpainting: mask image (white = fill in), or a "
                                              "folder of masks named like the inputs."),
          compare: Optional[bool] = typer.Option(None, "--compare", help="Write input | output side by side."),
          tile: Optional[int] = typer.Option(None, "--tile", help="Tile side for large images (default 512)."),
          direction: Optional[str] = typer.Option(None, "--direction", help="Two-way models: AtoB or BtoA."),
          device: str = typer.Option("cpu", help="cpu or cuda."),
          quiet: bool = typer.Option(False, "--quiet", help="No progress bar.")) -> None:
    """Apply a trained model to an input or a folder (translation, restoration, saliency, video prediction)."""
    from rich.progress import Progress

    options = {k: v for k, v in dict(mask=mask, tile=tile, direction=direction, compare=compare).items()
               if v is not None}
    with user_errors(), Progress(transient=True, disable=quiet or not input.is_dir()) as bar:
        m = _load(model, device)
        job = bar.add_task("apply", total=None)
        written = m.apply_path(input, output, progress=lambda done, total: bar.update(job, completed=done,
                                                                                      total=total), **options)
    typer.echo(f"wrote {len(written)} file{'s' if len(written) != 1 else ''}" +
               (f": {written[0]}" if len(written) == 1 else f" under {output}"))


def walk(model: Path = MODEL,
         output: Path = typer.Option(Path("walk.gif"), "-o", "--output", help=".gif or .mp4"),
         seed: int = typer.Option(0),
         walks: Optional[int] = typer.Option(None, help="Walks shown side by side."),
         start: Optional[str] = typer.Option(None, "--from", help="Walk from this seed (or latent file) ..."),
         end: Optional[str] = typer.Option(None, "--to", help="... to this seed (or latent file from 'invert')."),
         frames: Optional[int] = typer.Option(None, help="With --from/--to: frames, both ends included."),
         fps: Optional[int] = typer.Option(None, help="With --from/--to: frames per second."),
         spherical: Optional[bool] = typer.Option(None, "--slerp/--lerp", help="Spherical or straight interpolation."),
         condition: Optional[str] = typer.Option(None, "--condition", "--class", help="The class along the walk."),
         psi: Optional[float] = typer.Option(None, "--psi", help="Truncation (models with a mapping network)."),
         space: Optional[str] = typer.Option(None, "--space", help="z or w: where to walk (models with a mapping "
                                             "network).")) -> None:
    """Animate a walk through the latent space: a looping walk of many samples, or between two seeds or
    inverted images (--from/--to)."""
    options = dict(walks=walks, start=start, end=end, frames=frames, fps=fps, condition=condition,
                   mode=None if spherical is None else ("slerp" if spherical else "lerp"))
    extra = {k: v for k, v in dict(psi=psi, space=space).items() if v is not None}
    with user_errors():
        m = _load(model)
        m.check_sample_options(extra)
        path = m.walk(output, seed=seed, **{k: v for k, v in options.items() if v is not None}, **extra)
        typer.echo(f"wrote {path}")


def info(model: Path = MODEL,
         as_json: bool = typer.Option(False, "--json", help="Print the full metadata as JSON.")) -> None:
    """Show what a model is: task, config, data fingerprint, metrics, steps done, what it can do."""
    from .. import artifact, importers
    from ..engine import checkpoint

    with user_errors():
        m = _load(model)
        meta = m.meta if importers.is_foreign(artifact.resolve(model)) else artifact.read_meta(model)
        if as_json:
            typer.echo(json.dumps(meta, indent=2, sort_keys=True))
            return
        data = meta.get("data", {})
        caps = m.capabilities()
        can = [a for a in ("sample", "apply", "walk") if caps[a]] + caps["verbs"]
        lines = [("task", meta.get("task")), ("ganforge", meta.get("ganforge_version")),
                 ("steps done", meta.get("step")), ("status", meta.get("status")),
                 ("training time", f"{meta.get('elapsed_s', 0) / 60:.1f} min"),
                 ("data", f"{data.get('source')}  ({_scalars(data, skip=('source', 'fingerprint'))})"),
                 ("fingerprint", data.get("fingerprint")),
                 ("options", _scalars(meta.get("options", {}), skip=("data", "types"))),
                 ("can", ", ".join(can))]
        if caps["conditions"]:
            lines.append(("conditions", ", ".join(map(str, caps["conditions"][:20]))))
        if meta.get("stopped_early"):
            lines.append(("stopped early", meta["stopped_early"]["reason"]))
        if isinstance(meta.get("choice"), dict) and meta["choice"].get("reason"):
            lines.append(("model choice", meta["choice"]["reason"]))
        if meta.get("privacy"):
            pv = meta["privacy"]
            lines.append(("privacy", f"({pv['epsilon']}, {pv['delta']:.2g})-DP, {pv['steps']} critic steps, "
                                     f"noise {pv['noise_multiplier']}, clip {pv['max_grad_norm']}"))
        if Path(model).is_dir():
            found = checkpoint.list_checkpoints(Path(model) / "checkpoints")
            lines.append(("checkpoints", ", ".join(str(s) for s, _ in found) or "none"))
        metrics = {k: v for k, v in meta.get("metrics", {}).items() if k.startswith(("loss/", "imgs"))}
        lines.append(("last metrics", "  ".join(f"{k}={v:.4g}" for k, v in metrics.items())))
        for key, value in lines:
            typer.echo(f"{key:<14} {value}")


def _scalars(fields: dict, skip: tuple[str, ...] = ()) -> str:
    """``key=value`` for the plain (number, text, bool) fields of a metadata dict."""
    return " ".join(f"{k}={v}" for k, v in fields.items()
                    if k not in skip and v is not None and isinstance(v, (int, float, str, bool)) and len(str(v)) < 40)


def resume(run: Path = typer.Argument(..., help="Run folder."),
           steps: Optional[int] = typer.Option(None, help="New total step budget."),
           minutes: Optional[float] = typer.Option(None, help="New total time budget."),
           quiet: bool = typer.Option(False, "--quiet")) -> None:
    """Continue a run from its newest checkpoint."""
    from .. import api

    with user_errors():
        api.resume(run, steps=steps, minutes=minutes, progress=not quiet)
        print_outputs(run)


# ------------------------------------------------------------------------------------------------ verbs
def _verb_table() -> dict[str, list[Callable]]:
    """Verb name -> the methods of every registered task's predictor that declare it."""
    from .. import tasks

    table: dict[str, list[Callable]] = {}
    for name in tasks.names():
        for verb, fn in tasks.get(name).Predictor.verbs().items():
            if fn not in table.setdefault(verb, []):
                table[verb].append(fn)
    return table


def _verb_parameter(p: inspect.Parameter, hint: Any, texts: dict[str, str]) -> inspect.Parameter:
    optional = typing.get_origin(hint) in (typing.Union, getattr(__import__("types"), "UnionType"))
    base = next((a for a in typing.get_args(hint) if a is not type(None)), hint) if optional else hint
    annotation = Optional[base] if optional or p.default is inspect.Parameter.empty else base
    names = flags(p.name)
    if base is bool:
        names = (f"{names[0]}/--no-{names[0][2:]}",)
    if p.default is not inspect.Parameter.empty:
        default = typer.Option(p.default, *names, help=texts.get(p.name, ""))
    elif p.kind is inspect.Parameter.KEYWORD_ONLY:  # keyword-only without a default: a required flag
        default = typer.Option(..., *names, help=texts.get(p.name, ""), show_default=False)
    else:  # positional without a default: an argument
        default = typer.Argument(..., help=texts.get(p.name, ""), show_default=False)
    return inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _verb_command(verb: str, fns: list[Callable]) -> CommandInfo:
    fn = fns[0]
    info = fn.__ganforge_verb__
    hints = typing.get_type_hints(fn)
    sig = list(inspect.signature(fn).parameters.values())[1:]
    texts = info["help"] if isinstance(info["help"], dict) else {}
    params = [_verb_parameter(p, hints.get(p.name, str), texts) for p in sig]
    required = info["model"] == "required"
    model_param = inspect.Parameter(
        "model", inspect.Parameter.KEYWORD_ONLY, annotation=Path if required else Optional[Path],
        default=MODEL if required else typer.Option(None, info["model_flag"], help="Model file or run folder."))
    device = inspect.Parameter("device", inspect.Parameter.KEYWORD_ONLY, annotation=str,
                               default=typer.Option("cpu", "--device", help="Where the model runs: cpu or cuda."))
    taken = {p.name for p in sig}

    def run(model: Path | None = None, **values: Any) -> None:
        device_name = values.pop("device") if "device" not in taken else values.get("device", "cpu")
        with user_errors():
            m = None
            if model is not None:
                m = _load(model, device_name)
                if verb not in m.verbs():
                    raise ConfigError(f"{model}: a {m.task!r} model cannot {verb}" + m.alternatives(verb))
            method = m.verbs()[verb] if m is not None else fn
            result = method(m, **values)
            if result:
                typer.echo(result)

    doc = inspect.getdoc(fn) or verb
    return CommandInfo(verb, callback=make_command(run, [model_param] + params + ([] if "device" in taken else [device]),
                                                   doc), help=doc)


def generate_verbs() -> list[CommandInfo]:
    return [_verb_command(verb, fns) for verb, fns in sorted(_verb_table().items())]


COMMANDS: dict[str, Callable] = {"sample": sample, "apply": apply, "walk": walk, "info": info, "resume": resume}
