"""Run under torchrun: train a registered task for a few steps through the API's resolver, then save this
rank's weights. usage: ddp_task_worker.py TASK OUT '{"option": value, ...}'"""
import json
import sys

import torch

from ganforge import api
from ganforge.engine import Trainer

task, out, kwargs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
run, options = api.resolve(task, dict(kwargs, out=out))
trainer = Trainer(api._build_task(task, run, options), run, out)
trainer.fit()
torch.save({"world": trainer.world, "step": trainer.step,
            "nets": {n: {k: v.clone() for k, v in m.state_dict().items()} for n, m in trainer.raw.items()}},
           f"{out}/rank{trainer.rank}.pt")
