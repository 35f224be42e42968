"""The course room: everything the lessons need that is not the SNN library itself.

- :mod:`sgcourse.course.widgets`: the live explorers (alpha, neuron) and their shared renderer;
- :mod:`sgcourse.course.exercises`: the checks of the lessons' exercises;
- :mod:`sgcourse.course.models` and :mod:`sgcourse.course.bptt`: the lessons' networks and
  training helpers;
- :mod:`sgcourse.course.notebook_tools`: executing lessons with their widget state;
- :mod:`sgcourse.course.classroom`: every lesson as an nbgrader assignment (``classroom`` and
  ``student-copies`` commands);
- :mod:`sgcourse.course.check` and :mod:`sgcourse.course.lab`: the ``check`` and ``lab`` commands.

The library (:mod:`sgcourse.surrogate`, :mod:`sgcourse.neuron`, :mod:`sgcourse.kernels`,
:mod:`sgcourse.base`, :mod:`sgcourse.layer`, :mod:`sgcourse.functional`,
:mod:`sgcourse.encoding`) never imports this package. Submodules load on first use.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

_SUBMODULES = tuple(sorted(module.name for module in pkgutil.iter_modules(__path__)))

__all__ = list(_SUBMODULES)


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        return importlib.import_module(f"sgcourse.course.{name}")
    raise AttributeError(f"module 'sgcourse.course' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
