"""The studio's web server: a REST API (described at /openapi.json, browsable at /docs), live updates
by server-sent events, and the static page in ``static/`` that uses only this API.

The server never trains: runs are jobs in the database, trained by worker processes that the
:class:`~ganforge.studio.jobs.Supervisor` starts. Blocking work (database, model inference,
validating uploads) runs in FastAPI's thread pool, so the event loop stays free.
"""
from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import logging
import os
import shutil
import tempfile
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Optional

from fastapi import Body, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from .. import tasks
from ..errors import GanforgeError
from . import catalog, datasets, results
from .jobs import LOG_FILE, Supervisor
from .store import ACTIVE, Store

log = logging.getLogger("ganforge.studio")
STATIC = Path(__file__).parent / "static"
TERMINAL = ("finished", "stopped", "interrupted", "failed")
DOWNLOAD_SKIP = ("checkpoints", "tensorboard")
MODEL_SUFFIXES = (".safetensors", ".pth", ".pt", ".pkl", ".ckpt", ".bin")


@dataclass
class Settings:
    workspace: Path = Path("studio-workspace")
    token: str | None = None             # required on every /api call when set
    workers: int = 1                     # training jobs at once
    limits: datasets.Limits = field(default_factory=datasets.Limits)
    poll_s: float = 0.3                  # supervisor poll interval
    events_s: float = 1.0                # server-sent events interval


