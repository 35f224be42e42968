"""sgcourse: the surrogate gradient method for spiking neural networks."""

from sgcourse._version import __version__

__all__ = ["__version__"]
