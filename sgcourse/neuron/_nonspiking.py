r"""Non-spiking read-out neurons: integrate the input, never fire, decode the potential trace.

Used as the output layer when the network must produce real numbers (Q-values, regression):
the membrane potential :math:`V[t]` over the sequence is reduced to one value per neuron.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from sgcourse._checks import GREATER_THAN_ONE, check_floating_tensor
from sgcourse.base import MemoryModule, MultiStepModule, check_sequence
from sgcourse.neuron._base import HyperCheck, real

__all__ = ["DECODES", "NonSpikingBaseNode", "NonSpikingIFNode", "NonSpikingLIFNode"]

DECODES: tuple[str | None, ...] = ("last-mem", "max-mem", "max-abs-mem", "mean-mem", None)
"""Ways to reduce the potential trace ``[T, N, *]`` to ``[N, *]`` (``None``: keep the trace)."""


def decode_potential(v_seq: torch.Tensor, decode: str | None) -> torch.Tensor:
    r"""Reduce ``v_seq`` ``[T, N, *]`` over time.

    ``'last-mem'``: :math:`V[T-1]`; ``'max-mem'``: :math:`\max_t V[t]`; ``'mean-mem'``: the mean;
    ``'max-abs-mem'``: the :math:`V[t]` of largest magnitude (sign kept; on a tie the negative
    one); ``None``: ``v_seq`` itself.
    """
    if decode is None:
        return v_seq
    if decode == "last-mem":
        return v_seq[-1]
    if decode == "max-mem":
        return v_seq.max(0).values
    if decode == "mean-mem":
        return v_seq.mean(0)
    highest, lowest = v_seq.max(0).values, v_seq.min(0).values
    return torch.where(highest.abs() > lowest.abs(), highest, lowest)


class NonSpikingBaseNode(MemoryModule, MultiStepModule):
    """Base of the non-spiking neurons: multi-step only; each call starts from :math:`V = 0`.

    Args:
        decode: one of :data:`DECODES` (SpikingJelly's ``'last_mem'`` spelling is accepted).

    **Differences from SpikingJelly:** ``decode=None`` returns the trace as a tensor
    ``[T, N, *]`` (not a list). The last trace is kept in ``v`` (the final potential) for
    inspection; it is not carried to the next call.
    """

    aliases: ClassVar[dict[str, str]] = {"last_mem": "last-mem"}

    hyper_parameters: ClassVar[dict[str, HyperCheck]] = {}
    """Checks applied on every assignment, in ``__init__`` and later (as for the spiking
    neurons); subclasses extend the dict."""

    def __init__(self, decode: str | None = None) -> None:
        super().__init__()
        self.step_mode = "m"
        self.decode = decode
        self.register_memory("v", 0.0)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "decode":
            value = self.aliases.get(value, value) if isinstance(value, str) else value
            if value not in DECODES:
                raise ValueError(f"decode must be one of {DECODES}, got {value!r}")
        check = type(self).hyper_parameters.get(name)
        if check is not None:
            value = check(name, value)
        super().__setattr__(name, value)

    def neuronal_charge(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """:math:`V[t] = f(V[t-1], X[t])`; subclasses define it."""
        raise NotImplementedError

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        check_floating_tensor(check_sequence(x_seq), "x_seq")
        v = torch.zeros_like(x_seq[0])
        trace = []
        for x in x_seq.unbind(0):
            v = self.neuronal_charge(x, v)
            trace.append(v)
        self.v = v
        return decode_potential(torch.stack(trace), self.decode)

    def extra_repr(self) -> str:
        return f"decode={self.decode!r}"


class NonSpikingIFNode(NonSpikingBaseNode):
    r"""Non-spiking integrator: :math:`V[t] = V[t-1] + X[t]`, then ``decode``."""

    def neuronal_charge(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return v + x


class NonSpikingLIFNode(NonSpikingBaseNode):
    r"""Non-spiking leaky integrator: :math:`V[t] = V[t-1] + (X[t] - V[t-1])/\tau`, then ``decode``.

    Args:
        tau: time constant :math:`\tau > 1`.
        decode: see :class:`NonSpikingBaseNode`.
    """

    hyper_parameters: ClassVar[dict[str, HyperCheck]] = {"tau": real(GREATER_THAN_ONE)}

    def __init__(self, tau: float = 2.0, decode: str | None = None) -> None:
        self.hyper_parameters["tau"]("tau", tau)  # fail before building anything
        super().__init__(decode)
        self.tau = tau

    def neuronal_charge(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return v + (x - v) / self.tau

    def extra_repr(self) -> str:
        return f"tau={self.tau}, {super().extra_repr()}"