def create_app(settings: Settings) -> FastAPI:
    ws = Path(settings.workspace).resolve()
    for sub in ("datasets", "runs", "tmp"):
        (ws / sub).mkdir(parents=True, exist_ok=True)
    store = Store(ws / "studio.db")
    supervisor = Supervisor(store, settings.workers, settings.poll_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        supervisor.start()
        try:
            yield
        finally:
            await run_in_threadpool(supervisor.shutdown)

    app = FastAPI(title="ganforge studio", version="1", lifespan=lifespan,
                  description="Train GANs on your own data, watch them learn, collect the results. "
                              "Every /api call needs the token (header `Authorization: Bearer T` or query "
                              "`?token=T`) when the server was started with one.")
    app.state.store, app.state.supervisor, app.state.settings, app.state.workspace = store, supervisor, settings, ws

    @app.middleware("http")
    async def check_token(request: Request, call_next):
        if settings.token and request.url.path.startswith("/api/"):
            given = request.query_params.get("token") or ""
            auth = request.headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                given = auth[7:].strip()
            given = request.headers.get("x-token", given)
            if not hmac.compare_digest(given.encode(), settings.token.encode()):
                return JSONResponse({"detail": "missing or wrong token"}, status_code=401)
        return await call_next(request)

    @app.exception_handler(GanforgeError)
    async def user_error(request: Request, exc: GanforgeError):
        return JSONResponse({"detail": str(exc)}, status_code=400)

    def _run_or_404(run_id: int) -> dict[str, Any]:
        run = store.run(run_id)
        if run is None:
            raise HTTPException(404, f"no run {run_id}")
        return run

    def _dataset_or_404(dataset_id: int) -> dict[str, Any]:
        d = store.dataset(dataset_id)
        if d is None:
            raise HTTPException(404, f"no data set {dataset_id}")
        return d

    def _in(folder: Path, rel: str) -> Path:
        """``rel`` inside ``folder``, or 404: no path leaves the folder."""
        p = PurePosixPath(rel)
        if p.is_absolute() or ".." in p.parts:
            raise HTTPException(404, "no such file")
        target = (folder / p).resolve()
        if folder.resolve() not in target.parents or not target.is_file():
            raise HTTPException(404, "no such file")
        return target

    # ------------------------------------------------------------------ applications
    @app.get("/api/health", tags=["studio"])
    def health() -> dict[str, Any]:
        """Liveness, version and the job queue's size."""
        from ..version import __version__
        queued = store.one("SELECT COUNT(*) AS n FROM jobs WHERE state='queued'")["n"]
        running = store.one("SELECT COUNT(*) AS n FROM jobs WHERE state IN ('running','stopping')")["n"]
        return {"ok": True, "version": __version__, "workers": settings.workers, "queued": queued, "running": running}

    @app.get("/api/tasks", tags=["applications"])
    def list_tasks() -> list[dict[str, Any]]:
        """Every registered application: option fields (type, default, help), data kind and presets."""
        return catalog.catalog()

    # ------------------------------------------------------------------ data sets
    @app.get("/api/datasets", tags=["data sets"])
    def list_datasets() -> list[dict[str, Any]]:
        return store.datasets()

    @app.get("/api/datasets/builtins", tags=["data sets"])
    def list_builtins() -> dict[str, str]:
        """Built-in data sets and their kinds."""
        return datasets.BUILTINS

    @app.post("/api/datasets/builtin", tags=["data sets"], status_code=201)
    def add_builtin(source: str = Body(..., embed=True), name: Optional[str] = Body(None, embed=True)
                    ) -> dict[str, Any]:
        """Add a built-in data set (``builtin:digits``, ``builtin:shapes``, ``builtin:sines``)."""
        folder = ws / "datasets" / f"b-{time.time_ns()}"
        try:
            kind, summary = datasets.from_builtin(source, folder)
        except BaseException:
            datasets.remove(folder)
            raise
        dataset_id = store.add_dataset(name or source, kind, source, dict(summary, folder=folder.name))
        return store.dataset(dataset_id)

    @app.post("/api/datasets", tags=["data sets"], status_code=201, openapi_extra={"requestBody": _UPLOAD_BODY})
    async def upload_dataset(request: Request,
                             kind: Optional[str] = Query(None, description="images | pairs | table | series"),
                             filename: Optional[str] = Query(None, description="the file's name (.zip or .csv)"),
                             name: Optional[str] = Query(None)) -> dict[str, Any]:
        """Upload a data set: the raw request body with ``?kind=&filename=``, or a multipart form with a
        ``file`` part (and ``kind``, ``name`` fields): a .zip of images or pairs, or a .csv.

        The body is streamed into the workspace and refused past the size limit (413). The server
        unpacks and validates it and answers with a summary; unsafe archives are refused (400).
        """
        up = await _receive(request, ws / "tmp", settings.limits.upload_bytes)
        try:
            kind, name = kind or up.fields.get("kind"), name or up.fields.get("name")
            filename, size, tmp = filename or up.filename, up.size, up.path
            if kind not in datasets.KINDS:
                raise HTTPException(400, f"kind must be one of {', '.join(datasets.KINDS)}")
            if not filename:
                raise HTTPException(400, "give the file's name (?filename=, or a multipart file part)")
            if size == 0:
                raise HTTPException(400, "empty upload")
            folder = ws / "datasets" / f"u-{time.time_ns()}"
            try:
                source, summary = await run_in_threadpool(datasets.from_upload, tmp, filename, kind, folder,
                                                          settings.limits)
            except BaseException:
                datasets.remove(folder)
                raise
            summary = dict(summary, folder=folder.name, filename=PurePosixPath(filename).name, bytes=size)
            dataset_id = store.add_dataset(name or PurePosixPath(filename).name, kind, source, summary)
            return store.dataset(dataset_id)
        finally:
            up.path.unlink(missing_ok=True)

    @app.get("/api/datasets/{dataset_id}", tags=["data sets"])
    def get_dataset(dataset_id: int) -> dict[str, Any]:
        return _dataset_or_404(dataset_id)

    @app.get("/api/datasets/{dataset_id}/preview.png", tags=["data sets"], response_class=FileResponse)
    def dataset_preview(dataset_id: int):
        d = _dataset_or_404(dataset_id)
        return FileResponse(_in(ws / "datasets" / d["summary"]["folder"], "preview.png"), media_type="image/png")

    @app.delete("/api/datasets/{dataset_id}", tags=["data sets"])
    def delete_dataset(dataset_id: int) -> dict[str, Any]:
        d = _dataset_or_404(dataset_id)
        used = store.one("SELECT COUNT(*) AS n FROM runs WHERE dataset_id=? AND status IN ('queued','running',"
                         "'stopping')", (dataset_id,))["n"]
        if used:
            raise HTTPException(409, "a run that uses this data set is active; stop it first")
        store.delete_dataset(dataset_id)
        datasets.remove(ws / "datasets" / d["summary"]["folder"])
        return {"deleted": dataset_id}

    # ------------------------------------------------------------------ runs
    @app.get("/api/runs", tags=["runs"])
    def list_runs() -> list[dict[str, Any]]:
        return [_public_run(r) for r in store.runs()]

    def _data_options(ds: dict[str, Any]) -> dict[str, Any]:
        """The task options that name a data set: ``data``, or for pairs ``pairs`` (side by side) / ``a``, ``b``."""
        if ds["kind"] != "pairs":
            return {"data": ds["source"]}
        summary = ds["summary"]
        if summary.get("a_dir"):
            return {"a": summary["a_dir"], "b": summary["b_dir"]}
        return {"pairs": ds["source"]}

    @app.post("/api/runs", tags=["runs"], status_code=201)
    def create_run(task: str = Body(...), dataset_id: Optional[int] = Body(None), data: Optional[str] = Body(None),
                   preset: str = Body("fast"), options: dict[str, Any] = Body({}), name: Optional[str] = Body(None),
                   dry_run: bool = Body(False)) -> dict[str, Any]:
        """Queue a training run: ``task`` from /api/tasks, a data set (``dataset_id``, or a ``data`` source
        string for tasks without a data kind), a preset (``custom``: the task's own defaults), and option
        values that override the preset. With ``dry_run`` nothing is queued: the resolved config is returned
        (the same as ``ganforge train TASK --dry-run`` and ``ganforge.train(..., dry_run=True)``)."""
        from .. import api

        cls = tasks.get(task)
        if preset not in catalog.PRESETS:
            raise HTTPException(400, f"preset must be one of {', '.join(catalog.PRESETS)}")
        task_fields = {f.name for f in dataclasses.fields(cls.Options)}
        params: dict[str, Any] = catalog.preset_values(preset, task_fields)
        params.update({k: v for k, v in options.items() if k not in ("out", "data")})
        ds = None
        if dataset_id is not None:
            ds = _dataset_or_404(dataset_id)
            if cls.data_kind and ds["kind"] != cls.data_kind:
                raise HTTPException(400, f"task {task!r} trains on a {cls.data_kind} data set; data set "
                                         f"{ds['name']!r} is {ds['kind']}")
            params.update(_data_options(ds))
        elif data:
            if not data.startswith("builtin:"):
                raise HTTPException(400, "data: give a dataset_id (uploads) or a builtin: source")
            params["data"] = data
        else:
            raise HTTPException(400, "give a dataset_id")
        if dry_run:
            return api.train(task, out=str(ws / "runs" / "dry-run"), dry_run=True, **params)
        run_cfg, opts = api.resolve(task, dict(params, out="x"))
        run_cfg.validate()
        opts.validate()
        run_id = store.add_run(name or f"{task} on {ds['name'] if ds else data}", task, dataset_id, preset, params,
                               lambda i: ws / "runs" / f"run-{i:04d}")
        return _public_run(store.run(run_id))

    @app.post("/api/models", tags=["runs"], status_code=201, openapi_extra={"requestBody": _MODEL_BODY})
    async def upload_model(request: Request,
                           filename: Optional[str] = Query(None, description="the file's name: "
                                                           + " ".join(MODEL_SUFFIXES)),
                           name: Optional[str] = Query(None, description="the run's name (default: the file's)")
                           ) -> dict[str, Any]:
        """Upload a model file as a finished run, with the same results page as a trained one: a ganforge
        ``model.safetensors``, or another project's weights that ``ganforge import`` reads (Real-ESRGAN ``.pth``,
        pix2pix/CycleGAN ``latest_net_G.pth``, StyleGAN2 ``.pkl``); no code in the file is run. The raw body
        with ``?filename=``, or a multipart form with a ``file`` part (and a ``name`` field). Files that are not
        such a model are refused (400)."""
        if filename:
            _model_suffix(filename)  # before reading the body
        up = await _receive(request, ws / "tmp", settings.limits.upload_bytes)
        src = staging = None
        try:
            filename, name = PurePosixPath(filename or up.filename or "").name, name or up.fields.get("name")
            if not filename:
                raise HTTPException(400, "give the file's name (?filename=, or a multipart file part)")
            src = up.path.with_suffix(_model_suffix(filename))
            os.replace(up.path, src)
            if up.size == 0:
                raise HTTPException(400, f"{filename}: empty upload")
            staging = Path(tempfile.mkdtemp(dir=ws / "tmp", prefix="model-"))
            meta = await run_in_threadpool(_import_model, src, filename, staging / "model.safetensors")

            def place(folder: Path) -> None:  # the run id is new, so whatever is there is an aborted earlier try's
                shutil.rmtree(folder, ignore_errors=True)
                os.replace(staging, folder)

            params = {"model_file": filename, **({"arch": meta["imported"]["arch"]} if "imported" in meta else {})}
            step = meta.get("step") if isinstance(meta.get("step"), int) else 0
            run_id = await run_in_threadpool(store.add_imported_run, name or filename, meta["task"], params,
                                             lambda i: ws / "runs" / f"run-{i:04d}", place, step)
            return _public_run(store.run(run_id))
        finally:
            up.path.unlink(missing_ok=True)
            if src is not None:
                src.unlink(missing_ok=True)
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)

    @app.get("/api/runs/{run_id}", tags=["runs"])
    def get_run(run_id: int) -> dict[str, Any]:
        """A run, its latest job (state, step, progress, imgs/s, ETA), latest sample and last metrics."""
        return _public_run(_run_or_404(run_id), detail=True)

    @app.post("/api/runs/{run_id}/stop", tags=["runs"])
    def stop_run(run_id: int) -> dict[str, Any]:
        """Stop a queued or running job; a running one saves a checkpoint first."""
        run = _run_or_404(run_id)
        if not run["job"] or run["job"]["state"] not in ("queued", "running"):
            raise HTTPException(409, f"run {run_id} is {run['status']}, not running")
        supervisor.stop(run["job"]["id"])
        return _public_run(store.run(run_id))

    @app.post("/api/runs/{run_id}/resume", tags=["runs"])
    def resume_run(run_id: int, steps: Optional[int] = Body(None, embed=True),
                   minutes: Optional[float] = Body(None, embed=True)) -> dict[str, Any]:
        """Queue a job that continues the run from its last checkpoint; ``steps`` / ``minutes`` set a new
        total budget (default: the run's own)."""
        run = _run_or_404(run_id)
        if run["status"] in ACTIVE:
            raise HTTPException(409, f"run {run_id} is {run['status']}")
        if run["job"] and run["job"]["kind"] == "import":
            raise HTTPException(409, f"run {run_id} is an uploaded model: it has no training to resume")
        if (steps is not None and steps < 1) or (minutes is not None and minutes <= 0):
            raise HTTPException(400, "steps and minutes must be positive")
        budget = {k: v for k, v in (("steps", steps), ("minutes", minutes)) if v is not None}
        if budget:
            budget = {"steps": steps, "minutes": minutes}
        store.enqueue_resume(run_id, budget or None)
        return _public_run(store.run(run_id))

    @app.delete("/api/runs/{run_id}", tags=["runs"])
    def delete_run(run_id: int) -> dict[str, Any]:
        """Stop the run if needed, then delete it and its folder."""
        run = _run_or_404(run_id)
        if run["job"] and run["job"]["state"] in ACTIVE:
            supervisor.kill_and_wait(run["job"]["id"])
        store.delete_run(run_id)
        results.forget(Path(run["folder"]))
        shutil.rmtree(run["folder"], ignore_errors=True)
        return {"deleted": run_id}

    @app.get("/api/runs/{run_id}/metrics", tags=["runs"])
    def run_metrics(run_id: int, since: int = 0) -> list[dict[str, Any]]:
        """Logged records (step, losses, imgs/s, evaluation scores); ``since`` = the last ``_id`` seen."""
        _run_or_404(run_id)
        return store.metrics(run_id, since)

    @app.get("/api/runs/{run_id}/log", tags=["runs"])
    def run_log(run_id: int, lines: int = Query(40, ge=1, le=2000)) -> dict[str, Any]:
        run = _run_or_404(run_id)
        return {"lines": _tail(Path(run["folder"]) / LOG_FILE, lines)}

    @app.get("/api/runs/{run_id}/events", tags=["runs"])
    async def run_events(run_id: int, request: Request):
        """Server-sent events: one ``update`` event per second with the job, new metric records, the
        latest sample grid and the log tail; the stream ends after the job has ended."""
        await run_in_threadpool(_run_or_404, run_id)

        async def stream():
            last_id, last_sample, last_log, ended = 0, None, None, 0
            while True:
                if await request.is_disconnected():
                    return
                run = await run_in_threadpool(store.run, run_id)
                if run is None:
                    yield "event: deleted\ndata: {}\n\n"
                    return
                new = await run_in_threadpool(store.metrics, run_id, last_id)
                if new:
                    last_id = new[-1]["_id"]
                sample = _latest_sample(Path(run["folder"]))
                logs = await run_in_threadpool(_tail, Path(run["folder"]) / LOG_FILE, 15)
                payload = {"run": _public_run(run), "metrics": new}
                if sample != last_sample:
                    payload["sample"], last_sample = sample, sample
                if logs != last_log:
                    payload["log"], last_log = logs, logs
                yield f"event: update\ndata: {json.dumps(payload)}\n\n"
                if run["status"] in TERMINAL:
                    ended += 1
                    if ended >= 2:  # one more round picks up files written at the very end
                        yield "event: end\ndata: {}\n\n"
                        return
                await asyncio.sleep(settings.events_s)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/api/runs/{run_id}/files", tags=["results"])
    def run_files(run_id: int) -> list[dict[str, Any]]:
        """Downloadable files of the run (model, grids, walks, curves, CSVs, metrics, config, log)."""
        folder = Path(_run_or_404(run_id)["folder"])
        out = []
        if folder.is_dir():
            for p in sorted(folder.rglob("*")):
                rel = p.relative_to(folder)
                if p.is_file() and rel.parts[0] not in DOWNLOAD_SKIP and not p.name.startswith("."):
                    out.append({"path": rel.as_posix(), "bytes": p.stat().st_size, "modified": p.stat().st_mtime})
        return out

    @app.get("/api/runs/{run_id}/files/{path:path}", tags=["results"], response_class=FileResponse)
    def run_file(run_id: int, path: str, download: bool = False):
        folder = Path(_run_or_404(run_id)["folder"])
        target = _in(folder, path)
        return FileResponse(target, filename=target.name if download else None,
                            headers={"Cache-Control": "no-cache"})

    @app.get("/api/runs/{run_id}/model", tags=["results"])
    def run_model(run_id: int) -> dict[str, Any]:
        """What the trained model can do (sample, classes, walk, rows with conditions, apply) and its info."""
        folder = Path(_run_or_404(run_id)["folder"])
        model = results.model_for(folder)
        caps = results.capabilities(model)
        caps["data"] = model.meta.get("data")
        caps["metrics"] = model.meta.get("metrics")
        return caps

    @app.post("/api/runs/{run_id}/generate", tags=["results"])
    def run_generate(run_id: int, n: int = Body(16), seed: int = Body(0), condition: Optional[str] = Body(None),
                     label: Optional[str] = Body(None)) -> dict[str, Any]:
        """Make ``n`` samples with ``seed`` and an optional ``condition`` (a class, a label, table conditions
        such as ``"sex=F,age>40"``, a caption: the model's ``condition_help`` says which); ``label`` is the old
        name of ``condition``. Returns the files written (a picture, a CSV ...) and the head of a CSV."""
        return results.generate(Path(_run_or_404(run_id)["folder"]), n, seed, condition if condition else label)

    @app.post("/api/runs/{run_id}/walk", tags=["results"])
    def run_walk(run_id: int, seed: int = Body(0), format: str = Body("gif")) -> dict[str, Any]:
        """Render a looping latent walk as GIF or MP4."""
        return results.walk(Path(_run_or_404(run_id)["folder"]), seed, format)

    @app.post("/api/runs/{run_id}/rows", tags=["results"], deprecated=True)
    def run_rows(run_id: int, rows: int = Body(100), seed: int = Body(0), where: Optional[str] = Body(None)
                 ) -> dict[str, Any]:
        """Sample table rows: the same as ``generate`` with ``n=rows, condition=where`` (kept for one release)."""
        return results.generate(Path(_run_or_404(run_id)["folder"]), rows, seed, where)

    @app.post("/api/runs/{run_id}/verbs/{verb}", tags=["results"])
    def run_verb(run_id: int, verb: str, values: dict[str, Any] = Body({})) -> dict[str, Any]:
        """Run one of the model's verbs (``verb_forms`` in ``GET /api/runs/{id}/model``) with its field values."""
        return results.run_verb(Path(_run_or_404(run_id)["folder"]), verb, values)

    @app.post("/api/runs/{run_id}/apply", tags=["results"])
    async def run_apply(run_id: int, request: Request, filename: str = Query("input.png")) -> dict[str, Any]:
        """Apply a model that maps inputs to outputs to one picture sent as the raw request body."""
        folder = Path((await run_in_threadpool(_run_or_404, run_id))["folder"])
        limit = min(settings.limits.upload_bytes, 50 * 2**20)
        data = b""
        async for chunk in request.stream():
            data += chunk
            if len(data) > limit:
                raise HTTPException(413, "picture too large")
        from ..data.images import is_image_name
        if not is_image_name(filename):
            raise HTTPException(400, f"{filename}: not an image file name")
        from PIL import Image
        import io
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.verify()
        except Exception:
            raise HTTPException(400, f"{filename}: not a readable image") from None
        target = folder / results.OUT / f"input-{time.time_ns()}{PurePosixPath(filename).suffix.lower()}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return await run_in_threadpool(results.apply, folder, target)

    # ------------------------------------------------------------------ the page
    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


