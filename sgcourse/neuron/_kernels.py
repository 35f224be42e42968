"""Table entries that run the LIF-family time loop in a kernel module (``fused`` or ``triton``).

IF, LIF and ParametricLIF share one kernel, ``lif_multistep``: with :math:`k` the decay,
:math:`H = V + k(X - (V - V_r))` (``decay_input``) or :math:`H = V - k(V - V_r) + X`; IF is
:math:`k = 0` without ``decay_input``. A neuron class provides ``lif_kernel_decay()`` returning
``(k, decay_input)``.
"""

from __future__ import annotations

from typing import Any

import torch

from sgcourse.neuron import _dispatch

__all__ = ["register_lif_kernels"]


def _lif_runner(backend: str) -> _dispatch.Impl:
    def run(node: Any, x_seq: torch.Tensor, state: tuple[torch.Tensor, ...]
            ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        kernels = _dispatch.load_kernels(backend)
        decay, decay_input = node.lif_kernel_decay()
        spike_seq, v_seq = kernels.lif_multistep(
            x_seq, state[0], decay, decay_input=decay_input, v_threshold=node.v_threshold,
            v_reset=node.v_reset, detach_reset=node.detach_reset,
            surrogate=node.surrogate_function)
        return spike_seq, v_seq, (v_seq[-1],)

    return run


def _lif_supports(backend: str) -> Any:
    def supports(node: Any, x_seq: torch.Tensor) -> bool:
        kernels = _dispatch.kernels_if_available(backend)
        return kernels is not None and bool(kernels.supports(node.surrogate_function, x_seq))

    return supports


def register_lif_kernels(cls: type) -> None:
    """Register the ``fused`` and ``triton`` multi-step entries of an IF/LIF-family class."""
    for backend in ("fused", "triton"):
        _dispatch.register(cls, "m", backend, _lif_runner(backend), _lif_supports(backend))
