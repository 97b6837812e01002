"""What every command shares: one-line errors, and commands made from field descriptions at run time."""
from __future__ import annotations

import contextlib
import inspect
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from typer.models import CommandInfo

from ..errors import GanforgeError

state = {"debug": False}

# parameters whose flag is not ``--<name-with-dashes>``
FLAG_NAMES = {"output": ("-o", "--output"), "cls": ("--class",), "n": ("--n",)}
TYPES = {"int": int, "float": float, "bool": bool, "str": str, "list": str, "any": str}


@contextlib.contextmanager
def user_errors():
    """A GanforgeError becomes one red line and exit code 1 (``--debug`` shows the traceback)."""
    try:
        yield
    except GanforgeError as e:
        if state["debug"]:
            raise
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        raise typer.Exit(130)


def flags(name: str, aliases: list[str] | tuple[str, ...] = ()) -> tuple[str, ...]:
    return tuple(FLAG_NAMES.get(name, ("--" + name.replace("_", "-"),))) + tuple(aliases)


class DynamicTyper(typer.Typer):
    """A Typer whose generated commands are made anew from the registries each time the command line is
    built, so a task or verb registered at any time (even inside a test file) is a command at once.
    ``generate`` (set after the static commands are registered) returns ``CommandInfo``s."""

    generate: Callable[[], list[CommandInfo]] | None = None

    @property
    def registered_commands(self) -> list[CommandInfo]:
        commands = self.__dict__.setdefault("_commands", [])
        if self.generate is not None:
            commands[:] = [c for c in commands if not getattr(c, "generated", False)]
            for info in self.generate():
                info.generated = True
                commands.append(info)
        return commands

    @registered_commands.setter
    def registered_commands(self, value: list[CommandInfo]) -> None:
        self.__dict__["_commands"] = value


def field_parameter(field: dict[str, Any], panel: str | None = None) -> inspect.Parameter:
    """A Typer option for a described config field; its value is None unless given (defaults are resolved
    by the API, one place for all front doors)."""
    kind = field["type"]
    names = flags(field["name"], field.get("aliases", ()))
    if kind == "bool":
        names = (f"{names[0]}/--no-{names[0][2:]}",) + names[1:]
    text = field["help"]
    choices = [str(c) for c in field.get("choices") or ()]
    if choices and not all(c in text for c in choices):
        text += f" One of: {', '.join(choices)}."
    if kind == "list":
        text += " Comma list."
    shown = field["default"]
    if shown is not None and shown != "":
        text += f" (default: {','.join(map(str, shown)) if isinstance(shown, list) else shown})"
    return inspect.Parameter(field["name"], inspect.Parameter.KEYWORD_ONLY,
                             default=typer.Option(None, *names, help=text.strip(), show_default=False,
                                                  rich_help_panel=panel),
                             annotation=Optional[TYPES[kind]])


def make_command(fn: Callable[..., Any], params: list[inspect.Parameter], doc: str) -> Callable[..., Any]:
    """``fn(**values)`` as a command with the given parameters (Typer reads ``__signature__``)."""
    def command(**values: Any) -> Any:
        return fn(**values)
    command.__signature__ = inspect.Signature(params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = doc
    return command


def parse_list(text: str) -> list:
    """"64,64" -> [64, 64]; numbers where they parse, else strings."""
    out: list = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        for cast in (int, float):
            try:
                out.append(cast(part))
                break
            except ValueError:
                continue
        else:
            out.append(part)
    return out


def print_outputs(run_dir: Path) -> None:
    typer.echo(f"\nrun folder: {run_dir}")
    for name, what in [("model.safetensors", "model file"), ("samples", "sample grids"),
                       ("losses.png", "loss curves"), ("walk.gif", "latent walk"),
                       ("metrics.jsonl", "metrics log"), ("checkpoints", "checkpoints")]:
        if (run_dir / name).exists():
            typer.echo(f"  {what:<13} {run_dir / name}")
