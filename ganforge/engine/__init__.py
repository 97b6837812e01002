"""The generic adversarial engine: knows nothing about images, tables or any data type."""
from .callbacks import Callback
from .task import AdversarialTask, Phase
from .runtime import seed_everything
from .trainer import Trainer, budget_clock, step_generator

__all__ = ["AdversarialTask", "Callback", "Phase", "Trainer", "budget_clock", "seed_everything", "step_generator"]
