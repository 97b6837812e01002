"""Every data reader and every command that takes a data file, run against the hostile corpus.

A case passes when it ends in a GanforgeError of one line that names the file (CLI: exit code 1 and one
``error: ...`` line), or succeeds with one-line warnings; never another exception (a traceback), never a
hang (a per-test timeout), never a file written outside the output folder, never a logged value of
more than a few hundred characters.
"""
from __future__ import annotations

import io
import logging
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from ganforge.errors import GanforgeError
from tests.fuzz.corpus import CASES, OUTSIDE, _good, png

torch.set_num_threads(1)
pytestmark = pytest.mark.timeout(60)

MAX_MESSAGE = 600
TMP = re.compile(r"/tmp/pytest-of-[^/]+/pytest-\d+/[^/\s]+")  # a message quotes at most 80 characters of a value; paths and context make up the rest


def cases(*kinds: str, only_folders: bool = False):
    out = []
    for kind in kinds:
        for name in CASES[kind]:
            if only_folders and kind == "image_sets" and not name.startswith("folder"):
                continue
            out.append(pytest.param(kind, name, id=f"{kind}-{name}"))
    return out


def make(tmp_path: Path, kind: str, name: str) -> Path:
    """The case written under ``tmp_path/<name>/`` (so that the case name is in every path)."""
    return CASES[kind][name](tmp_path / name)


def check_message(text: str, what: str) -> None:
    text = TMP.sub("<tmp>", text)  # the test's own folders are long; count what the message adds
    assert "\n" not in text.strip(), f"{what} is not one line: {text[:300]!r}"
    assert len(text) <= MAX_MESSAGE, f"{what} is {len(text)} characters long: {text[:200]!r}..."


def check_logs(caplog) -> None:
    for r in caplog.records:
        if r.levelno >= logging.WARNING:
            check_message(r.getMessage(), "warning")


def check_no_escape(tmp_path: Path) -> None:
    escaped = [p for p in tmp_path.parent.rglob(OUTSIDE)]
    assert not escaped, f"written outside the output folder: {escaped}"


def expect_clean(fn, tmp_path: Path, name: str, caplog, names_file: bool = True) -> None:
    """``fn()`` must succeed or raise a one-line GanforgeError naming the case's file or folder."""
    caplog.set_level(logging.WARNING)
    try:
        fn()
    except GanforgeError as e:
        msg = str(e)
        check_message(msg, "error")
        if names_file:
            assert name in msg, f"the error does not name the file: {msg!r}"
    check_logs(caplog)
    check_no_escape(tmp_path)


# ------------------------------------------------------------------------------------------ readers
@pytest.mark.parametrize("kind,name", cases("images", "image_sets"))
def test_load_images(tmp_path, caplog, kind, name):
    from ganforge.data import load_images

    p = make(tmp_path, kind, name)
    expect_clean(lambda: load_images(p, 16), tmp_path, name, caplog)


@pytest.mark.parametrize("kind,name", cases("images", "image_sets", only_folders=True))
@pytest.mark.parametrize("reader", ["read_photos", "read_side_by_side"])
def test_photo_and_pair_readers(tmp_path, caplog, kind, name, reader):
    from ganforge.data import pairs

    p = make(tmp_path, kind, name)
    folder = p if p.is_dir() else p.parent
    expect_clean(lambda: getattr(pairs, reader)(folder), tmp_path, name, caplog)


@pytest.mark.parametrize("kind,name", cases("images", "image_sets", only_folders=True))
def test_matched_pairs(tmp_path, caplog, kind, name):
    from ganforge.data import pairs

    p = make(tmp_path, kind, name)
    a = p if p.is_dir() else p.parent
    b = tmp_path / "b"
    _good(b, 3)
    expect_clean(lambda: pairs.read_matched(a, b), tmp_path, name, caplog)


@pytest.mark.parametrize("kind,name", cases("tables"))
def test_table_reader_and_encoder(tmp_path, caplog, kind, name):
    """read_table, then what the table task validates and fits before training (schema and codec)."""
    from ganforge.data.table_codec import TableCodec
    from ganforge.data.tables import infer_schema, read_table

    p = make(tmp_path, kind, name)

    def run():
        schema, values = infer_schema(read_table(p))
        codec = TableCodec.fit(schema, values, 3, seed=0)
        assert np.isfinite(codec.transform(values)).all()

    expect_clean(run, tmp_path, name, caplog, names_file=False)


