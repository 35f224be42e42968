r"""The neuron → kernel wiring: one protocol for every kernel-backed neuron, registered here only.

**Protocol.** A kernel-backed neuron provides ``kernel_arguments()``, the keyword arguments of its
kernel function that are specific to it (for the LIF family ``decay`` and ``decay_input``; for
QIF ``tau, v_c, a0, v_rest``; …). Everything else is common and comes from
:class:`~sgcourse.neuron.BaseNode`: every kernel function is called as

.. code-block:: python

    kernel(x_seq, *state, **node.kernel_arguments(), v_threshold=..., v_reset=...,
           detach_reset=..., surrogate=node.surrogate_function, store_v_seq=node.store_v_seq)

with ``state`` the node's state tensors in ``state_names`` order (``v`` first), and returns
``(spike_seq, *state_seqs)``: the ``[T, ...]`` state sequences, or with
``store_v_seq=False`` the final states only (no ``[T, ...]`` potential sequence is ever
allocated then).

**Registration.** :data:`BINDINGS` lists, for each exact class, the kernel function, the
backends that have it, and any limit of the neuron's own (Izhikevich's fused kernel reproduces
a reference gradient that differs from this library's ``detach_reset=True``). Subclasses are
never bound implicitly (see :mod:`sgcourse.neuron._dispatch`). The fused kernel module is
imported with this module (the Triton one only when that backend is first used).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from sgcourse.neuron import _dispatch
from sgcourse.neuron._if import IFNode
from sgcourse.neuron._izhikevich import IzhikevichNode
from sgcourse.neuron._lif import LIFNode, ParametricLIFNode
from sgcourse.neuron._nonlinear import EIFNode, QIFNode

__all__ = ["BINDINGS", "KernelBinding", "KernelNeuron", "register_kernels"]


class KernelNeuron(Protocol):
    """What a neuron must provide to run on a kernel backend."""

    v_threshold: float
    v_reset: float | None
    detach_reset: bool
    store_v_seq: bool
    surrogate_function: Callable[[torch.Tensor], torch.Tensor]

    def kernel_arguments(self) -> dict[str, Any]:
        """The kernel function's keyword arguments specific to this neuron."""


@dataclass(frozen=True)
class KernelBinding:
    """A neuron class's kernel: the function name, its backends and the neuron's own limits."""

    function: str
    backends: tuple[str, ...]
    accepts: Callable[[Any], bool] = lambda node: True


def _runner(binding: KernelBinding, backend: str) -> _dispatch.Impl:
    def run(node: KernelNeuron, x_seq: torch.Tensor, state: tuple[torch.Tensor, ...]
            ) -> tuple[torch.Tensor, torch.Tensor | None, tuple[torch.Tensor, ...]]:
        kernel = getattr(_dispatch.load_kernels(backend), binding.function)
        spike_seq, *states = kernel(
            x_seq, *state, **node.kernel_arguments(), v_threshold=node.v_threshold,
            v_reset=node.v_reset, detach_reset=node.detach_reset,
            surrogate=node.surrogate_function, store_v_seq=node.store_v_seq)
        if node.store_v_seq:
            return spike_seq, states[0], tuple(s[-1] for s in states)
        return spike_seq, None, tuple(states)

    return run


def _supports(binding: KernelBinding, backend: str) -> Callable[[Any, torch.Tensor], bool]:
    def supports(node: KernelNeuron, x_seq: torch.Tensor) -> bool:
        if not binding.accepts(node):
            return False
        kernels = _dispatch.kernels_if_available(backend)
        return kernels is not None and bool(kernels.supports(node.surrogate_function, x_seq))

    return supports


_LIF = KernelBinding("lif_multistep", ("fused", "triton"))

BINDINGS: dict[type, KernelBinding] = {
    IFNode: _LIF,
    LIFNode: _LIF,
    ParametricLIFNode: _LIF,
    QIFNode: KernelBinding("qif_multistep", ("fused",)),
    EIFNode: KernelBinding("eif_multistep", ("fused",)),
    IzhikevichNode: KernelBinding("izhikevich_multistep", ("fused",),
                                  accepts=lambda node: not node.detach_reset),
}
"""Every kernel-backed neuron class and its kernel (exact classes only)."""


def register_kernels() -> None:
    """Enter every binding of :data:`BINDINGS` in the dispatch table (multi-step mode)."""
    for cls, binding in BINDINGS.items():
        for backend in binding.backends:
            _dispatch.register(cls, "m", backend, _runner(binding, backend),
                               _supports(binding, backend))


register_kernels()
# The fused kernels need nothing beyond torch, so they are imported now rather than at the first
# multi-step call: an import inside a call that torch.compile traces would break its graph.
_dispatch.load_kernels("fused")
