"""Data: read user images (folders, archives, IDX, arrays, built-in sets) into validated tensors."""
from ganforge.data.imageset import ImageSet
from ganforge.data.sources import load_images

__all__ = ["ImageSet", "load_images"]
