r"""Spiking neurons: charge → fire → reset, single-step or multi-step, several backends.

Every neuron follows :class:`BaseNode`: charge :math:`H[t] = f(V[t-1], X[t])`, fire
:math:`S[t] = \Theta(H[t] - V_{th})` (surrogate gradient backward), reset (hard to
:math:`V_{reset}` or soft by :math:`-V_{th}`). ``step_mode='s'`` takes ``[N, *]``,
``step_mode='m'`` takes ``[T, N, *]``. Call :func:`sgcourse.functional.reset_net` between
independent sequences.
"""

from sgcourse.neuron._base import BaseNode
from sgcourse.neuron._dispatch import BACKENDS, KernelUnavailableError
from sgcourse.neuron._if import IFNode
from sgcourse.neuron._lif import KLIFNode, LIAFNode, LIFNode, ParametricLIFNode

__all__ = [
    "BACKENDS",
    "BaseNode",
    "IFNode",
    "KLIFNode",
    "KernelUnavailableError",
    "LIAFNode",
    "LIFNode",
    "ParametricLIFNode",
]
