"""Where the real data sets for tests are: ``../shared/data`` beside the checkout, or $GANFORGE_SHARED_DATA."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(os.environ.get("GANFORGE_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def needs(path: Path):
    """Skip a test when a shared data set is absent (a checkout without ../shared)."""
    return pytest.mark.skipif(not path.exists(), reason=f"shared data not found: {path} (set GANFORGE_SHARED_DATA)")
