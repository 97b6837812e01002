"""End to end in a real browser (Debian's chromium, driven by Playwright): upload a zip, start a tiny
run, watch the grid appear and the loss curve grow, open the model, generate, download.

Screenshots go to $GANFORGE_ARTIFACTS (default: tests/studio/artifacts/).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from .conftest import shapes_zip, wait_for

CHROMIUM = Path(os.environ.get("GANFORGE_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("GANFORGE_ARTIFACTS", Path(__file__).parent / "artifacts"))

pytestmark = [pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (apt-get install chromium)")]


def test_upload_train_watch_generate_download(server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    zip_path = tmp_path / "shapes.zip"
    zip_path.write_bytes(shapes_zip(12, extra={"shapes/readme.txt": b"not an image"}))
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1200, "height": 900}, accept_downloads=True)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url + "/#/data")
        page.select_option("#kind", "images")
        page.set_input_files("#file", str(zip_path))
        page.fill("#dsname", "shapes")
        page.click("#upload")
        page.wait_for_selector(".dataset-card >> text=36 images")
        assert "3 classes" in page.inner_text(".dataset-card")
        assert "1 skipped" in page.inner_text(".dataset-card")
        page.screenshot(path=str(ARTIFACTS / "1-data.png"), full_page=True)

        page.click("text=Train on it")
        page.wait_for_selector("#task")
        assert page.input_value("#task") == "image"
        page.click("summary")
        values = {"r-steps": "60", "r-minutes": "", "r-batch": "16", "r-eval_every": "10", "r-checkpoint_every": "20",
                  "r-log_every": "5", "r-threads": "1", "t-size": "16", "t-width": "16", "t-sample_grid": "16",
                  "t-walk_frames": "2"}
        for field, value in values.items():
            if page.eval_on_selector("#" + field, "e => e.tagName") == "SELECT":   # fields with choices
                page.select_option("#" + field, value)
            else:
                page.fill("#" + field, value)
        assert page.eval_on_selector("#t-augment", "e => e.tagName") == "SELECT"
        page.screenshot(path=str(ARTIFACTS / "2-new-run.png"), full_page=True)
        page.click("#start")
        page.wait_for_selector("#grid[src*='samples/step-']", timeout=90_000)
        first_step = int(page.inner_text("#s-step"))
        page.screenshot(path=str(ARTIFACTS / "3-live.png"), full_page=True)
        # the curve grows: the number of plotted records rises while training
        n_records = page.evaluate("() => document.getElementById('losses').toDataURL().length")
        wait_for(lambda: int(page.inner_text("#s-step")) > first_step, 60, what="step to grow")
        page.wait_for_selector("#rstatus.finished", timeout=90_000)
        page.wait_for_selector("#g-go", timeout=30_000)
        assert page.evaluate("() => document.getElementById('losses').toDataURL().length") != n_records
        page.screenshot(path=str(ARTIFACTS / "4-finished.png"), full_page=True)

        page.fill("#g-n", "9")
        page.fill("#g-seed", "3")
        page.click("#g-go")
        page.wait_for_selector("#out img[src*='samples-']")
        page.wait_for_function("() => document.querySelector('#out img').naturalWidth > 0")
        with page.expect_download() as dl:
            page.click("#out .result:first-child a.button")
        saved = tmp_path / "download.png"
        dl.value.save_as(saved)
        assert saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with page.expect_download() as dl:
            page.click("#downloads a[href*='model.safetensors']")
        model = tmp_path / "model.safetensors"
        dl.value.save_as(model)
        assert model.stat().st_size > 1000
        page.click("#w-gif")
        page.wait_for_selector("#out .result:first-child img[src*='walk-']")
        assert page.locator("#out .result").count() == 2  # the samples stay below the walk
        page.screenshot(path=str(ARTIFACTS / "5-model.png"), full_page=True)

        page.goto(server.url + "/#/")
        page.wait_for_selector(".run-card img")
        page.screenshot(path=str(ARTIFACTS / "6-runs.png"), full_page=True)
        page.click("nav >> text=API")
        page.wait_for_selector("code:text-is('/api/runs/{run_id}/events')")
        page.screenshot(path=str(ARTIFACTS / "7-api.png"), full_page=True)
        browser.close()
    assert not errors, errors
