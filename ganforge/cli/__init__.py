"""The ganforge command: ``ganforge.cli:main``."""
from .app import app, main

__all__ = ["app", "main"]