@pytest.mark.parametrize("kind,name", cases("tables"))
def test_table_task_validation(tmp_path, caplog, kind, name):
    from ganforge.tasks.tabular import TableOptions, TabularSynthesis

    p = make(tmp_path, kind, name)
    expect_clean(lambda: TabularSynthesis(TableOptions(data=str(p), max_modes=3)), tmp_path, name, caplog)


@pytest.mark.parametrize("kind,name", cases("series", "tables"))
def test_load_series(tmp_path, caplog, kind, name):
    from ganforge.data.series import load_series

    p = make(tmp_path, kind, name)
    expect_clean(lambda: load_series(str(p)), tmp_path, name, caplog)


@pytest.mark.parametrize("kind,name", cases("videos"))
def test_load_videos(tmp_path, caplog, kind, name):
    from ganforge.data.video import load_videos

    p = make(tmp_path, kind, name)
    expect_clean(lambda: load_videos(str(p), frames=4, size=16), tmp_path, name, caplog)
    expect_clean(lambda: load_videos(str(p.parent), frames=4, size=16), tmp_path, name, caplog)


@pytest.mark.parametrize("kind,name", cases("meshes"))
def test_load_voxels(tmp_path, caplog, kind, name):
    from ganforge.data.voxels import load_voxels

    p = make(tmp_path, kind, name)
    expect_clean(lambda: load_voxels(str(p), resolution=8), tmp_path, name, caplog)
    expect_clean(lambda: load_voxels(str(p.parent), resolution=8), tmp_path, name, caplog)


@pytest.mark.parametrize("kind,name", cases("captions"))
def test_load_captions(tmp_path, caplog, kind, name):
    from ganforge.data.captions import load_captions

    p = make(tmp_path, kind, name)
    expect_clean(lambda: load_captions(str(p), size=16), tmp_path, name, caplog)


@pytest.mark.parametrize("kind,name", cases("masks", "images"))
def test_read_mask(tmp_path, caplog, kind, name):
    from ganforge.predict.image import read_mask

    p = make(tmp_path, kind, name)
    expect_clean(lambda: read_mask(p, (16, 16)), tmp_path, name, caplog)


# ------------------------------------------------------------------------------------------ commands
def cli(tmp_path: Path, monkeypatch, caplog, name: str, args: list[str], names_file: bool = True):
    """Run ``ganforge ARGS`` in a fresh working folder: exit 0, or exit 1 with one ``error:`` line."""
    from typer.testing import CliRunner

    from ganforge.cli.app import app

    caplog.set_level(logging.WARNING)
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    monkeypatch.chdir(cwd)
    r = CliRunner().invoke(app, args)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        import traceback
        pytest.fail("traceback:\n" + "".join(traceback.format_exception(r.exception))[-3000:])
    assert r.exit_code in (0, 1), r.output[-2000:]
    assert "Traceback" not in r.output
    if r.exit_code == 1:
        errors = [ln for ln in r.output.splitlines() if ln.startswith("error: ")]
        assert len(errors) == 1, r.output[-2000:]
        check_message(errors[0], "error")
        if names_file:
            assert name in errors[0], f"the error does not name the file: {errors[0]!r}"
    check_logs(caplog)
    check_no_escape(tmp_path)
    return r


DRY = {  # task, option for the data, extra options: the smallest dry run of each data kind
    "image": ("--data", ["--size", "16"]),
    "restore": ("--data", ["--crop", "16"]),
    "translate": ("--pairs", []),
    "table": ("--data", ["--max-modes", "3"]),
    "series": ("--data", []),
    "video": ("--data", ["--size", "16"]),
    "voxels": ("--data", []),
    "text2image": ("--data", ["--size", "16"]),
}


def dry(tmp_path, monkeypatch, caplog, task, p, name):
    flag, extra = DRY[task]
    cli(tmp_path, monkeypatch, caplog, name,
        ["train", task, flag, str(p), "--dry-run", "--out", str(tmp_path / "run"), *extra])


@pytest.mark.parametrize("kind,name", cases("images", "image_sets"))
def test_train_image_dry_run(tmp_path, monkeypatch, caplog, kind, name):
    dry(tmp_path, monkeypatch, caplog, "image", make(tmp_path, kind, name), name)