# the upload handler reads the body itself (streamed, size-limited), so FastAPI cannot infer it: say it here
_RAW_UPLOAD = {"schema": {"type": "string", "format": "binary"}}
_UPLOAD_BODY = {
    "required": True,
    "description": "Either a multipart form with a `file` part (and optional `kind`, `name` fields), or the raw "
                   "file as the body with `?kind=&filename=` in the query.",
    "content": {
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary", "description": "a .zip or .csv"},
                           "kind": {"type": "string", "enum": list(datasets.KINDS)},
                           "name": {"type": "string"}}}},
        "application/zip": _RAW_UPLOAD,
        "text/csv": _RAW_UPLOAD,
        "application/octet-stream": _RAW_UPLOAD,
    },
}

_MODEL_BODY = {
    "required": True,
    "description": "Either a multipart form with a `file` part (and an optional `name` field), or the raw file as "
                   "the body with `?filename=` in the query.",
    "content": {
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary",
                                    "description": "a model file: " + " ".join(MODEL_SUFFIXES)},
                           "name": {"type": "string"}}}},
        "application/octet-stream": _RAW_UPLOAD,
    },
}


def _model_suffix(filename: str) -> str:
    suffix = PurePosixPath(filename).suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise HTTPException(400, f"{PurePosixPath(filename).name}: not a model file; give one of "
                                 f"{', '.join(MODEL_SUFFIXES)}")
    return suffix


