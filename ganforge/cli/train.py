"""``ganforge train TASK``: one command per registered task, made from its Options and RunConfig fields.

Every field is a flag whose value is passed on only when given; the Python API resolves the rest
(RunConfig's defaults, the task's ``run_defaults``, ``--config``), so the command, ``ganforge.train`` and
the studio resolve the same run from the same inputs.
"""
from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Any, Optional

import typer
from typer.models import CommandInfo

from ..errors import ConfigError
from .common import DynamicTyper, field_parameter, make_command, parse_list, print_outputs, user_errors

train_app = DynamicTyper(no_args_is_help=True, help="Train a GAN. One subcommand per application.")

EXTRA = [
    ("config", Optional[Path], typer.Option(None, "--config", help="Start from a run's config.json (re-run it); "
                                           "flags given override it.")),
    ("dry_run", bool, typer.Option(False, "--dry-run", help="Validate the config and data, print the resolved "
                                   "config.")),
    ("overwrite", bool, typer.Option(False, "--overwrite", help="Replace an existing run in --out.")),
    ("quiet", bool, typer.Option(False, "--quiet", help="No progress bar.")),
]


def task_fields(name: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the task's option fields, the run fields with the task's defaults) as plain descriptions."""
    from .. import tasks
    from ..config import RunConfig, describe_fields

    cls = tasks.get(name)
    return describe_fields(cls.Options), describe_fields(RunConfig, defaults=cls.run_defaults)


def _command(name: str) -> CommandInfo:
    from .. import tasks

    cls = tasks.get(name)
    option_fields, run_fields = task_fields(name)
    names = {f["name"]: f for f in option_fields + run_fields}
    params = []
    if "data" in names:
        params.append(inspect.Parameter("data_arg", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str],
                                        default=typer.Argument(None, metavar="DATA", show_default=False,
                                                               help="The data (the same as --data).")))
    params += [field_parameter(f, "Task options") for f in option_fields]
    params += [field_parameter(f, "Training run") for f in run_fields]
    params += [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=t, default=d) for n, t, d in EXTRA]

    def run(data_arg: str | None = None, config: Path | None = None, dry_run: bool = False, overwrite: bool = False,
            quiet: bool = False, **values: Any) -> None:
        from .. import api

        kwargs = {k: v for k, v in values.items() if v is not None}
        for k, v in kwargs.items():
            if names[k]["type"] == "list":
                kwargs[k] = parse_list(v)
        with user_errors():
            if data_arg is not None:
                if "data" in kwargs:
                    raise ConfigError("give the data once: as an argument or as --data")
                kwargs["data"] = data_arg
            if dry_run:
                typer.echo(json.dumps(api.train(name, config=config, dry_run=True, **kwargs), indent=2, default=str))
                return
            model = api.train(name, config=config, overwrite=overwrite, progress=not quiet, **kwargs)
            if int(os.environ.get("RANK", "0")) == 0:
                print_outputs(Path(model.meta["config"]["run"]["out"]))

    doc = (inspect.getdoc(inspect.getmodule(cls)) or name).split("\n\n")[0].replace("\n", " ")
    return CommandInfo(name, callback=make_command(run, params, doc), help=doc,
                       context_settings={"max_content_width": 120})


def _generate() -> list[CommandInfo]:
    from .. import tasks

    return [_command(name) for name in tasks.names()]


train_app.generate = _generate
