"""Run under torchrun: train the ring task for a few steps, then save this rank's weights."""
import sys

import torch

from ganforge.config import RunConfig
from ganforge.engine import Trainer
from tests.engine.toy import Ring

out = sys.argv[1]
task = Ring(r1_gamma=1.0)  # a regulariser phase too: autograd.grad through a DDP module
trainer = Trainer(task, RunConfig(out=out, steps=6, batch=32, precision="fp32", threads=1, checkpoint_every=3,
                                  log_every=1), out)
trainer.fit()
rank = trainer.rank
torch.save({"world": trainer.world, "step": trainer.step,
            "G": {k: v.clone() for k, v in trainer.raw["G"].state_dict().items()},
            "D": {k: v.clone() for k, v in trainer.raw["D"].state_dict().items()}}, f"{out}/rank{rank}.pt")
