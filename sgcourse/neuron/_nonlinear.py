r"""Integrate-and-fire neurons with a non-linear leak: quadratic (QIF) and exponential (EIF).

Both are Euler steps (:math:`\Delta t = 1`) of :math:`\tau \dot V = F(V) + X`, then the usual
fire and reset. Their potential starts at :math:`V_{reset}` (``-0.1`` by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from sgcourse._checks import GREATER_THAN_ONE, POSITIVE
from sgcourse.neuron._base import BaseNode, HyperCheck, SurrogateFn, real

__all__ = ["EIFNode", "QIFNode"]


class QIFNode(BaseNode):
    r"""Quadratic integrate-and-fire neuron.

    .. math::

        H[t] = V[t-1] + \frac{1}{\tau}\Bigl(X[t] + a_0\,(V[t-1] - V_{rest})(V[t-1] - V_c)\Bigr)

    Below the critical voltage :math:`V_c` (and above :math:`V_{rest}`) the quadratic term pulls
    the potential back to rest; above :math:`V_c` it accelerates it into a spike.

    Args:
        tau: time constant :math:`\tau > 1`.
        v_c: critical voltage :math:`V_c`.
        a0: sharpness :math:`a_0 > 0`.
        v_threshold: threshold; must exceed ``v_reset``.
        v_rest: resting potential; must be ``>= v_reset`` for a hard reset.
        v_reset: hard-reset value (``None``: soft reset; the state then starts at 0).
        Other arguments: see :class:`~sgcourse.neuron.BaseNode`.
    """

    def __init__(self, tau: float = 2.0, v_c: float = 0.8, a0: float = 1.0,
                 v_threshold: float = 1.0, v_rest: float = 0.0, v_reset: float | None = -0.1,
                 surrogate_function: SurrogateFn | None = None, detach_reset: bool = False,
                 step_mode: str = "s", backend: str | None = None,
                 store_v_seq: bool = False) -> None:
        super().__init__(v_threshold=v_threshold, v_reset=v_reset,
                         surrogate_function=surrogate_function, detach_reset=detach_reset,
                         step_mode=step_mode, backend=backend, store_v_seq=store_v_seq)
        self.tau, self.v_c, self.a0, self.v_rest = tau, v_c, a0, v_rest

    hyper_parameters: ClassVar[dict[str, HyperCheck]] = {
        **BaseNode.hyper_parameters, "tau": real(GREATER_THAN_ONE), "v_c": real(),
        "a0": real(POSITIVE), "v_rest": real()}

    def check_relations(self, values: Mapping[str, Any]) -> None:
        """Also :math:`V_{rest} \\ge V_{reset}` for a hard reset."""
        super().check_relations(values)
        v_rest, v_reset = values.get("v_rest"), values.get("v_reset")
        if v_rest is not None and v_reset is not None and v_rest < v_reset:
            raise ValueError(f"v_rest must be >= v_reset, got v_rest={v_rest} and "
                             f"v_reset={v_reset}")

    def neuronal_charge(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        # (k X + V) + k a0 (V - V_rest)(V - V_c) with k = 1/tau: the fused kernel's operations
        # in its order, so that both backends compute the same bits
        k = 1.0 / self.tau
        return torch.addcmul(x * k + v, v - self.v_rest, v - self.v_c, value=k * self.a0)

    def kernel_arguments(self) -> dict[str, float]:
        """Keyword arguments of ``qif_multistep`` specific to this neuron."""
        return {"tau": self.tau, "v_c": self.v_c, "a0": self.a0, "v_rest": self.v_rest}

    def extra_repr(self) -> str:
        return (f"tau={self.tau}, v_c={self.v_c}, a0={self.a0}, v_rest={self.v_rest}, "
                f"{super().extra_repr()}")


class EIFNode(BaseNode):
    r"""Exponential integrate-and-fire neuron.

    .. math::

        H[t] = V[t-1] + \frac{1}{\tau}\Bigl(X[t] + V_{rest} - V[t-1]
               + \Delta_T \exp\Bigl(\frac{V[t-1] - \theta_{rh}}{\Delta_T}\Bigr)\Bigr)

    A leak towards :math:`V_{rest}` plus an exponential upswing that takes over near the
    rheobase :math:`\theta_{rh}`; :math:`\Delta_T` sets its sharpness.

    Args:
        tau: time constant :math:`\tau > 1`.
        delta_T: sharpness :math:`\Delta_T > 0`.
        theta_rh: rheobase threshold :math:`\theta_{rh}`.
        v_threshold, v_rest, v_reset: as in :class:`QIFNode`.
        Other arguments: see :class:`~sgcourse.neuron.BaseNode`.
    """

    def __init__(self, tau: float = 2.0, delta_T: float = 1.0, theta_rh: float = 0.8,
                 v_threshold: float = 1.0, v_rest: float = 0.0, v_reset: float | None = -0.1,
                 surrogate_function: SurrogateFn | None = None, detach_reset: bool = False,
                 step_mode: str = "s", backend: str | None = None,
                 store_v_seq: bool = False) -> None:
        super().__init__(v_threshold=v_threshold, v_reset=v_reset,
                         surrogate_function=surrogate_function, detach_reset=detach_reset,
                         step_mode=step_mode, backend=backend, store_v_seq=store_v_seq)
        self.tau, self.delta_T, self.theta_rh, self.v_rest = tau, delta_T, theta_rh, v_rest

    hyper_parameters: ClassVar[dict[str, HyperCheck]] = {
        **BaseNode.hyper_parameters, "tau": real(GREATER_THAN_ONE), "delta_T": real(POSITIVE),
        "theta_rh": real(), "v_rest": real()}

    def neuronal_charge(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        # k (X + V_rest) + (1 - k) V + k Delta_T exp((V - theta_rh) / Delta_T) with k = 1/tau:
        # the fused kernel's operations in its order, so that both backends compute the same bits
        k = 1.0 / self.tau
        leak = torch.add((x + self.v_rest) * k, v, alpha=1.0 - k)
        return torch.add(leak, torch.exp((v - self.theta_rh) / self.delta_T),
                         alpha=k * self.delta_T)

    def kernel_arguments(self) -> dict[str, float]:
        """Keyword arguments of ``eif_multistep`` specific to this neuron."""
        return {"tau": self.tau, "delta_t": self.delta_T, "theta_rh": self.theta_rh,
                "v_rest": self.v_rest}

    def extra_repr(self) -> str:
        return (f"tau={self.tau}, delta_T={self.delta_T}, theta_rh={self.theta_rh}, "
                f"v_rest={self.v_rest}, {super().extra_repr()}")

