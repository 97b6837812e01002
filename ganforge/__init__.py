"""ganforge: train, evaluate and apply GANs on your own data."""
__version__ = "0.1.0"
