"""Fixtures shared by the metric tests."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test, restored afterwards (opt in: ``pytestmark = usefixtures(...)``).

    The metric tests run many small tensor operations; on a shared, busy 2-core machine two OpenMP
    threads spin-wait on each other and made them 5-10x slower than one (measured: 24 s against 3 s).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
