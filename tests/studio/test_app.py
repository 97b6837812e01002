"""The studio's REST API through FastAPI's test client: every endpoint, the bad uploads, a tiny run."""
from __future__ import annotations

import io
import json
import stat
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from .conftest import TINY, image_zip, png_bytes, wait_for

from fastapi.testclient import TestClient  # noqa: E402

from ganforge.studio.app import Settings, create_app  # noqa: E402
from ganforge.studio.datasets import Limits  # noqa: E402


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    ws = tmp_path_factory.mktemp("studio") / "ws"
    app = create_app(Settings(workspace=ws, limits=Limits(upload_bytes=4 * 2**20, unpacked_bytes=16 * 2**20),
                              poll_s=0.1, events_s=0.2, workers=2))
    with TestClient(app) as c:
        c.ws = ws
        yield c


def _people_csv(seed: int, n: int) -> bytes:
    rng = np.random.default_rng(seed)
    lines = [f"{rng.integers(18, 80)},{rng.choice(['F', 'M'])},{rng.normal(50, 10):.2f}" for _ in range(n)]
    return ("age,sex,income\n" + "\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def queued(client):
    """Three tiny runs (image, table, series), queued at once so that worker start-ups overlap."""
    ids = {}
    ds = client.post("/api/datasets/builtin", json={"source": "builtin:digits"}).json()
    r = client.post("/api/runs", json={"task": "image", "dataset_id": ds["id"], "preset": "fast", "options": TINY})
    assert r.status_code == 201, r.text
    ids["image"] = r.json()["id"]
    d = upload(client, _people_csv(1, 200), "p.csv", "table").json()
    opts = {"steps": 10, "minutes": None, "batch": 50, "eval_every": 10, "checkpoint_every": 10, "log_every": 5,
            "gen_dims": [32], "dis_dims": [32], "eval_rows": 200, "threads": 1}
    ids["table"] = client.post("/api/runs", json={"task": "table", "dataset_id": d["id"], "options": opts}).json()["id"]
    d = client.post("/api/datasets/builtin", json={"source": "builtin:sines"}).json()
    opts = {"steps": 10, "minutes": None, "batch": 32, "eval_every": 10, "checkpoint_every": 10, "log_every": 5,
            "hidden": 8, "layers": 1, "threads": 1}
    ids["series"] = client.post("/api/runs", json={"task": "series", "dataset_id": d["id"], "options": opts}).json()["id"]
    return ids


def finished(client, run_id: int) -> dict:
    wait_for(lambda: client.get(f"/api/runs/{run_id}").json()["status"] in ("finished", "failed"), 150,
             what=f"run {run_id} to finish")
    run = client.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "finished", client.get(f"/api/runs/{run_id}/log?lines=50").json()
    return run


@pytest.fixture(scope="module")
def finished_run(client, queued):
    return finished(client, queued["image"])


def upload(client, data: bytes, filename: str, kind: str = "images", name: str | None = None):
    q = {"kind": kind, "filename": filename}
    if name:
        q["name"] = name
    return client.post("/api/datasets", params=q, content=data)


def leftovers(client) -> list[str]:
    return [p.name for p in (client.ws / "tmp").iterdir()]


# ------------------------------------------------------------------------------------------ applications
def test_health_and_index(client):
    h = client.get("/api/health").json()
    assert h["ok"] and h["workers"] == 2
    page = client.get("/")
    assert page.status_code == 200 and "ganforge studio" in page.text
    assert client.get("/static/app.js").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/api/runs/{run_id}/events" in spec["paths"] and "/api/datasets" in spec["paths"]


def test_openapi_documents_both_forms_of_the_upload_body(client):
    body = client.app.openapi()["paths"]["/api/datasets"]["post"]["requestBody"]
    content = body["content"]
    assert body["required"] and {"multipart/form-data", "application/zip", "application/octet-stream"} <= set(content)
    form = content["multipart/form-data"]["schema"]
    assert form["required"] == ["file"] and form["properties"]["file"]["format"] == "binary"
    assert set(form["properties"]["kind"]["enum"]) == {"images", "pairs", "table", "series"}
    assert content["application/zip"]["schema"]["format"] == "binary"
    query = {p["name"] for p in client.app.openapi()["paths"]["/api/datasets"]["post"]["parameters"]}
    assert {"kind", "filename", "name"} <= query    # the raw body's name and kind travel in the query


def test_tasks_come_from_the_registry(client):
    from dataclasses import dataclass

    from ganforge import tasks
    from ganforge.engine import AdversarialTask

    from ganforge.config import option

    @dataclass
    class Opts:
        data: str = option("", "what to learn from")
        strength: float = option(0.5, "how strong")
        name: str | None = option(None, "a name")

    class Dummy(AdversarialTask):  # no data_kind: the studio must cope
        Options = Opts

    tasks.register("zz-dummy")(Dummy)
    try:
        listed = {t["name"]: t for t in client.get("/api/tasks").json()}
    finally:
        tasks._TASKS.pop("zz-dummy")
    assert set(tasks.names()) <= set(listed)
    assert listed["image"]["data_kind"] == "images" and listed["table"]["data_kind"] == "table"
    assert listed["series"]["data_kind"] == "series"
    size = next(f for f in listed["image"]["fields"] if f["name"] == "size")
    assert size["type"] == "int" and size["default"] == 32
    assert not any(f["name"] == "data" for f in listed["image"]["fields"])
    dummy = listed["zz-dummy"]
    assert dummy["data_kind"] is None
    assert dummy["fields"][0] == {"name": "strength", "type": "float", "optional": False, "default": 0.5,
                                  "help": "how strong", "choices": None, "aliases": []}
    assert dummy["fields"][1]["optional"] is True
    assert set(dummy["presets"]) == {"fast", "balanced", "quality", "custom"}
    assert dummy["presets"]["custom"]["values"] == {}
    assert listed["image"]["presets"]["fast"]["values"]["width"] == 32
    steps = next(f for f in listed["image"]["run_fields"] if f["name"] == "steps")
    assert steps["optional"] and steps["type"] == "int"


# ------------------------------------------------------------------------------------------ data sets
def test_image_zip_with_classes_and_skipped_files(client):
    bad = {"pets/cats/broken.png": b"not a png at all", "pets/notes.txt": b"hello", "pets/dogs/run.sh": b"#!/bin/sh"}
    r = upload(client, image_zip(5, extra=bad), "pets.zip", name="pets")
    assert r.status_code == 201, r.text
    d = r.json()
    s = d["summary"]
    assert d["kind"] == "images" and d["name"] == "pets"
    assert s["count"] == 10 and s["classes"] == ["cats", "dogs"] and s["class_counts"] == {"cats": 5, "dogs": 5}
    assert s["sizes"] == {"20x20": 10}
    reasons = {n: r for n, r in s["skipped"]}
    assert set(reasons) == set(bad)
    assert "not an image" in reasons["pets/notes.txt"]
    assert reasons["pets/cats/broken.png"]  # the reader's own reason
    img = client.get(f"/api/datasets/{d['id']}/preview.png")
    assert img.status_code == 200 and img.content[:4] == b"\x89PNG"
    assert client.get(f"/api/datasets/{d['id']}").json()["id"] == d["id"]
    assert any(x["id"] == d["id"] for x in client.get("/api/datasets").json())
    # the files live inside the workspace, and the source is what a task's data option gets
    assert Path(d["source"]).resolve().is_relative_to(client.ws.resolve())


def _zip(members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in members:
            zf.writestr(info, data)
    return buf.getvalue()


def _symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


@pytest.mark.parametrize("members, message", [
    ([("../evil.png", png_bytes(1)), ("a/ok.png", png_bytes(2))], "zip slip"),
    ([("x/../../evil.png", png_bytes(1))], "zip slip"),
    ([("/tmp/evil.png", png_bytes(1))], "absolute"),
    ([("C:/evil.png", png_bytes(1))], "absolute"),
    ([_symlink("a/link.png", "/etc/passwd"), ("a/ok.png", png_bytes(2))], "symbolic link"),
    ([("bomb/zeros.png", bytes(8 * 2**20))], "zip bomb"),
])
def test_unsafe_zips_are_refused_and_nothing_is_written(client, members, message, tmp_path):
    before = sorted(p.name for p in (client.ws / "datasets").iterdir())
    r = upload(client, _zip(members), "bad.zip")
    assert r.status_code == 400, r.text
    assert message in r.json()["detail"]
    assert sorted(p.name for p in (client.ws / "datasets").iterdir()) == before
    assert not (client.ws / "evil.png").exists() and not (client.ws / "datasets" / "evil.png").exists()
    assert not Path("/tmp/evil.png").exists()
    assert leftovers(client) == []


def test_total_unpacked_size_and_upload_size_limits(client):
    limits = client.app.state.settings.limits
    old = (limits.unpacked_bytes, limits.upload_bytes)
    try:
        limits.unpacked_bytes = 100_000
        r = upload(client, _zip([(f"a/{i}.png", bytes(60_000)) for i in range(3)]), "big.zip")
        assert r.status_code == 400 and "unpacks to" in r.json()["detail"]
        limits.upload_bytes = 1000
        r = upload(client, image_zip(5), "pets.zip")
        assert r.status_code == 413 and "limit" in r.json()["detail"]
    finally:
        limits.unpacked_bytes, limits.upload_bytes = old
    assert leftovers(client) == []


@pytest.mark.parametrize("data, filename, kind, message", [
    (b"this is no zip", "x.zip", "images", "not a readable zip"),
    (_zip([("readme.txt", b"hello")]), "x.zip", "images", "no image files"),
    (image_zip(2), "x.tar", "images", "as a .zip"),
    (png_bytes(1), "table.csv", "table", "not a CSV"),
    (image_zip(2), "table.csv", "table", "not a CSV"),
    (b"just one line of words and no delimiter\nmore words\n", "t.csv", "table", "not a CSV"),
    (b"a,b\n1,2\n", "t.xlsx", "table", "upload a .csv"),
    (b"", "t.csv", "table", "empty upload"),
    (b"a,b\n", "t.csv", "table", "no rows"),
    (image_zip(2), "x.zip", "voxels", "kind must be one of"),
])
def test_bad_uploads_get_a_clear_message(client, data, filename, kind, message):
    r = upload(client, data, filename, kind)
    assert r.status_code == 400, r.text
    assert message in r.json()["detail"]
    assert leftovers(client) == []


def test_multipart_upload(client):
    r = client.post("/api/datasets", data={"kind": "images", "name": "multi"},
                    files={"file": ("pets.zip", image_zip(3), "application/zip")})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "multi" and r.json()["summary"]["count"] == 6
    assert r.json()["summary"]["filename"] == "pets.zip"
    r = client.post("/api/datasets", data={"kind": "images"}, files={"other": ("x.zip", image_zip(1))})
    assert r.status_code == 400 and "'file' part" in r.json()["detail"]
    assert leftovers(client) == []


def test_table_csv_and_builtins(client):
    r = upload(client, _people_csv(0, 120), "people.csv", "table")
    assert r.status_code == 201, r.text
    s = r.json()["summary"]
    assert s["count"] == 120 and [c["name"] for c in s["columns"]] == ["age", "sex", "income"]
    assert s["head"]["columns"] == ["age", "sex", "income"] and len(s["head"]["rows"]) == 8
    assert client.get("/api/datasets/builtins").json()["builtin:sines"] == "series"
    r = client.post("/api/datasets/builtin", json={"source": "builtin:sines"})
    assert r.status_code == 201 and r.json()["kind"] == "series" and r.json()["summary"]["length"] == 24
    r = client.post("/api/datasets/builtin", json={"source": "builtin:shapes"})
    assert r.status_code == 201 and r.json()["summary"]["count"] > 100
    assert client.post("/api/datasets/builtin", json={"source": "builtin:nope"}).status_code == 400


def test_pairs_side_by_side_and_two_folders(client):
    from PIL import Image

    def pair_png(seed):
        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(seed).integers(0, 255, (16, 32, 3), dtype=np.uint8)).save(buf, "PNG")
        return buf.getvalue()

    r = upload(client, _zip([(f"facades/{i}.png", pair_png(i)) for i in range(4)] + [("facades/sq.png", png_bytes(1))]),
               "facades.zip", "pairs")
    assert r.status_code == 201, r.text
    s = r.json()["summary"]
    assert s["count"] == 4 and s["layout"] == "side-by-side" and s["skipped_count"] == 1
    members = [(f"A/{i}.png", png_bytes(i)) for i in range(3)] + [(f"B/{i}.png", png_bytes(10 + i)) for i in range(3)]
    r = upload(client, _zip(members + [("B/extra.png", png_bytes(9))]), "ab.zip", "pairs")
    assert r.status_code == 201, r.text
    s = r.json()["summary"]
    assert s["count"] == 3 and s["layout"] == "two folders" and "no partner" in s["skipped"][0][1]
    assert client.get(f"/api/datasets/{r.json()['id']}/preview.png").status_code == 200
    # a translation run on the two-folder set reads A/ and B/; a table data set is refused for it
    opts = {"crop": 16, "width": 8, "batch": 2, "steps": 3, "minutes": None, "eval_every": 3, "checkpoint_every": 3,
            "threads": 1, "precision": "fp32"}
    clean = upload(client, _zip(members), "ab-clean.zip", "pairs").json()
    run = client.post("/api/runs", json={"task": "translate", "dataset_id": clean["id"], "options": opts})
    assert run.status_code == 201, run.text
    assert run.json()["params"]["a"].endswith("A") and run.json()["params"]["b"].endswith("B")
    assert finished(client, run.json()["id"])["has_model"]
    tasks = {t["name"]: t for t in client.get("/api/tasks").json()}
    assert tasks["translate"]["data_kind"] == "pairs" and tasks["restore"]["data_kind"] == "images"


def test_delete_dataset(client):
    d = upload(client, image_zip(2), "x.zip").json()
    folder = client.ws / "datasets" / d["summary"]["folder"]
    assert folder.is_dir()
    assert client.delete(f"/api/datasets/{d['id']}").json() == {"deleted": d["id"]}
    assert not folder.exists()
    assert client.get(f"/api/datasets/{d['id']}").status_code == 404
    assert client.delete(f"/api/datasets/{d['id']}").status_code == 404


# ------------------------------------------------------------------------------------------ runs
def test_bad_run_requests(client):
    digits = client.post("/api/datasets/builtin", json={"source": "builtin:digits"}).json()
    sines = client.post("/api/datasets/builtin", json={"source": "builtin:sines"}).json()
    cases = [
        ({"task": "nope", "dataset_id": digits["id"]}, "unknown task"),
        ({"task": "image", "dataset_id": sines["id"]}, "trains on a images data set"),
        ({"task": "image", "dataset_id": digits["id"], "preset": "turbo"}, "preset must be"),
        ({"task": "image", "dataset_id": digits["id"], "options": {"size": 17}}, "size must be one of"),
        ({"task": "image", "dataset_id": digits["id"], "options": {"colour": 1}}, "unknown option"),
        ({"task": "image", "dataset_id": digits["id"], "options": {"batch": "many"}}, "batch"),
        ({"task": "image"}, "give a dataset_id"),
        ({"task": "image", "data": "/etc/passwd"}, "builtin"),
    ]
    for body, message in cases:
        r = client.post("/api/runs", json=body)
        assert r.status_code == 400, (body, r.text)
        assert message in r.json()["detail"], (body, r.json())
    assert client.post("/api/runs", json={"task": "image", "dataset_id": 999}).status_code == 404
    for path in ("/api/runs/999", "/api/runs/999/metrics", "/api/runs/999/log", "/api/runs/999/files",
                 "/api/runs/999/events"):
        assert client.get(path).status_code == 404, path
    assert client.post("/api/runs/999/stop").status_code == 404
    assert client.delete("/api/runs/999").status_code == 404


def test_tiny_run_live_data(client, finished_run):
    run_id = finished_run["id"]
    run = client.get(f"/api/runs/{run_id}").json()
    assert run["job"]["step"] == TINY["steps"] and run["job"]["progress"] == 1.0 and run["has_model"]
    assert run["sample"] == f"samples/step-{TINY['steps']:06d}.png"
    assert run["config"]["options"]["size"] == 16
    metrics = client.get(f"/api/runs/{run_id}/metrics").json()
    assert [m["step"] for m in metrics] == list(range(5, TINY["steps"] + 1, 5))
    assert all("loss/G" in m and "loss/D" in m for m in metrics)
    assert client.get(f"/api/runs/{run_id}/metrics", params={"since": metrics[-2]["_id"]}).json() == metrics[-1:]
    log = client.get(f"/api/runs/{run_id}/log", params={"lines": 5}).json()["lines"]
    assert len(log) == 5 and "job finished" in log[-1]
    assert run_id in [r["id"] for r in client.get("/api/runs").json()]
    # server-sent events: updates, then the end of the stream once the job has ended
    with client.stream("GET", f"/api/runs/{run_id}/events") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    events = [block for block in text.split("\n\n") if block.strip()]
    assert events[0].startswith("event: update") and events[-1].startswith("event: end")
    first = json.loads(events[0].split("data: ", 1)[1])
    assert first["run"]["status"] == "finished" and len(first["metrics"]) == len(metrics)
    assert first["sample"] == run["sample"] and first["log"]


def test_files_and_downloads(client, finished_run):
    run_id = finished_run["id"]
    files = {f["path"] for f in client.get(f"/api/runs/{run_id}/files").json()}
    assert {"model.safetensors", "metrics.jsonl", "config.json", "losses.png", "walk.gif"} <= files
    assert not any(f.startswith("checkpoints/") for f in files)
    r = client.get(f"/api/runs/{run_id}/files/model.safetensors", params={"download": True})
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"] and len(r.content) > 1000
    assert client.get(f"/api/runs/{run_id}/files/samples/step-000010.png").content[:4] == b"\x89PNG"
    for bad in ("../studio.db", "..%2Fstudio.db", "%2Fetc%2Fpasswd", "samples/../../../studio.db", "nope.png"):
        r = client.get(f"/api/runs/{run_id}/files/{bad}")  # (clients may normalise the path first)
        assert r.status_code in (404, 422) and b"SQLite" not in r.content, bad


def test_model_generate_walk(client, finished_run):
    run_id = finished_run["id"]
    caps = client.get(f"/api/runs/{run_id}/model").json()
    assert caps["sample"] and caps["walk"] and not caps["apply"] and caps["conditions"] is None
    assert caps["task"] == "image" and {"invert", "edit", "directions"} <= set(caps["verbs"])
    # verbs whose fields the studio can fill are forms on the model page (the output file is the studio's)
    forms = {v["name"]: v for v in caps["verb_forms"]}
    assert "arithmetic" in forms and "invert" not in forms   # invert reads an image file: CLI and Python only
    assert [f["name"] for f in forms["arithmetic"]["fields"]] == ["a", "b", "c", "cls"]
    r = client.post(f"/api/runs/{run_id}/verbs/arithmetic", json={"a": "1,2", "b": "3", "c": "4-5"})
    assert r.status_code == 200, r.text
    assert r.json()["files"][0].endswith(".png") and "A - B + C" in r.json()["message"]
    r = client.post(f"/api/runs/{run_id}/verbs/invert", json={})
    assert r.status_code == 400 and "no verb 'invert' the studio can run" in r.json()["detail"]
    r = client.post(f"/api/runs/{run_id}/verbs/arithmetic", json={"a": "1", "b": "2", "c": "3", "zz": 1})
    assert r.status_code == 400 and "unknown field 'zz'" in r.json()["detail"]
    r = client.post(f"/api/runs/{run_id}/verbs/arithmetic", json={"a": "/etc/passwd", "b": "2", "c": "3"})
    assert r.status_code == 400 and "inside the studio's workspace" in r.json()["detail"]
    a = client.post(f"/api/runs/{run_id}/generate", json={"n": 9, "seed": 3}).json()
    b = client.post(f"/api/runs/{run_id}/generate", json={"n": 9, "seed": 3}).json()
    c = client.post(f"/api/runs/{run_id}/generate", json={"n": 9, "seed": 4}).json()
    get = lambda res: client.get(f"/api/runs/{run_id}/files/{res['files'][0]}").content  # noqa: E731
    assert get(a) == get(b) != get(c)
    from PIL import Image
    im = Image.open(io.BytesIO(get(a)))
    assert im.size[0] == im.size[1] > 3 * 16  # a 3 x 3 grid
    assert client.post(f"/api/runs/{run_id}/generate", json={"n": 0}).status_code == 400
    r = client.post(f"/api/runs/{run_id}/generate", json={"n": 4, "label": "3"})
    assert r.status_code == 400 and "no classes" in r.json()["detail"]
    gif = client.post(f"/api/runs/{run_id}/walk", json={"seed": 1, "format": "gif"}).json()
    assert client.get(f"/api/runs/{run_id}/files/{gif['files'][0]}").content[:3] == b"GIF"
    mp4 = client.post(f"/api/runs/{run_id}/walk", json={"seed": 1, "format": "mp4"}).json()
    assert client.get(f"/api/runs/{run_id}/files/{mp4['files'][0]}").content[4:8] == b"ftyp"
    assert client.post(f"/api/runs/{run_id}/walk", json={"format": "avi"}).status_code == 400
    r = client.post(f"/api/runs/{run_id}/apply", params={"filename": "x.png"}, content=png_bytes(1))
    assert r.status_code == 400 and "cannot be applied" in r.json()["detail"]


def test_apply_uses_the_models_apply(client, finished_run, monkeypatch):
    """A model that maps images to images (the predictor contract's ``apply_path``) runs on the upload."""
    from PIL import Image

    from ganforge.predict.image import ImageToImage
    from ganforge.studio import results

    class Inverter(ImageToImage):
        def _apply_array(self, a, **options):
            return 255 - a

    inverter = Inverter({}, {"task": "fake-i2i", "step": 1, "status": "finished", "options": {}})
    monkeypatch.setattr(results, "model_for", lambda folder: inverter)
    run_id = finished_run["id"]
    assert client.get(f"/api/runs/{run_id}/model").json()["apply"] is True
    r = client.post(f"/api/runs/{run_id}/apply", params={"filename": "in.png"}, content=png_bytes(5, colour=True))
    assert r.status_code == 200, r.text
    src, out = (client.get(f"/api/runs/{run_id}/files/{f}").content for f in r.json()["files"])
    a, b = np.asarray(Image.open(io.BytesIO(src))), np.asarray(Image.open(io.BytesIO(out)))
    assert (a.astype(int) + b == 255).all()
    bad = client.post(f"/api/runs/{run_id}/apply", params={"filename": "in.png"}, content=b"garbage")
    assert bad.status_code == 400 and "not a readable image" in bad.json()["detail"]
    bad = client.post(f"/api/runs/{run_id}/apply", params={"filename": "in.exe"}, content=png_bytes(1))
    assert bad.status_code == 400


def test_table_run_rows_with_conditions(client, queued):
    run_id = finished(client, queued["table"])["id"]
    caps = client.get(f"/api/runs/{run_id}/model").json()
    assert caps["sample"] and caps["sample_suffixes"][0] == ".csv" and not caps["walk"]
    r = client.post(f"/api/runs/{run_id}/rows", json={"rows": 50, "where": "sex=F", "seed": 2})
    assert r.status_code == 200, r.text
    head = r.json()["head"]
    assert head["columns"] == ["age", "sex", "income"] and {row[1] for row in head["rows"]} == {"F"}
    csv = client.get(f"/api/runs/{run_id}/files/{r.json()['files'][0]}").text
    assert csv.count("\n") == 51 and ",M," not in csv
    r = client.post(f"/api/runs/{run_id}/rows", json={"rows": 5, "where": "colour=red"})
    assert r.status_code == 400


def test_delete_run_removes_folder(client, queued):
    for run_id in queued.values():  # so that the worker count below is this run's alone
        finished(client, run_id)
    d = client.post("/api/datasets/builtin", json={"source": "builtin:digits"}).json()
    r = client.post("/api/runs", json={"task": "image", "dataset_id": d["id"], "options": dict(TINY, steps=2000)})
    run_id = r.json()["id"]
    folder = client.ws / "runs" / f"run-{run_id:04d}"
    wait_for(lambda: client.get(f"/api/runs/{run_id}").json()["status"] == "running", 60, what="running")
    assert client.delete(f"/api/runs/{run_id}").json() == {"deleted": run_id}
    assert not folder.exists()
    assert client.get(f"/api/runs/{run_id}").status_code == 404
    wait_for(lambda: client.get("/api/health").json()["running"] == 0, 30, what="worker gone")


def test_token_is_checked_on_every_api_call(tmp_path):
    app = create_app(Settings(workspace=tmp_path / "ws", token="s3cret"))
    with TestClient(app) as c:
        assert c.get("/api/health").status_code == 401
        assert c.get("/api/runs").status_code == 401
        assert c.post("/api/datasets/builtin", json={"source": "builtin:digits"}).status_code == 401
        assert c.get("/api/health", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/api/health", params={"token": "s3cret"}).status_code == 200
        assert c.get("/").status_code == 200  # the page itself holds no data


def test_serve_requires_a_token_beyond_loopback():
    from ganforge.studio import needs_token
    assert not needs_token("127.0.0.1") and not needs_token("localhost")
    assert needs_token("0.0.0.0") and needs_token("192.168.1.5")


def test_series_run_generates_a_plot_and_a_csv(client, queued):
    run_id = finished(client, queued["series"])["id"]
    caps = client.get(f"/api/runs/{run_id}/model").json()
    assert caps["sample"] and caps["conditions"] is None and not caps["walk"]
    r = client.post(f"/api/runs/{run_id}/generate", json={"n": 4, "seed": 0})
    assert r.status_code == 200, r.text
    png, csv = r.json()["files"]
    assert client.get(f"/api/runs/{run_id}/files/{png}").content[:4] == b"\x89PNG"
    text = client.get(f"/api/runs/{run_id}/files/{csv}").text
    assert text.startswith("series_id,time,") and text.count("\n") == 4 * 24 + 1


def test_serve_prints_a_token_when_binding_beyond_loopback(monkeypatch, tmp_path, capsys):
    import uvicorn

    from ganforge.studio import serve

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    serve(host="0.0.0.0", port=9999, workspace=tmp_path / "ws")
    out = capsys.readouterr().out
    token = seen["app"].state.settings.token
    assert token and len(token) >= 20 and f"token: {token}" in out and seen["host"] == "0.0.0.0"
    serve(host="127.0.0.1", port=9999, workspace=tmp_path / "ws2")
    assert seen["app"].state.settings.token is None and "token:" not in capsys.readouterr().out
    serve(host="10.0.0.1", port=9999, workspace=tmp_path / "ws3", token="given", max_upload_mb=1)
    assert seen["app"].state.settings.token == "given"
    assert seen["app"].state.settings.limits.upload_bytes == 2**20


def test_cli_has_the_studio_command():
    from typer.testing import CliRunner

    from ganforge.cli.app import app
    result = CliRunner().invoke(app, ["studio", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--workspace", "--token", "--workers"):
        assert option in result.output




# ------------------------------------------------------------------------------------------ uploaded models
def _compact_pth(path: Path, nf: int = 8, nconv: int = 2, scale: int = 2) -> Path:
    """A random-weight Real-ESRGAN SRVGGNetCompact file with the published key layout (as BasicSR saves it)."""
    import torch

    g = torch.Generator().manual_seed(0)
    w = lambda *shape: torch.randn(*shape, generator=g) * 0.1  # noqa: E731
    s = {"body.0.weight": w(nf, 3, 3, 3), "body.0.bias": w(nf), "body.1.weight": torch.rand(nf, generator=g) * 0.3}
    for i in range(nconv):
        s[f"body.{2 * i + 2}.weight"], s[f"body.{2 * i + 2}.bias"] = w(nf, nf, 3, 3), w(nf)
        s[f"body.{2 * i + 3}.weight"] = torch.rand(nf, generator=g) * 0.3
    last = 2 * nconv + 2
    s[f"body.{last}.weight"], s[f"body.{last}.bias"] = w(3 * scale * scale, nf, 3, 3), w(3 * scale * scale)
    torch.save({"params": s}, path)
    return path


def test_upload_a_ganforge_model_file(client, finished_run):
    data = (client.ws / "runs" / f"run-{finished_run['id']:04d}" / "model.safetensors").read_bytes()
    files = {"file": ("model.safetensors", data, "application/octet-stream")}
    r = client.post("/api/models", files=files, data={"name": "my upload"})   # multipart, like data sets
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["name"] == "my upload" and run["status"] == "finished" and run["has_model"] and run["task"] == "image"
    assert run["dataset_id"] is None and run["job"]["kind"] == "import" and run["params"]["model_file"] == \
        "model.safetensors"
    assert (client.ws / "runs" / f"run-{run['id']:04d}" / "model.safetensors").read_bytes() == data
    caps = client.get(f"/api/runs/{run['id']}/model").json()
    assert caps["sample"] and caps["walk"]
    assert client.post(f"/api/runs/{run['id']}/generate", json={"n": 4}).status_code == 200
    assert any(f["path"] == "model.safetensors" for f in client.get(f"/api/runs/{run['id']}/files").json())
    assert client.get(f"/api/runs/{run['id']}").json()["status"] == "finished"
    assert run["id"] in [x["id"] for x in client.get("/api/runs").json()]
    r = client.post(f"/api/runs/{run['id']}/resume", json={})
    assert r.status_code == 409 and "uploaded model" in r.json()["detail"]
    assert leftovers(client) == []


def test_upload_a_real_esrgan_pth_and_apply_it(client, tmp_path):
    from PIL import Image

    data = _compact_pth(tmp_path / "realesr-tiny-x2.pth").read_bytes()
    r = client.post("/api/models", params={"filename": "realesr-tiny-x2.pth", "name": "esrgan"}, content=data)
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["name"] == "esrgan" and run["status"] == "finished" and run["params"]["arch"] == "esrgan"
    caps = client.get(f"/api/runs/{run['id']}/model").json()
    assert caps["apply"] is True and caps["task"] == "restore"
    r = client.post(f"/api/runs/{run['id']}/apply", params={"filename": "in.png"}, content=png_bytes(2, 12, True))
    assert r.status_code == 200, r.text
    out = client.get(f"/api/runs/{run['id']}/files/{r.json()['files'][-1]}").content
    assert Image.open(io.BytesIO(out)).size == (24, 24)
    from ganforge import artifact
    meta = artifact.read_meta(client.ws / "runs" / f"run-{run['id']:04d}")
    assert meta["imported"]["from"] == "realesr-tiny-x2.pth"   # the name it was uploaded as, not the temp file
    assert leftovers(client) == []


@pytest.mark.parametrize("data,filename,message", [
    (bytes(range(256)) * 40, "weights.pth", "weights.pth: not a readable weight file"),
    (b"not a model", "notes.txt", "notes.txt: not a model file"),
    (bytes(range(256)) * 40, "model.safetensors", "model.safetensors: not a readable safetensors file"),
    (b"", "empty.pth", "empty.pth: empty upload"),
    (None, "evil.pkl", "evil.pkl: refused: the pickle names"),   # a pickle with code is never run
])
def test_bad_model_uploads_are_one_line_400s(client, data, filename, message):
    if data is None:
        import os
        import pickle

        class Evil:
            def __reduce__(self):
                return (os.system, ("echo pwned",))
        data = pickle.dumps({"G_ema": Evil()})
    runs = len(client.get("/api/runs").json())
    folders = sorted(p.name for p in (client.ws / "runs").iterdir())
    r = client.post("/api/models", params={"filename": filename}, content=data)
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert detail.startswith(message) and "\n" not in detail and str(client.ws) not in detail
    assert len(client.get("/api/runs").json()) == runs
    assert sorted(p.name for p in (client.ws / "runs").iterdir()) == folders and leftovers(client) == []


def test_upload_a_weight_file_of_no_known_architecture(client, tmp_path):
    import torch

    torch.save({"some.weight": torch.zeros(3, 3)}, tmp_path / "w.pth")
    r = client.post("/api/models", params={"filename": "w.pth"}, content=(tmp_path / "w.pth").read_bytes())
    assert r.status_code == 400 and r.json()["detail"].startswith("w.pth: not a ganforge model, and no known architecture matches")
    assert "\n" not in r.json()["detail"] and leftovers(client) == []


def test_openapi_documents_both_forms_of_the_model_upload(client):
    op = client.app.openapi()["paths"]["/api/models"]["post"]
    content = op["requestBody"]["content"]
    assert op["requestBody"]["required"] and {"multipart/form-data", "application/octet-stream"} <= set(content)
    assert content["multipart/form-data"]["schema"]["required"] == ["file"]
    assert content["application/octet-stream"]["schema"]["format"] == "binary"
    assert {"filename", "name"} <= {p["name"] for p in op["parameters"]}
