"""The adversarial loop: phases, learning, checkpoints, resume, divergence, interrupts."""
from __future__ import annotations

import json

import pytest
import torch

from ganforge.config import RunConfig
from ganforge.engine import Callback, Trainer, checkpoint
from ganforge.engine.callbacks import MetricsLog
from ganforge.errors import CheckpointError, DivergenceError
from tests.engine.toy import Ring


def run_config(tmp_path, **kw) -> RunConfig:
    base = dict(out=str(tmp_path), steps=20, batch=64, precision="fp32", lr_g=1e-3, lr_d=1e-3, beta1=0.5,
                ema_kimg=1.0, checkpoint_every=10, eval_every=1000, log_every=1, threads=1)
    base.update(kw)
    return RunConfig(**base)


def metrics(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


class RecordingRing(Ring):
    """Records, per loss call, the step phase name and which networks may receive gradients."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.calls: list[tuple[str, bool, bool]] = []

    def loss(self, phase, batch, nets, gen):
        g_grad = all(p.requires_grad for p in self.modules["G"].parameters())
        d_grad = all(p.requires_grad for p in self.modules["D"].parameters())
        self.calls.append((phase, g_grad, d_grad))
        return super().loss(phase, batch, nets, gen)


def test_phases_run_at_their_intervals_and_only_train_their_network(tmp_path):
    task = RecordingRing(r1_gamma=1.0)  # phases D every step, D_reg every 4th, G every step
    g_before = [p.detach().clone() for p in task.modules["G"].parameters()]
    Trainer(task, run_config(tmp_path, steps=8), tmp_path).fit()
    names = [c[0] for c in task.calls]
    assert names.count("D") == 8 and names.count("G") == 8 and names.count("D_reg") == 2  # steps 0 and 4
    assert names[:3] == ["D", "D_reg", "G"] and names[3:5] == ["D", "G"]
    for phase, g_grad, d_grad in task.calls:
        assert (g_grad, d_grad) == ((True, False) if phase == "G" else (False, True))
    assert any(not torch.equal(a, b) for a, b in zip(g_before, task.modules["G"].parameters()))


def test_gan_covers_all_modes_of_a_ring_of_gaussians_in_seconds(tmp_path):
    task = Ring()
    trainer = Trainer(task, run_config(tmp_path, steps=1500, batch=256, checkpoint_every=10_000, log_every=100),
                      tmp_path)
    trainer.fit()
    modes, quality = task.coverage(trainer.ema.shadow)
    assert modes == 8, f"only {modes} of 8 modes covered"
    assert quality > 0.4, f"only {quality:.0%} of samples near a mode"
    untrained_modes, untrained_quality = Ring(seed=1).coverage(Ring(seed=1).modules["G"])
    assert untrained_quality < 0.1  # the test can fail: an untrained generator does not pass it


def test_resume_reproduces_the_losses_of_an_uninterrupted_run(tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    Trainer(Ring(), run_config(whole, steps=20), whole, [MetricsLog(whole / "metrics.jsonl")]).fit()
    Trainer(Ring(), run_config(split, steps=10), split, [MetricsLog(split / "metrics.jsonl")]).fit()
    resumed = Trainer(Ring(), run_config(split, steps=20), split, [MetricsLog(split / "metrics.jsonl")])
    resumed.fit(resume=True)
    a, b = metrics(whole / "metrics.jsonl"), metrics(split / "metrics.jsonl")
    assert [r["step"] for r in b] == list(range(1, 21))
    for ra, rb in zip(a, b):
        assert ra["loss/D"] == pytest.approx(rb["loss/D"], rel=1e-6, abs=1e-7), ra["step"]
        assert ra["loss/G"] == pytest.approx(rb["loss/G"], rel=1e-6, abs=1e-7), ra["step"]
    whole_state = checkpoint.load(checkpoint.latest(whole / "checkpoints"))["modules"]["G"]
    split_state = checkpoint.load(checkpoint.latest(split / "checkpoints"))["modules"]["G"]
    for k in whole_state:
        torch.testing.assert_close(whole_state[k], split_state[k], rtol=1e-5, atol=1e-6)


def test_checkpoint_round_trip_restores_every_piece_of_state(tmp_path):
    trainer = Trainer(Ring(r1_gamma=1.0), run_config(tmp_path, steps=7), tmp_path)
    trainer.fit()
    path = checkpoint.latest(tmp_path / "checkpoints")
    assert path.name == "step-000000007.pt"
    state = checkpoint.load(path)
    assert state["step"] == 7 and set(state["modules"]) == {"G", "D"} and set(state["optimizers"]) == {"G", "D"}
    assert state["ema"] and "torch" in state["rng"]
    fresh = Trainer(Ring(seed=5), run_config(tmp_path, steps=7), tmp_path)
    fresh._setup()
    fresh.load_state_dict(state)
    assert fresh.step == 7
    for name in ("G", "D"):
        for a, b in zip(trainer.raw[name].state_dict().values(), fresh.raw[name].state_dict().values()):
            assert torch.equal(a, b)
        sa, sb = trainer.opts[name].state_dict()["state"], fresh.opts[name].state_dict()["state"]
        assert all(torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"]) for i in sa)
    for a, b in zip(trainer.ema.shadow.parameters(), fresh.ema.shadow.parameters()):
        assert torch.equal(a, b)


def test_old_checkpoints_are_pruned_and_a_corrupt_one_is_skipped_with_a_warning(tmp_path, caplog):
    Trainer(Ring(), run_config(tmp_path, steps=30, checkpoint_every=5, keep_checkpoints=2), tmp_path).fit()
    assert [s for s, _ in checkpoint.list_checkpoints(tmp_path / "checkpoints")] == [25, 30]
    bad = tmp_path / "checkpoints" / "step-000000031.pt"
    bad.write_bytes(b"not a checkpoint")
    trainer = Trainer(Ring(), run_config(tmp_path, steps=40), tmp_path)
    assert trainer.fit(resume=True) == "finished" and trainer.step == 40
    assert "skipped step-000000031.pt (not a readable ganforge checkpoint" in caplog.text
    for _, path in checkpoint.list_checkpoints(tmp_path / "checkpoints"):
        path.write_bytes(b"broken")
    with pytest.raises(CheckpointError, match="no readable checkpoint"):
        Trainer(Ring(), run_config(tmp_path, steps=50), tmp_path).fit(resume=True)


def test_one_divergence_restores_a_checkpoint_and_halves_the_learning_rate(tmp_path, caplog):
    task = Ring(poison_d_calls=(15,))
    trainer = Trainer(task, run_config(tmp_path, steps=20), tmp_path, [MetricsLog(tmp_path / "metrics.jsonl")])
    assert trainer.fit() == "finished"
    assert trainer.step == 20 and trainer.divergences == 1 and trainer.lr_scale == 0.5
    assert trainer.opts["D"].param_groups[0]["lr"] == pytest.approx(5e-4)
    assert "non-finite D loss at step 14" in caplog.text and "halving the learning rate" in caplog.text
    records = metrics(tmp_path / "metrics.jsonl")
    assert all(r["lr_scale"] == 0.5 for r in records if r["step"] > 10)
    assert all(torch.isfinite(p).all() for p in trainer.raw["D"].parameters())


def test_a_second_divergence_stops_the_run_with_a_clear_message(tmp_path):
    task = Ring(poison_d_calls=(15, 18))
    with pytest.raises(DivergenceError, match="diverged again"):
        Trainer(task, run_config(tmp_path, steps=20), tmp_path).fit()


class InterruptAt(Callback):
    def __init__(self, step: int):
        self.at = step

    def on_step(self, state):
        if state.step == self.at:
            raise KeyboardInterrupt


def test_ctrl_c_leaves_a_checkpoint_and_a_model_file(tmp_path):
    trainer = Trainer(Ring(), run_config(tmp_path, steps=100, checkpoint_every=50), tmp_path, [InterruptAt(7)])
    assert trainer.fit() == "interrupted"
    assert checkpoint.latest(tmp_path / "checkpoints").name == "step-000000007.pt"
    assert (tmp_path / "model.safetensors").is_file()
    resumed = Trainer(Ring(), run_config(tmp_path, steps=12), tmp_path)
    assert resumed.fit(resume=True) == "finished" and resumed.step == 12


def test_time_budget_stops_training(tmp_path):
    trainer = Trainer(Ring(), run_config(tmp_path, steps=None, minutes=0.02, checkpoint_every=10_000), tmp_path)
    trainer.fit()
    assert trainer.step > 10 and 1.0 <= trainer.elapsed < 5.0


class SlowEval(Callback):
    def on_eval(self, state, step):
        import time
        time.sleep(0.3)


def test_the_time_budget_covers_setup_and_the_final_evaluation(tmp_path):
    import time
    run = run_config(tmp_path, steps=None, minutes=0.03, eval_every=5, checkpoint_every=10_000)   # 1.8 s
    trainer = Trainer(Ring(), run, tmp_path, [SlowEval()], setup_s=0.6)
    start = time.perf_counter()
    trainer.fit()
    whole = 0.6 + time.perf_counter() - start
    assert trainer.elapsed >= 0.6 and trainer.eval_cost >= 0.3      # the setup counted; the evaluation timed
    assert 1.8 - 0.3 <= whole <= 1.8 + 0.25                        # the final evaluation fit in the budget
    spent = Trainer(Ring(), run_config(tmp_path / "s", steps=None, minutes=0.01), tmp_path / "s", setup_s=1.0)
    spent.fit()
    assert spent.step == 0                                          # reading the data took the whole budget


class SleepEachStep(Callback):
    def on_step(self, state):
        import time
        time.sleep(0.05)


def test_a_cpu_clock_budget_does_not_count_waiting(tmp_path):
    budget = dict(steps=None, minutes=0.01, checkpoint_every=10_000)   # 0.6 s
    wall = Trainer(Ring(), run_config(tmp_path / "w", **budget), tmp_path / "w", [SleepEachStep()])
    wall.fit()
    cpu = Trainer(Ring(), run_config(tmp_path / "c", budget_clock="cpu", **budget), tmp_path / "c", [SleepEachStep()])
    cpu.fit()
    assert wall.step <= 13 and cpu.step > 2 * wall.step     # sleeping spends wall time, not CPU time


def test_ema_trails_the_generator(tmp_path):
    trainer = Trainer(Ring(), run_config(tmp_path, steps=30, ema_kimg=100.0), tmp_path)
    trainer.fit()
    raw, ema = trainer.raw["G"], trainer.ema.shadow
    assert not any(p.requires_grad for p in ema.parameters())
    diffs = [float((a.detach() - b).abs().max()) for a, b in zip(raw.parameters(), ema.parameters())]
    assert max(diffs) > 0  # averaged, not copied


class SignalDuringLoss(Ring):
    """Sends ``signum`` to this process from inside the D phase of step ``at`` (mid-step)."""

    def __init__(self, at: int, signum: int, times: int = 1, **kw):
        super().__init__(**kw)
        self.at, self.signum, self.times, self.step_calls, self.g_calls = at, signum, times, 0, 0

    def loss(self, phase, batch, nets, gen):
        import os
        if phase == "D":
            if self.step_calls == self.at:
                for _ in range(self.times):
                    os.kill(os.getpid(), self.signum)
            self.step_calls += 1
        else:
            self.g_calls += 1
        return super().loss(phase, batch, nets, gen)


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_a_signal_stops_training_at_the_next_step_boundary(tmp_path, signame):
    import signal
    task = SignalDuringLoss(5, getattr(signal, signame))
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    trainer = Trainer(task, run_config(tmp_path, steps=100, checkpoint_every=50), tmp_path,
                      [MetricsLog(tmp_path / "metrics.jsonl")])
    assert trainer.fit() == "interrupted"
    assert trainer.step == 6 and task.g_calls == 6   # the step under way when the signal came was finished
    assert checkpoint.latest(tmp_path / "checkpoints").name == "step-000000006.pt"
    assert checkpoint.load(checkpoint.latest(tmp_path / "checkpoints"))["step"] == 6
    assert (tmp_path / "model.safetensors").is_file()
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before   # handlers given back
    resumed = Trainer(Ring(), run_config(tmp_path, steps=9), tmp_path, [MetricsLog(tmp_path / "metrics.jsonl")])
    assert resumed.fit(resume=True) == "finished" and resumed.step == 9
    assert [r["step"] for r in metrics(tmp_path / "metrics.jsonl")] == list(range(1, 10))


def test_a_second_ctrl_c_raises_at_once(tmp_path):
    import signal
    task = SignalDuringLoss(3, signal.SIGINT, times=2)
    trainer = Trainer(task, run_config(tmp_path, steps=100, checkpoint_every=50), tmp_path)
    assert trainer.fit() == "interrupted"
    assert trainer.step == 3 and task.g_calls == 3   # step 3 was abandoned half-way
    assert checkpoint.latest(tmp_path / "checkpoints").name == "step-000000003.pt"


def test_lazy_regularisation_scales_the_shared_optimizer_and_the_regulariser_loss(tmp_path):
    from ganforge.engine.trainer import lazy_regularisation
    from ganforge.engine import Phase

    ratios, lazy = lazy_regularisation([Phase("G", "G", 5), Phase("D", "D"), Phase("D_reg", "D", 16)])
    assert ratios == {"D": pytest.approx(16 / 17)} and lazy == {"D_reg"}   # G alone at interval 5: untouched

    task = ConstantRegRing(r1_gamma=1.0)   # D every step, D_reg every 4th step (its loss: 1.5)
    trainer = Trainer(task, run_config(tmp_path, steps=1, lr_d=2e-3, beta1=0.5, beta2=0.99), tmp_path,
                      [MetricsLog(tmp_path / "metrics.jsonl")])
    trainer.fit()
    c = 4 / 5
    d, g = trainer.opts["D"].param_groups[0], trainer.opts["G"].param_groups[0]
    assert d["lr"] == pytest.approx(2e-3 * c)
    assert d["betas"] == pytest.approx((0.5 ** c, 0.99 ** c))
    assert g["lr"] == pytest.approx(1e-3) and g["betas"] == pytest.approx((0.5, 0.99))
    # the minimised (and logged) D_reg loss is the task's loss times the interval
    assert metrics(tmp_path / "metrics.jsonl")[0]["loss/D_reg"] == pytest.approx(4 * 1.5)


class ConstantRegRing(RecordingRing):
    def loss(self, phase, batch, nets, gen):
        loss, scalars = super().loss(phase, batch, nets, gen)
        return (loss * 0 + 1.5 if phase == "D_reg" else loss), scalars


def test_a_finished_run_resumed_with_its_own_budget_logs_nothing_twice(tmp_path):
    """Resuming a finished run (the studio does after a server restart) must not repeat the final evaluation."""
    class Evals(Callback):
        def on_eval(self, state, step):
            state.log({"eval/score": float(step)})

    log = tmp_path / "metrics.jsonl"
    cbs = lambda: [MetricsLog(log), Evals()]  # noqa: E731
    Trainer(Ring(), run_config(tmp_path, steps=12, eval_every=5, log_every=4), tmp_path, cbs()).fit()
    for _ in range(2):
        Trainer(Ring(), run_config(tmp_path, steps=12, eval_every=5, log_every=4), tmp_path, cbs()).fit(resume=True)
    keys = [(r["step"], tuple(sorted(k for k in r if k != "step"))) for r in metrics(log)]
    assert len(keys) == len(set(keys)), keys
    assert [r["step"] for r in metrics(log) if "eval/score" in r] == [5, 10, 12]