def _import_model(src: Path, filename: str, out: Path) -> dict[str, Any]:
    """Write the ganforge model that ``src`` is, or that another project's weight file converts to, as ``out``;
    check it by loading it and return its metadata. Errors are one-line 400s that name ``filename``."""
    from .. import api, artifact, importers

    try:
        if importers.is_foreign(src):
            tensors, meta = importers.convert(src)
            meta = dict(meta, imported=dict(meta["imported"], **{"from": filename}))
            artifact.save(out, tensors, meta)
        else:
            shutil.copyfile(src, out)
        return dict(api.load(out).meta)
    except (GanforgeError, HTTPException) as e:
        text = str(e.detail if isinstance(e, HTTPException) else e)
    except Exception as e:  # an importer or predictor tripping on odd weights: still the file's fault
        log.warning("import of %s failed", filename, exc_info=True)
        text = f"{src}: cannot be read as a model ({type(e).__name__}: {e})"
    text = (text.strip().splitlines() or ["unreadable"])[0].replace(str(out), filename).replace(str(src), filename)
    raise HTTPException(400, text[:400])


class _Multipart:
    """A streaming multipart/form-data reader (python-multipart) that writes the ``file`` part to ``out``
    and keeps small text fields; its own spill files stay in the workspace's tmp folder."""

    def __init__(self, request: Request, tmp_dir: Path, out):
        try:
            from python_multipart import create_form_parser
        except ImportError:  # older releases were imported as "multipart"
            from multipart import create_form_parser
        self.out, self.fields, self.filename, self.size = out, {}, None, 0
        headers = {"Content-Type": request.headers["content-type"].encode()}
        self.files = []
        self.parser = create_form_parser(headers, self._field, self.files.append,
                                         config={"UPLOAD_DIR": str(tmp_dir), "MAX_MEMORY_FILE_SIZE": 4 * 2**20})

    def _field(self, field) -> None:
        name = (field.field_name or b"").decode(errors="replace")
        if name in ("kind", "name", "filename") and field.value is not None and len(field.value) < 1000:
            self.fields[name] = field.value.decode(errors="replace")

    def write(self, chunk: bytes) -> None:
        self.parser.write(chunk)

    def finish(self) -> None:
        self.parser.finalize()
        for file in self.files:
            try:
                if (file.field_name or b"") == b"file" and self.filename is None:
                    self.filename = (file.file_name or b"upload").decode(errors="replace")
                    fo = file.file_object
                    fo.seek(0)
                    shutil.copyfileobj(fo, self.out)
                    self.size = file.size
            finally:
                file.close()
        self.out.flush()
        if self.filename is None:
            raise HTTPException(400, "multipart upload without a 'file' part")


