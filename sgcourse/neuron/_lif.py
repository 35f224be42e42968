r"""Leaky integrate-and-fire neurons: LIF, ParametricLIF (learnable τ), KLIF and LIAF.

All share the leaky charge, with decay :math:`k = 1/\tau` and :math:`V_r` the reset value
(0 for a soft reset):

.. math::

    H[t] = \begin{cases}
        V[t-1] + k\,\bigl(X[t] - (V[t-1] - V_r)\bigr) & \text{decay\_input=True} \\
        V[t-1] - k\,(V[t-1] - V_r) + X[t]            & \text{decay\_input=False}
    \end{cases}

the Euler step (:math:`\Delta t = 1`) of :math:`\tau\,\dot V = -(V - V_r) + X`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import torch
from torch import nn

from sgcourse._checks import GREATER_THAN_ONE, check_bool, check_real
from sgcourse.neuron._base import BaseNode, HyperCheck, SurrogateFn, real

__all__ = ["KLIFNode", "LIAFNode", "LIFNode", "ParametricLIFNode", "leaky_charge"]


def leaky_charge(x: torch.Tensor, v: torch.Tensor, decay: float | torch.Tensor, v_r: float,
                 decay_input: bool) -> torch.Tensor:
    r"""The leaky charge :math:`H = V + k(X - (V - V_r))` or :math:`H = V - k(V - V_r) + X`.

    ``v_r`` is the potential the leak relaxes to: ``v_reset``, or 0 for a soft reset.

    Evaluated as written (SpikingJelly's order too), one rounding per operation. The fused and
    Triton kernels use the same operations in the same order (no fused multiply-add), so every
    backend computes the same potentials bit for bit and fires the same spikes, even where
    :math:`H` lands exactly on the threshold, where another order, equal on paper, can round
    to the other side. With :math:`k = 0` and no input decay it is the IF charge :math:`V + X`.
    """
    if decay_input:
        return v + (x - (v - v_r)) * decay
    return v - (v - v_r) * decay + x


class _LeakyBase(BaseNode):
    """A BaseNode with ``decay_input`` and the leaky charge at decay :meth:`decay`."""

    hyper_parameters: ClassVar[dict[str, HyperCheck]] = {
        **BaseNode.hyper_parameters, "decay_input": check_bool}

    def __init__(self, *, decay_input: bool, v_threshold: float, v_reset: float | None,
                 surrogate_function: SurrogateFn | None, detach_reset: bool, step_mode: str,
                 backend: str | None, store_v_seq: bool) -> None:
        super().__init__(v_threshold=v_threshold, v_reset=v_reset,
                         surrogate_function=surrogate_function, detach_reset=detach_reset,
                         step_mode=step_mode, backend=backend, store_v_seq=store_v_seq)
        self.decay_input = decay_input

    def decay(self) -> float | torch.Tensor:
        r"""The decay factor :math:`k = 1/\tau` per step."""
        raise NotImplementedError

    def neuronal_charge(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return leaky_charge(x, v, self.decay(), self.v_reset_or_zero, self.decay_input)

    def kernel_arguments(self) -> dict[str, float | bool | torch.Tensor]:
        """``decay`` (:math:`k`) and ``decay_input`` for the LIF kernel."""
        return {"decay": self.decay(), "decay_input": self.decay_input}


class LIFNode(_LeakyBase):
    r"""Leaky integrate-and-fire neuron with a fixed membrane time constant :math:`\tau > 1`.

    Charge (see the module docstring), then fire :math:`S = \Theta(H - V_{th})` and reset.
    ``decay_input=True`` scales the input by :math:`1/\tau` too, so a constant input :math:`X`
    drives the potential towards :math:`V_r + X`; with ``decay_input=False`` towards
    :math:`V_r + \tau X`.

    Args:
        tau: membrane time constant in steps, :math:`> 1` (ints accepted).
        decay_input: whether the input is scaled by :math:`1/\tau`.
        Other arguments: see :class:`~sgcourse.neuron.BaseNode`.

    Example::

        >>> node = LIFNode(tau=2., step_mode='m')
        >>> node(torch.full((4, 1), 1.5)).flatten().tolist()
        [0.0, 1.0, 0.0, 1.0]
    """

    def __init__(self, tau: float = 2.0, decay_input: bool = True, v_threshold: float = 1.0,
                 v_reset: float | None = 0.0, surrogate_function: SurrogateFn | None = None,
                 detach_reset: bool = False, step_mode: str = "s", backend: str | None = None,
                 store_v_seq: bool = False) -> None:
        super().__init__(decay_input=decay_input, v_threshold=v_threshold, v_reset=v_reset,
                         surrogate_function=surrogate_function, detach_reset=detach_reset,
                         step_mode=step_mode, backend=backend, store_v_seq=store_v_seq)
        self.tau = tau

    hyper_parameters: ClassVar[dict[str, HyperCheck]] = {
        **_LeakyBase.hyper_parameters, "tau": real(GREATER_THAN_ONE)}

    def decay(self) -> float:
        return 1.0 / self.tau

    def extra_repr(self) -> str:
        return f"tau={self.tau}, decay_input={self.decay_input}, {super().extra_repr()}"


class ParametricLIFNode(_LeakyBase):
    r"""LIF whose decay is learned: :math:`k = 1/\tau = \mathrm{sigmoid}(w)` (PLIF).

    :math:`w` is a scalar ``nn.Parameter`` shared by the layer, initialised to
    :math:`w_0 = -\ln(\tau_0 - 1)` so that :math:`\tau = \tau_0` at the start; the sigmoid keeps
    :math:`\tau > 1` during training. Gradient: :math:`\partial L/\partial w =
    k(1-k) \sum_{t,n} \delta_t\, \partial H_t/\partial k`.

    Args:
        init_tau: initial :math:`\tau_0 > 1`.
        Other arguments: see :class:`LIFNode`.
    """

    def __init__(self, init_tau: float = 2.0, decay_input: bool = True,
                 v_threshold: float = 1.0, v_reset: float | None = 0.0,
                 surrogate_function: SurrogateFn | None = None, detach_reset: bool = False,
                 step_mode: str = "s", backend: str | None = None,
                 store_v_seq: bool = False) -> None:
        init_tau = check_real("init_tau", init_tau, GREATER_THAN_ONE)
        super().__init__(decay_input=decay_input, v_threshold=v_threshold, v_reset=v_reset,
                         surrogate_function=surrogate_function, detach_reset=detach_reset,
                         step_mode=step_mode, backend=backend, store_v_seq=store_v_seq)
        self.w = nn.Parameter(torch.tensor(-math.log(init_tau - 1.0)))

    def decay(self) -> torch.Tensor:
        return self.w.sigmoid()

    @property
    def tau(self) -> float:
        r"""The current :math:`\tau = 1/\mathrm{sigmoid}(w)` as a float."""
        return 1.0 / float(self.w.detach().sigmoid())

    def extra_repr(self) -> str:
        return f"tau={self.tau:.4g}, decay_input={self.decay_input}, {super().extra_repr()}"


class KLIFNode(LIFNode):
    r"""LIF with a learnable scale and a ReLU after charging (KLIF).

    .. math:: H[t] = \mathrm{ReLU}\bigl(k \cdot H_{LIF}[t]\bigr)

    with :math:`k` a scalar ``nn.Parameter`` initialised to 1. With ``scale_reset=True`` the
    reset is applied to :math:`H/k`: hard :math:`\hat S V_{reset} + (1-\hat S) H/k`, soft
    :math:`(H - \hat S V_{th})/k`. Backend: ``'torch'`` only.
    """

    def __init__(self, scale_reset: bool = False, tau: float = 2.0, decay_input: bool = True,
                 v_threshold: float = 1.0, v_reset: float | None = 0.0,
                 surrogate_function: SurrogateFn | None = None, detach_reset: bool = False,
                 step_mode: str = "s", backend: str | None = None,
                 store_v_seq: bool = False) -> None:
        super().__init__(tau=tau, decay_input=decay_input, v_threshold=v_threshold,
                         v_reset=v_reset, surrogate_function=surrogate_function,
                         detach_reset=detach_reset,
                         step_mode=step_mode, backend=backend, store_v_seq=store_v_seq)
        self.scale_reset = scale_reset
        self.k = nn.Parameter(torch.tensor(1.0))

    hyper_parameters: ClassVar[dict[str, HyperCheck]] = {
        **LIFNode.hyper_parameters, "scale_reset": check_bool}

    def neuronal_charge(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.k * super().neuronal_charge(x, v))

    def neuronal_reset(self, h: torch.Tensor, spike: torch.Tensor) -> torch.Tensor:
        if not self.scale_reset:
            return super().neuronal_reset(h, spike)
        spike = spike.detach() if self.detach_reset else spike
        if self.v_reset is None:
            return (h - spike * self.v_threshold) / self.k
        return spike * self.v_reset + (1.0 - spike) * h / self.k

    def extra_repr(self) -> str:
        return f"scale_reset={self.scale_reset}, {super().extra_repr()}"


class LIAFNode(LIFNode):
    r"""Leaky integrate and analog fire: a LIF that outputs an analog value instead of spikes.

    Output :math:`Y[t] = \mathrm{act}(H[t] - V_{th})` if ``threshold_related`` else
    :math:`\mathrm{act}(H[t])`; internally the neuron still fires and resets as a LIF.
    Backend: ``'torch'`` only.

    Args:
        act: the activation (any callable, e.g. ``nn.ReLU()``).
        threshold_related: whether ``act`` sees :math:`H - V_{th}` or :math:`H`.
        Other keyword arguments: see :class:`LIFNode`.
    """

    def __init__(self, act: Callable[[torch.Tensor], torch.Tensor], threshold_related: bool,
                 tau: float = 2.0, decay_input: bool = True, v_threshold: float = 1.0,
                 v_reset: float | None = 0.0, surrogate_function: SurrogateFn | None = None,
                 detach_reset: bool = False, step_mode: str = "s", backend: str | None = None,
                 store_v_seq: bool = False) -> None:
        if not callable(act):
            raise TypeError(f"act must be a callable activation, got {type(act).__name__}")
        super().__init__(tau=tau, decay_input=decay_input, v_threshold=v_threshold,
                         v_reset=v_reset, surrogate_function=surrogate_function,
                         detach_reset=detach_reset,
                         step_mode=step_mode, backend=backend, store_v_seq=store_v_seq)
        self.act = act
        self.threshold_related = threshold_related

    hyper_parameters: ClassVar[dict[str, HyperCheck]] = {
        **LIFNode.hyper_parameters, "threshold_related": check_bool}

    def step(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]
             ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        (v,) = state
        h = self.neuronal_charge(x, v)
        y = self.act(h - self.v_threshold if self.threshold_related else h)
        spike = self.neuronal_fire(h)
        return y, (self.neuronal_reset(h, spike),)

    def extra_repr(self) -> str:
        return f"threshold_related={self.threshold_related}, {super().extra_repr()}"
