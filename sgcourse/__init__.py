"""sgcourse: the surrogate gradient method for spiking neural networks.

Three rooms, each a set of submodules imported on first use (so ``import sgcourse`` stays light
and works without torch):

- the SNN library: ``surrogate`` (surrogate gradient functions), ``neuron`` (IF, LIF, parametric
  LIF, QIF, EIF, Izhikevich, ...), ``kernels`` (fused and Triton time loops), ``base``, ``layer``,
  ``functional``, ``encoding``. It depends on torch and numpy only, never on the rooms below;
- data and plots, usable outside the course: ``datasets``, ``viz`` (matplotlib);
- ``course``: the lessons' widgets, exercise checks, networks and training helpers, notebook
  tools and the ``check``/``lab`` commands.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from sgcourse._version import __version__

_SUBMODULES = ("base", "course", "datasets", "encoding", "functional", "kernels", "layer", "neuron",
               "surrogate", "viz")

__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        return importlib.import_module(f"sgcourse.{name}")
    raise AttributeError(f"module 'sgcourse' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
