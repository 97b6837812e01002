"""Global seeding: a task built after seed_everything(seed) gets the same initial weights."""
from __future__ import annotations

import random

import numpy as np
import torch

from ganforge.engine import seed_everything
from tests.engine.toy import mlp


def test_seed_everything_makes_initial_weights_and_global_draws_repeat():
    def draw():
        return mlp(3, 2).state_dict(), float(np.random.rand()), random.random()

    seed_everything(7)
    a = draw()
    seed_everything(7)
    b = draw()
    seed_everything(8)
    c = draw()
    assert all(torch.equal(a[0][k], b[0][k]) for k in a[0]) and a[1:] == b[1:]
    assert not torch.equal(a[0]["0.weight"], c[0]["0.weight"]) and a[1:] != c[1:]
