r"""Checks for the exercise of lesson 04 (writing your own surrogate).

Exercise — the triangle surrogate as a spike function::

    def triangle_spike(x, width=1.0): ...   # forward Θ(x), backward g · σ′(x)
    check_triangle_spike(triangle_spike)

forward :math:`\Theta(x)` (1 where :math:`x \ge 0`), backward the incoming gradient :math:`g`
times

.. math:: \sigma'(x) = \frac{1}{w}\max\Bigl(0,\ 1 - \frac{|x|}{w}\Bigr),

a triangle of half-width :math:`w` and peak :math:`1/w` (1 at the default :math:`w = 1`). The
reference is the library's :class:`sgcourse.surrogate.PiecewiseQuadratic` with
:math:`\alpha = 1/w`, whose σ′ is :math:`\max(0, \alpha - \alpha^2|x|)`, the same triangle.
Every correct form passes: an ``autograd.Function`` (with or without ``setup_context``), the
"detach trick" :math:`\Theta(x) + (\sigma(x) - \mathrm{sg}(\sigma(x)))` (brackets first: left to
right, :math:`(\Theta + \sigma) - \sigma` is off by a rounding error), or the library itself.
"""

from __future__ import annotations

import torch

from sgcourse import surrogate
from sgcourse.course.exercises import (
    ExerciseError,
    call_learner,
    require_callable,
    require_tensor_like,
)

__all__ = ["check_triangle_spike"]

#: (width, dtype): inputs include 0, ±width and points outside the support.
_CASES: tuple[tuple[float, torch.dtype], ...] = (
    (1.0, torch.float64), (0.5, torch.float64), (2.0, torch.float64), (1.0, torch.float32))


def _inputs(width: float, dtype: torch.dtype) -> torch.Tensor:
    base = torch.tensor([-2.5, -1.0, -0.75, -0.3, -0.1, 0.0, 0.05, 0.2, 0.5, 0.9, 1.0, 1.6, 3.0],
                        dtype=torch.float64)
    return (base * width).to(dtype)


