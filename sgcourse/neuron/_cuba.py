r"""Current-based LIF (CUBA): a synaptic current filters the input before the membrane."""

from __future__ import annotations

from typing import ClassVar

import torch

from sgcourse._checks import Domain
from sgcourse.neuron._base import BaseNode, HyperCheck, SurrogateFn, real

__all__ = ["CUBALIFNode"]

_DECAY = Domain("a decay factor in [0, 1]", lambda v: 0.0 <= v <= 1.0)


class CUBALIFNode(BaseNode):
    r"""Current-based leaky integrate-and-fire neuron, with two states :math:`I` and :math:`V`.

    .. math::

        I[t] = c_{decay}\, I[t-1] + X[t], \qquad H[t] = v_{decay}\, V[t-1] + I[t],

    then fire :math:`S = \Theta(H - V_{th})` and reset :math:`V`. The current's decay gives each
    input spike a lasting effect (a post-synaptic current) instead of an instantaneous kick.

    Args:
        c_decay: current decay per step, in [0, 1].
        v_decay: membrane decay per step, in [0, 1].
        v_threshold: threshold (0.5 by default).
        Other arguments: see :class:`~sgcourse.neuron.BaseNode`.

    **Difference from SpikingJelly:** the default surrogate is a fresh
    :class:`~sgcourse.surrogate.Sigmoid` like every other neuron here (SpikingJelly uses ``Rect``
    for this class; pass ``surrogate.Rect()`` to match). State: ``v`` and ``i`` (from 0).
    """

    state_names = ("v", "i")

    def __init__(self, c_decay: float = 0.5, v_decay: float = 0.75, v_threshold: float = 0.5,
                 v_reset: float | None = 0.0, surrogate_function: SurrogateFn | None = None,
                 detach_reset: bool = False, step_mode: str = "s", backend: str | None = None,
                 store_v_seq: bool = False) -> None:
        super().__init__(v_threshold=v_threshold, v_reset=v_reset,
                         surrogate_function=surrogate_function, detach_reset=detach_reset,
                         step_mode=step_mode, backend=backend, store_v_seq=store_v_seq)
        self.c_decay, self.v_decay = c_decay, v_decay
        self.register_memory("i", 0.0)

    hyper_parameters: ClassVar[dict[str, HyperCheck]] = {
        **BaseNode.hyper_parameters, "c_decay": real(_DECAY), "v_decay": real(_DECAY)}

    def step(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]
             ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        v, i = state
        i = self.c_decay * i + x
        h = self.v_decay * v + i
        spike = self.neuronal_fire(h)
        return spike, (self.neuronal_reset(h, spike), i)

    def extra_repr(self) -> str:
        return f"c_decay={self.c_decay}, v_decay={self.v_decay}, {super().extra_repr()}"