@pytest.mark.parametrize("kind,name", cases("image_sets", only_folders=True))
@pytest.mark.parametrize("task", ["restore", "translate"])
def test_train_photos_and_pairs_dry_run(tmp_path, monkeypatch, caplog, kind, name, task):
    dry(tmp_path, monkeypatch, caplog, task, make(tmp_path, kind, name), name)


TASK_OF = {"tables": "table", "series": "series", "videos": "video", "meshes": "voxels", "captions": "text2image"}


@pytest.mark.parametrize("kind,name", cases(*TASK_OF))
def test_train_dry_run(tmp_path, monkeypatch, caplog, kind, name):
    dry(tmp_path, monkeypatch, caplog, TASK_OF[kind], make(tmp_path, kind, name), name)


def _good_table(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    lines = ["age,sex,income"] + [f"{rng.integers(18, 80)},{rng.choice(['F', 'M'])},{rng.normal(50, 10):.2f}"
                                  for _ in range(80)]
    (d / "good.csv").write_text("\n".join(lines) + "\n")
    return d / "good.csv"


@pytest.mark.parametrize("kind,name", cases("tables", "series"))
def test_report(tmp_path, monkeypatch, caplog, kind, name):
    p = make(tmp_path, kind, name)
    good = _good_table(tmp_path / "good")
    for real, synth in ((p, good),):
        cli(tmp_path, monkeypatch, caplog, name, ["report", str(real), str(synth), "-o", str(tmp_path / "r.json")],
            names_file=False)


@pytest.mark.parametrize("kind,name", cases("images", "image_sets"))
def test_eval_folders(tmp_path, monkeypatch, caplog, kind, name):
    p = make(tmp_path, kind, name)
    good = tmp_path / "good"
    _good(good, 6)
    cli(tmp_path, monkeypatch, caplog, name, ["eval-folders", str(p), str(good), "--features", "pixels",
                                              "--metrics", "kid", "--size", "16", "-o", str(tmp_path / "e.json")])


def _restore_model(tmp_path_factory, kind: str) -> Path:
    """A restoration model trained for one step on four 16 px photos (seconds)."""
    import ganforge

    d = tmp_path_factory.mktemp(kind)
    photos = d / "photos"
    photos.mkdir()
    for i in range(4):
        (photos / f"{i}.png").write_bytes(png((16, 16), seed=i))
    model = ganforge.train("restore", kind=kind, data=str(photos), crop=16, width=8, depth=2, steps=1,
                           batch=2, out=str(d / "run"), progress=False, threads=1)
    return Path(model.path)


@pytest.fixture(scope="module")
def inpaint_model(tmp_path_factory):
    return _restore_model(tmp_path_factory, "inpaint")


@pytest.fixture(scope="module")
def denoise_model(tmp_path_factory):
    return _restore_model(tmp_path_factory, "denoise")


@pytest.mark.parametrize("kind,name", cases("masks"))
def test_apply_with_bad_mask(tmp_path, monkeypatch, caplog, inpaint_model, kind, name):
    m = make(tmp_path, kind, name)
    photo = tmp_path / "in.png"
    photo.write_bytes(png((16, 16)))
    cli(tmp_path, monkeypatch, caplog, name, ["apply", str(inpaint_model), str(photo), "--mask", str(m),
                                              "-o", str(tmp_path / "out.png")])


@pytest.mark.parametrize("kind,name", cases("images"))
def test_apply_with_bad_input(tmp_path, monkeypatch, caplog, denoise_model, kind, name):
    p = make(tmp_path, kind, name)
    cli(tmp_path, monkeypatch, caplog, name, ["apply", str(denoise_model), str(p), "-o", str(tmp_path / "o.png")])


# ------------------------------------------------------------------------------------------ studio uploads
@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from ganforge.studio.app import Settings, create_app
    from ganforge.studio.datasets import Limits

    ws = tmp_path_factory.mktemp("studio") / "ws"
    app = create_app(Settings(workspace=ws, limits=Limits(upload_bytes=16 * 2**20, unpacked_bytes=64 * 2**20,
                                                                 members=2000),
                              poll_s=0.1, events_s=0.2, workers=1))
    with TestClient(app, raise_server_exceptions=True) as c:
        c.ws = ws
        yield c


def upload(studio, caplog, tmp_path, kind: str, path: Path, filename: str | None = None):
    caplog.set_level(logging.WARNING)
    r = studio.post("/api/datasets", params={"kind": kind, "filename": filename or path.name},
                    content=path.read_bytes())
    assert r.status_code in (201, 400, 413, 422), (r.status_code, r.text[:2000])
    if r.status_code != 201:
        detail = r.json().get("detail", "")
        check_message(str(detail), "error")
    check_logs(caplog)
    check_no_escape(tmp_path)
    assert not list(studio.ws.parent.rglob(OUTSIDE)), "written outside the data set folder"


def _zipped(p: Path) -> Path:
    """A single file or a folder as a zip (links and undecodable names included as they are)."""
    out = p.parent / (p.name + ".upload.zip")
    with zipfile.ZipFile(out, "w") as zf:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and not f.is_symlink():
                    zf.write(f, f.relative_to(p).as_posix().encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
        else:
            zf.write(p, p.name)
    return out


@pytest.mark.parametrize("kind,name", cases("images", "image_sets"))
@pytest.mark.parametrize("as_kind", ["images", "pairs"])
def test_studio_image_upload(studio, tmp_path, caplog, kind, name, as_kind):
    p = make(tmp_path, kind, name)
    if p.suffix != ".zip":
        p = _zipped(p)
    upload(studio, caplog, tmp_path, as_kind, p)


@pytest.mark.parametrize("kind,name", cases("tables", "series"))
@pytest.mark.parametrize("as_kind", ["table", "series"])
def test_studio_table_and_series_upload(studio, tmp_path, caplog, kind, name, as_kind):
    p = make(tmp_path, kind, name)
    upload(studio, caplog, tmp_path, as_kind, p, filename=p.stem + ".csv")


# ------------------------------------------------------------------------------------------ the fixes, pinned
def test_quote_cuts_values():
    from ganforge.errors import quote

    assert quote("abc") == "'abc'"
    long = quote("x" * 5_000_000)
    assert long.startswith("'xxx") and long.count("x") <= 80 and "5000002 characters" in long


@pytest.mark.parametrize("kind,name,reader,text", [
    ("image_sets", "folder_one_image", "images", "only 1 images, fewer than 32"),
    ("image_sets", "zip_one_image", "images", "only 1 images, fewer than 32"),
    ("tables", "csv_tiny", "table", "only 5 rows, fewer than 50"),
    ("series", "long_one_series", "series", "only 1 series, fewer than 32"),
])
def test_small_data_warns_once(tmp_path, caplog, kind, name, reader, text):
    from ganforge.data import load_images
    from ganforge.data.series import load_series
    from ganforge.tasks.tabular import TableOptions, TabularSynthesis

    p = make(tmp_path, kind, name)
    read = {"images": lambda: load_images(p, 16), "series": lambda: load_series(str(p)),
            "table": lambda: TabularSynthesis(TableOptions(data=str(p), max_modes=3))}[reader]
    with caplog.at_level(logging.WARNING):
        read()
    hits = [r.getMessage() for r in caplog.records if text in r.getMessage()]
    assert len(hits) == 1 and name in hits[0], [r.getMessage() for r in caplog.records]


def test_infinite_table_values_are_missing_with_one_warning(tmp_path, caplog):
    from ganforge.tasks.tabular import TableOptions, TabularSynthesis

    p = make(tmp_path, "tables", "csv_out_of_range")
    with caplog.at_level(logging.WARNING):
        task = TabularSynthesis(TableOptions(data=str(p), max_modes=3))
    assert torch.isfinite(task.X).all()
    hits = [r.getMessage() for r in caplog.records if "infinite or out-of-range" in r.getMessage()]
    assert hits == ["column 'income': 2 infinite or out-of-range values (e.g. inf); treated as missing"]


def test_huge_cell_is_quoted_short(tmp_path, caplog):
    from ganforge.data.tables import infer_schema, read_table

    p = make(tmp_path, "tables", "csv_huge_cell")
    with caplog.at_level(logging.WARNING):
        infer_schema(read_table(p))
    (msg,) = [r.getMessage() for r in caplog.records if "mixed types" in r.getMessage()]
    assert len(msg) < 200 and msg.count("x") <= 80