def _reference(x: torch.Tensor, width: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Θ(x) and σ′(x) from the library's PiecewiseQuadratic(alpha = 1/width), in float64."""
    reference = surrogate.PiecewiseQuadratic(alpha=1.0 / width)
    x64 = x.detach().double()
    return surrogate.heaviside(x64), reference.derivative(x64)


def _show(values: torch.Tensor, digits: int = 3) -> str:
    """``values`` as a short list; ``digits=9`` shows a float32 rounding error (0.99999994)."""
    return "[" + ", ".join(f"{v:.{digits}g}" for v in values.tolist()) + "]"


def check_triangle_spike(fn: object) -> str:
    r"""Check ``fn(x, width)``: forward :math:`\Theta(x)`, backward :math:`g\,\sigma'(x)`.

    ``fn`` is called on float64 and float32 inputs (including 0, :math:`\pm w` and points
    outside the support) for :math:`w \in \{1, 0.5, 2\}`. The forward value must equal
    :math:`\Theta(x)` exactly (any floating dtype); the gradient, back-propagated with an
    incoming gradient :math:`g` that differs from entry to entry, must equal
    :math:`g \cdot \max(0, 1 - |x|/w)/w` (PiecewiseQuadratic with :math:`\alpha = 1/w`). Hints
    name the usual mistakes: σ in the forward pass, ``>`` instead of ``>=``, spikes off by a
    rounding error (the detach trick without brackets; shown to 9 digits), no gradient at all,
    the incoming gradient not multiplied in, the peak not :math:`1/w`, a σ′ that is not zero
    outside :math:`|x| < w`.
    """
    fn = require_callable(fn, "check_triangle_spike", "triangle_spike")
    for width, dtype in _CASES:
        x = _inputs(width, dtype).requires_grad_(True)
        x_before = x.detach().clone()
        dtype_name = str(dtype).replace("torch.", "")
        label = f"triangle_spike(x, width={width:g}) with {dtype_name} x"
        out = call_learner(fn, label, x, width)
        if not torch.equal(x.detach(), x_before):
            raise ExerciseError(f"{label} changed x in place; compute a new tensor instead.")
        out = require_tensor_like(out, label, x, "x")
        if not out.is_floating_point():
            raise ExerciseError(f"{label} returned dtype {out.dtype}: spikes are numbers that "
                                f"multiply weights; return (x >= 0).to(x.dtype).")
        want_out, want_derivative = _reference(x, width)
        got_out = out.detach().double()
        if not torch.equal(got_out, want_out):
            raise ExerciseError(f"{label} returned {_show(got_out, 9)} for x = {_show(x.detach())};"
                                f" expected Θ(x) = {_show(want_out)}: "
                                f"{_forward_hint(got_out, x.detach().double(), width)}")
        if out.grad_fn is None:
            raise ExerciseError(f"{label} returned the right spikes but no gradient reaches x "
                                f"(the output has no grad_fn): a comparison such as x >= 0 has no"
                                f" derivative. Return the spikes from an autograd.Function whose "
                                f"backward multiplies grad_output by σ′(x).")
        upstream = torch.linspace(0.5, 2.0, len(x), dtype=out.dtype)  # g differs per entry
        try:
            (grad,) = torch.autograd.grad(out, x, grad_outputs=upstream, allow_unused=True)
        except Exception as error:  # the learner's backward may fail in any way; report how
            raise ExerciseError(f"back-propagating through {label} raised "
                                f"{type(error).__name__}: {error} (backward must return one "
                                f"gradient per input of forward: None for width)") from error
        if grad is None:
            raise ExerciseError(f"{label}: no gradient reaches x; the backward pass must return "
                                f"grad_output · σ′(x) as the gradient of x.")
        got = grad.detach().double()
        g = upstream.double()
        tolerance = 1e-9 if dtype == torch.float64 and out.dtype == torch.float64 else 1e-5
        if torch.allclose(got, g * want_derivative, rtol=0, atol=tolerance):
            continue
        raise ExerciseError(f"{label}: with incoming gradients g = {_show(g)} the gradient of x "
                            f"is {_show(got)}; expected g·σ′(x) = {_show(g * want_derivative)}: "
                            f"{_backward_hint(got, g, x.detach().double(), width, tolerance)}")
    return ("Correct: Θ(x) forward and g·max(0, 1 − |x|/w)/w backward, the same as "
            "PiecewiseQuadratic(alpha=1/w).")


def _forward_hint(got: torch.Tensor, x: torch.Tensor, width: float) -> str:
    """Name the likely mistake behind a wrong forward value."""
    primitive = surrogate.PiecewiseQuadratic(alpha=1.0 / width, spiking=False)(x)
    derivative = surrogate.PiecewiseQuadratic(alpha=1.0 / width).derivative(x)
    heaviside = surrogate.heaviside(x).to(got.dtype)
    if torch.allclose(got, primitive, rtol=0, atol=1e-5):
        return ("that is the smooth σ(x). The spiking forward pass returns the step Θ(x) "
                "(all-or-none spikes); σ only shapes the backward pass through σ′.")
    if torch.allclose(got, derivative, rtol=0, atol=1e-5):
        return "that is σ′(x); the forward pass returns Θ(x), σ′ belongs to the backward pass."
    if torch.equal(got, (x > 0).to(got.dtype)):
        return ("at x = 0 the library's convention is Θ(0) = 1 (a neuron exactly at threshold "
                "fires): use x >= 0 instead of x > 0.")
    if not torch.all((got == 0) | (got == 1)):
        if torch.allclose(got, heaviside, rtol=0, atol=1e-5):
            return ("not exactly 0 and 1, off by a rounding error. Python adds left to right: "
                    "theta + sigma - sigma.detach() is (theta + sigma) - sigma, and theta + sigma "
                    "is rounded. Subtract first: theta + (sigma - sigma.detach()) adds an exact "
                    "0 and keeps the gradient of sigma.")
        return "spikes are all-or-none: every entry must be exactly 0.0 or 1.0."
    return "the forward pass is Θ(x) = 1 where x >= 0, else 0."


def _backward_hint(got: torch.Tensor, g: torch.Tensor, x: torch.Tensor, width: float,
                   tolerance: float) -> str:
    """Name the likely mistake behind a wrong gradient."""
    triangle = torch.clamp(1 - x.abs() / width, min=0) / width

    def close(candidate: torch.Tensor) -> bool:
        return torch.allclose(got, candidate, rtol=0, atol=tolerance)

    if close(triangle):
        return ("the incoming gradient is missing: by the chain rule backward returns "
                "grad_output * σ′(x), not σ′(x) alone.")
    if width != 1.0 and close(g * triangle * width):
        return ("the peak is 1, not 1/w: divide by width, σ′(x) = max(0, 1 − |x|/w)/w, so that "
                "the area under σ′ is 1 (σ rises from 0 to 1).")
    if width != 1.0 and close(g * torch.clamp(width - width**2 * x.abs(), min=0)):
        return ("that is PiecewiseQuadratic with alpha = w; the triangle of half-width w is "
                "alpha = 1/w: σ′(x) = max(0, 1 − |x|/w)/w.")
    if close(g * (1 - x.abs() / width) / width):
        return ("outside |x| < w the gradient must be 0, not negative: clamp, "
                "max(0, 1 − |x|/w)/w (torch.clamp(..., min=0)).")
    if close(-g * triangle):
        return "the sign is flipped: σ′ is positive inside the support."
    if torch.allclose(got, torch.zeros_like(got), rtol=0, atol=tolerance):
        return "the gradient is zero everywhere: the backward pass must return grad_output·σ′(x)."
    return "check σ′(x) = max(0, 1 − |x|/w)/w at the points where the values differ."
