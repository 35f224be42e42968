r"""Encoders: turn a static intensity :math:`x \in [0, 1]` into a spike train over T steps.

* **Rate (Poisson) coding**: at each step, spike with probability :math:`x`, independently;
  the firing rate over a long window estimates :math:`x`.
* **Latency (time-to-first-spike) coding**: one spike per input, earlier for larger
  :math:`x`; the information is in the timing, not the count.
"""

from __future__ import annotations

import math

import torch

from sgcourse._checks import check_floating_tensor, check_int
from sgcourse.base import MemoryModule, StepModule, check_sequence

__all__ = ["LATENCY_FUNCTIONS", "LatencyEncoder", "PoissonEncoder", "latency_encode",
           "poisson_encode"]

LATENCY_FUNCTIONS: tuple[str, ...] = ("linear", "log")
"""Spike-time maps of :func:`latency_encode`."""


def _check_intensity(x: object, name: str = "x") -> torch.Tensor:
    x = check_floating_tensor(x, name)
    if x.numel() and (torch.isnan(x).any() or x.min() < 0 or x.max() > 1):
        raise ValueError(f"{name} must hold intensities in [0, 1] (scale your data first), got "
                         f"values in [{x.min().item():.4g}, {x.max().item():.4g}]")
    return x


def poisson_encode(x: torch.Tensor, time_steps: int,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Rate code: ``[*]`` → ``[T, *]`` with :math:`S[t] \sim \text{Bernoulli}(x)` independently.

    :math:`\mathbb E\bigl[\frac1T \sum_t S[t]\bigr] = x`. ``generator`` makes it reproducible.
    """
    x = _check_intensity(x)
    time_steps = check_int("time_steps", time_steps, 1)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got "
                        f"{type(generator).__name__}")
    u = torch.rand((time_steps, *x.shape), generator=generator, dtype=x.dtype, device=x.device)
    return (u < x).to(x.dtype)


def latency_encode(x: torch.Tensor, time_steps: int, function: str = "linear") -> torch.Tensor:
    r"""Latency code: ``[*]`` → ``[T, *]``, one spike per element at step :math:`t_f(x)`.

    ``'linear'``: :math:`t_f = \mathrm{round}\bigl((T-1)(1-x)\bigr)`;
    ``'log'``: :math:`t_f = \mathrm{round}\bigl(T - 1 - \ln(\alpha x + 1)\bigr)` with
    :math:`\alpha = e^{T-1} - 1`, computed as :math:`-\ln\bigl(x + (1-x)e^{-(T-1)}\bigr)` so that
    no :math:`e^{T-1}` overflows. Both give :math:`t_f = 0` for :math:`x = 1` and
    :math:`t_f = T-1` for :math:`x = 0` (every input spikes once, even a zero one); ``'log'``
    spreads small intensities over more steps.
    """
    x = _check_intensity(x)
    time_steps = check_int("time_steps", time_steps, 1)
    if function not in LATENCY_FUNCTIONS:
        raise ValueError(f"function must be one of {LATENCY_FUNCTIONS}, got {function!r}")
    last = float(time_steps - 1)
    x64 = x.double()
    if function == "linear":
        t_fire = last * (1.0 - x64)
    else:
        t_fire = -torch.log(x64 + (1.0 - x64) * math.exp(-last))
    t_fire = t_fire.round().long().clamp_(0, time_steps - 1)
    steps = torch.arange(time_steps, device=x.device).view(-1, *([1] * x.dim()))
    return (steps == t_fire).to(x.dtype)


class PoissonEncoder(torch.nn.Module, StepModule):
    r"""Rate (Poisson) encoder: each element spikes with probability :math:`x \in [0, 1]`.

    Stateless: every call draws a fresh sample of the same shape as its input. In single-step
    mode call it once per time step with the static input ``[N, *]``; in multi-step mode give it
    the input repeated over time, ``x.expand(T, *x.shape)``, or use :func:`poisson_encode`.
    """

    def __init__(self, step_mode: str = "s") -> None:
        super().__init__()
        self.step_mode = step_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.step_mode == "m":
            check_sequence(x, "x")
        x = _check_intensity(x)
        return (torch.rand_like(x) < x).to(x.dtype)

    def extra_repr(self) -> str:
        return f"step_mode={self.step_mode!r}"


class LatencyEncoder(MemoryModule):
    r"""Latency (time-to-first-spike) encoder over ``T`` steps; see :func:`latency_encode`.

    Multi-step mode: ``[N, *]`` (the static input) → ``[T, N, *]``. Single-step mode: the first
    call after ``reset()`` encodes its input; that call and the next ones return the frames
    :math:`t = 0, 1, \dots` in turn (cycling after T). Every later call must pass the same
    input (it is compared with the encoded one): a different input (another shape, dtype,
    device or value) raises a :class:`ValueError` instead of silently replaying the code of the
    previous sample, so call :func:`sgcourse.functional.reset_net` before a new sample.

    Args:
        T: number of time steps (>= 1).
        function: ``'linear'`` or ``'log'``.
    """

    def __init__(self, T: int, function: str = "linear", step_mode: str = "s") -> None:
        super().__init__()
        self.T = check_int("T", T, 1)
        if function not in LATENCY_FUNCTIONS:
            raise ValueError(f"function must be one of {LATENCY_FUNCTIONS}, got {function!r}")
        self.function = function
        self.step_mode = step_mode
        self.register_memory("spike", None)
        self.register_memory("encoded", None)
        self.register_memory("t", 0)

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.spike is None:
            self.spike = latency_encode(x, self.T, self.function)
            self.encoded = x.detach().clone()
        else:
            self._require_encoded_input(x)
        frame = self.spike[self.t]
        self.t = (self.t + 1) % self.T
        return frame

    def _require_encoded_input(self, x: object) -> None:
        x = check_floating_tensor(x, "x")
        encoded = self.encoded
        same = (x.shape == encoded.shape and x.dtype == encoded.dtype
                and x.device == encoded.device and torch.equal(x, encoded))
        if not same:
            raise ValueError(
                f"LatencyEncoder: x (shape {tuple(x.shape)}, {x.dtype}) differs from the input "
                f"being encoded since the last reset (shape {tuple(encoded.shape)}, "
                f"{encoded.dtype}), which would replay the old code; call "
                f"sgcourse.functional.reset_net(net) before a new sample")

    def multi_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        return latency_encode(x, self.T, self.function)

    def extra_repr(self) -> str:
        return f"T={self.T}, function={self.function!r}, step_mode={self.step_mode!r}"