@dataclass
class _Upload:
    path: Path                      # the file, in the workspace's tmp folder; the caller removes it
    size: int
    filename: str | None = None     # a multipart file part's name
    fields: dict[str, str] = field(default_factory=dict)  # a multipart form's small text fields


async def _receive(request: Request, tmp_dir: Path, limit: int) -> _Upload:
    """Stream the request body (raw, or the ``file`` part of a multipart form) into a file in ``tmp_dir``,
    refused past ``limit`` bytes (413); on any error the file is removed."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise HTTPException(413, f"upload is {int(declared) / 2**20:.1f} MiB; the limit is {limit / 2**20:.1f} MiB")
    fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, suffix=".upload")
    up = _Upload(Path(tmp_name), 0)
    try:
        with os.fdopen(fd, "wb") as f:
            form = _Multipart(request, tmp_dir, f) if request.headers.get("content-type", "").startswith(
                "multipart/form-data") else None
            async for chunk in request.stream():
                up.size += len(chunk)
                if up.size > limit + (64 * 1024 if form else 0):
                    raise HTTPException(413, f"upload is larger than the limit of {limit / 2**20:.1f} MiB")
                if form:
                    form.write(chunk)
                else:
                    f.write(chunk)
            if form:
                form.finish()
                up.fields, up.filename, up.size = form.fields, form.filename, form.size
    except BaseException:
        up.path.unlink(missing_ok=True)
        raise
    return up


def _latest_sample(folder: Path) -> str | None:
    samples = folder / "samples"
    if not samples.is_dir():
        return None
    names = sorted(p.name for p in samples.glob("step-*.png"))
    return f"samples/{names[-1]}" if names else None


def _tail(path: Path, lines: int) -> list[str]:
    if not path.exists():
        return []
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 200 * lines))
        text = f.read().decode("utf-8", errors="replace")
    return text.splitlines()[-lines:]


def _public_run(run: dict[str, Any], detail: bool = False) -> dict[str, Any]:
    folder = Path(run["folder"])
    out = {k: run[k] for k in ("id", "name", "task", "dataset_id", "preset", "params", "status", "created")}
    job = run.get("job") or {}
    out["job"] = {k: job.get(k) for k in ("id", "kind", "state", "step", "progress", "imgs_per_s", "eta_s", "error",
                                          "started", "ended")} if job else None
    out["sample"] = _latest_sample(folder)
    out["has_model"] = (folder / "model.safetensors").is_file()
    if detail:
        out["config"] = None
        cfg = folder / "config.json"
        if cfg.is_file():
            try:
                out["config"] = json.loads(cfg.read_text())
            except (OSError, json.JSONDecodeError):
                pass
    return out
