r"""The Izhikevich neuron (two-variable form): a quadratic membrane with an adaptation current."""

from __future__ import annotations

from typing import ClassVar

import torch

from sgcourse._checks import GREATER_THAN_ONE, POSITIVE
from sgcourse.neuron._base import BaseNode, HyperCheck, SurrogateFn, real

__all__ = ["IzhikevichNode"]


class IzhikevichNode(BaseNode):
    r"""Izhikevich neuron: QIF membrane :math:`V` plus an adaptation current :math:`W`.

    Per step, with :math:`\hat S` the spike (gradient cut when ``detach_reset``):

    .. math::

        H[t] &= V[t-1] + \tfrac{1}{\tau}\bigl(X[t] + a_0 (V[t-1] - V_{rest})(V[t-1] - V_c)
                - W[t-1]\bigr) \\
        W'   &= W[t-1] + \tfrac{1}{\tau_w}\bigl(a\,(H[t] - V_{rest}) - W[t-1]\bigr) \\
        S[t] &= \Theta(H[t] - V_{th}) \\
        V[t] &= \hat S[t]\,V_{reset} + (1 - \hat S[t])\,H[t]
                \quad (\text{soft: } H[t] - \hat S[t]\,V_{th}) \\
        W[t] &= W' + b\,\hat S[t]

    :math:`a` couples the adaptation to the sub-threshold potential, :math:`b` is the jump of
    :math:`W` at each spike (spike-frequency adaptation for :math:`b > 0`).

    **Difference from SpikingJelly 0.0.0.0.14 / GitHub.** There the hard reset is
    :math:`(1-\hat S)H + S\,V_{reset}` and the jump :math:`b\,S`: the spike in those two terms
    keeps its gradient even with ``detach_reset=True``. Here ``detach_reset`` means what it means
    for every other neuron, the reset (of :math:`V` and :math:`W`) takes no part in
    back-propagation; SpikingJelly 2.0's reference also detaches the reset. Forward values are
    identical, and so are gradients when ``detach_reset=False``. For the same reason the fused
    kernel (which reproduces the 0.0.0.0.14 gradient) is used only when ``detach_reset=False``.

    Args:
        tau, v_c, a0, v_rest: membrane as in :class:`QIFNode` (``v_rest=-0.1`` here).
        w_rest: initial (and reset) adaptation current.
        tau_w: adaptation time constant :math:`\tau_w > 1`.
        a, b: sub-threshold coupling and spike-triggered jump.
        Other arguments: see :class:`~sgcourse.neuron.BaseNode` (``v_reset=0.``).

    State: ``v`` and ``w``.
    """

    state_names = ("v", "w")

    def __init__(self, tau: float = 2.0, v_c: float = 0.8, a0: float = 1.0,
                 v_threshold: float = 1.0, v_reset: float | None = 0.0, v_rest: float = -0.1,
                 w_rest: float = 0.0, tau_w: float = 2.0, a: float = 0.0, b: float = 0.0,
                 surrogate_function: SurrogateFn | None = None, detach_reset: bool = False,
                 step_mode: str = "s", backend: str | None = None,
                 store_v_seq: bool = False) -> None:
        super().__init__(v_threshold=v_threshold, v_reset=v_reset,
                         surrogate_function=surrogate_function, detach_reset=detach_reset,
                         step_mode=step_mode, backend=backend, store_v_seq=store_v_seq)
        self.tau, self.v_c, self.a0, self.v_rest = tau, v_c, a0, v_rest
        self.tau_w, self.a, self.b = tau_w, a, b
        self.register_memory("w", 0.0)
        self.w_rest = w_rest

    hyper_parameters: ClassVar[dict[str, HyperCheck]] = {
        **BaseNode.hyper_parameters, "tau": real(GREATER_THAN_ONE), "v_c": real(),
        "a0": real(POSITIVE), "v_rest": real(), "w_rest": real(), "tau_w": real(GREATER_THAN_ONE),
        "a": real(), "b": real()}

    def hyper_parameter_changed(self, name: str) -> None:
        """Also: a new ``w_rest`` becomes the reset (and initial) value of ``w``."""
        super().hyper_parameter_changed(name)
        if name == "w_rest" and "w" in self._memories:
            self.set_reset_value("w", self.w_rest)
            if not isinstance(self.w, torch.Tensor):
                self.w = self.w_rest

    def neuronal_charge(self, x: torch.Tensor, v: torch.Tensor,
                        w: torch.Tensor | None = None) -> torch.Tensor:
        # (k X + V) + k a0 (V - V_rest)(V - V_c) - k W with k = 1/tau: the fused kernel's
        # operations in its order, so that both backends compute the same bits
        k = 1.0 / self.tau
        h = torch.addcmul(x * k + v, v - self.v_rest, v - self.v_c, value=k * self.a0)
        return h if w is None else torch.sub(h, w, alpha=k)

    def step(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]
             ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        v, w = state
        h = self.neuronal_charge(x, v, w)
        # W' = (1 - 1/tau_w) W + (a/tau_w)(H - V_rest), in the fused kernel's order
        w = torch.add(w * (1.0 - 1.0 / self.tau_w), h - self.v_rest, alpha=self.a / self.tau_w)
        spike = self.neuronal_fire(h)
        spike_hat = spike.detach() if self.detach_reset else spike
        if self.b != 0.0:
            w = torch.add(w, spike_hat, alpha=self.b)
        return spike, (self.neuronal_reset(h, spike), w)

    def kernel_arguments(self) -> dict[str, float]:
        """Keyword arguments of ``izhikevich_multistep`` specific to this neuron."""
        return {"tau": self.tau, "v_c": self.v_c, "a0": self.a0, "v_rest": self.v_rest,
                "tau_w": self.tau_w, "a": self.a, "b": self.b}

    def extra_repr(self) -> str:
        return (f"tau={self.tau}, v_c={self.v_c}, a0={self.a0}, v_rest={self.v_rest}, "
                f"w_rest={self.w_rest}, tau_w={self.tau_w}, a={self.a}, b={self.b}, "
                f"{super().extra_repr()}")

