r"""Spiking neurons: charge → fire → reset, single-step or multi-step, several backends.

Every neuron follows :class:`BaseNode`: charge :math:`H[t] = f(V[t-1], X[t])`, fire
:math:`S[t] = \Theta(H[t] - V_{th})` (surrogate gradient backward), reset (hard to
:math:`V_{reset}` or soft by :math:`-V_{th}`). ``step_mode='s'`` takes ``[N, *]``,
``step_mode='m'`` takes ``[T, N, *]``. Call :func:`sgcourse.functional.reset_net` between
independent sequences.
"""

from sgcourse.neuron._base import BaseNode
from sgcourse.neuron._cuba import CUBALIFNode
from sgcourse.neuron._dispatch import BACKENDS, KernelUnavailableError
from sgcourse.neuron._if import IFNode
from sgcourse.neuron._izhikevich import IzhikevichNode
from sgcourse.neuron._lif import KLIFNode, LIAFNode, LIFNode, ParametricLIFNode
from sgcourse.neuron._nonlinear import EIFNode, QIFNode
from sgcourse.neuron._nonspiking import (
    DECODES,
    NonSpikingBaseNode,
    NonSpikingIFNode,
    NonSpikingLIFNode,
)

__all__ = [
    "BACKENDS",
    "DECODES",
    "BaseNode",
    "CUBALIFNode",
    "EIFNode",
    "IFNode",
    "IzhikevichNode",
    "KLIFNode",
    "KernelUnavailableError",
    "LIAFNode",
    "LIFNode",
    "NonSpikingBaseNode",
    "NonSpikingIFNode",
    "NonSpikingLIFNode",
    "ParametricLIFNode",
    "QIFNode",
]
