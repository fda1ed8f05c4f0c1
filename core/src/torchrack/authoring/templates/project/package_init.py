"""__DIST__: a torchrack plugin."""

__version__ = "0.1.0"
