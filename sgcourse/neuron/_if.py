r"""The integrate-and-fire neuron: a perfect integrator, :math:`H[t] = V[t-1] + X[t]`."""

from __future__ import annotations

import torch

from sgcourse.neuron._base import BaseNode, SurrogateFn

__all__ = ["IFNode"]


class IFNode(BaseNode):
    r"""Integrate-and-fire neuron.

    .. math::

        H[t] = V[t-1] + X[t], \qquad S[t] = \Theta(H[t] - V_{th}),

    followed by the hard or soft reset of :class:`~sgcourse.neuron.BaseNode`. Without leak the
    potential keeps any charge below threshold forever; the number of spikes over a window
    approximates :math:`\sum_t X[t] / V_{th}` (the basis of ANN-to-SNN conversion).

    Shapes: ``[N, *]`` → ``[N, *]`` (``step_mode='s'``), ``[T, N, *]`` → ``[T, N, *]`` (``'m'``).

    Example::

        >>> node = IFNode(step_mode='m')
        >>> node(torch.full((3, 1), 0.6)).flatten().tolist()
        [0.0, 1.0, 0.0]
    """

    def __init__(self, v_threshold: float = 1.0, v_reset: float | None = 0.0,
                 surrogate_function: SurrogateFn | None = None, detach_reset: bool = False,
                 step_mode: str = "s", backend: str | None = None,
                 store_v_seq: bool = False) -> None:
        super().__init__(v_threshold=v_threshold, v_reset=v_reset,
                         surrogate_function=surrogate_function, detach_reset=detach_reset,
                         step_mode=step_mode, backend=backend, store_v_seq=store_v_seq)

    def neuronal_charge(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return v + x

    def kernel_arguments(self) -> dict[str, float | bool]:
        """IF as the LIF kernel's special case: decay 0, no input decay."""
        return {"decay": 0.0, "decay_input": False}
