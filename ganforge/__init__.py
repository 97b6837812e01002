"""ganforge: train, evaluate and apply GANs on your own data.

    >>> import ganforge
    >>> model = ganforge.train("image", data="builtin:digits", out="runs/digits", steps=2000)
    >>> images = model.sample(16, seed=0)          # uint8 NHWC
    >>> model = ganforge.load("runs/digits")      # a run folder or a model file
"""
from .version import __version__  # noqa: E402

from .api import load, resume, train  # noqa: E402
from .errors import GanforgeError  # noqa: E402
from .recipes.synthetic_sets import augment_dataset  # noqa: E402

__all__ = ["train", "resume", "load", "augment_dataset", "GanforgeError", "__version__"]
