"""sgcourse: the surrogate gradient method for spiking neural networks.

Submodules (imported on first use, so ``import sgcourse`` stays light and works without torch):
``surrogate`` (surrogate gradient functions), ``neuron`` (IF, LIF, parametric LIF, QIF, EIF,
Izhikevich, ...), ``base``, ``functional``, ``layer``, ``encoding``, ``kernels`` (fused and Triton
time loops), ``bptt``, ``datasets``, ``models``, ``viz``, ``widgets``, ``neuron_widgets``,
``exercises``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from sgcourse._version import __version__

_SUBMODULES = ("base", "bptt", "datasets", "encoding", "exercises", "functional", "kernels",
               "layer", "models", "neuron", "neuron_widgets", "surrogate", "viz", "widgets")

__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        return importlib.import_module(f"sgcourse.{name}")
    raise AttributeError(f"module 'sgcourse' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
