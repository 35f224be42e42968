r"""Spiking neurons: charge → fire → reset, single-step or multi-step, several backends.

Every neuron follows :class:`BaseNode`: charge :math:`H[t] = f(V[t-1], X[t])`, fire
:math:`S[t] = \Theta(H[t] - V_{th})` (surrogate gradient backward), reset (hard to
:math:`V_{reset}` or soft by :math:`-V_{th}`). ``step_mode='s'`` takes ``[N, *]``,
``step_mode='m'`` takes ``[T, N, *]``. Call :func:`sgcourse.functional.reset_net` between
independent sequences.

Multi-step backends (``backend=``): ``'torch'`` (the step through autograd, every neuron),
``'fused'`` (hand-written BPTT, :mod:`sgcourse.kernels.fused`: IF, LIF, ParametricLIF, QIF, EIF,
Izhikevich) and ``'triton'`` (CUDA, IF/LIF/ParametricLIF). ``None`` (default) picks ``'fused'``
when it supports the call (registry surrogate, floating input) and ``'torch'`` otherwise. All
backends compute the same potentials bit for bit, so they fire the same spikes (even where a
potential lands exactly on the threshold); gradients agree up to float rounding.

Constructor names and defaults follow SpikingJelly's. Deliberate differences:

* ints are accepted for real hyper-parameters (``tau=2``); impossible values (``tau <= 1``,
  ``v_threshold <= v_reset``, NaN, …) raise :class:`ValueError` naming the argument, at
  construction and on later assignment;
* the default surrogate is a fresh :class:`~sgcourse.surrogate.Sigmoid` per neuron (never one
  shared instance), also for :class:`CUBALIFNode` (SpikingJelly: ``Rect``);
* a stored state whose shape differs from the new input raises an error that says to call
  ``reset_net`` (instead of silently restarting from rest);
* ``v_seq`` (with ``store_v_seq=True``) holds every post-reset :math:`V[t]` since the last
  reset, in both step modes;
* eval mode computes exactly what train mode computes;
* :class:`IzhikevichNode` honours ``detach_reset`` in its :math:`S\,V_{reset}` and :math:`b\,S`
  terms too (see its docstring); forward values are unchanged;
* non-spiking read-outs return a tensor for ``decode=None`` and spell ``'last-mem'`` like the
  other decodes (``'last_mem'`` accepted).
"""

from sgcourse.neuron import _kernels  # noqa: F401  (enters the kernel backends in the table)
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
