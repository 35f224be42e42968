r"""Checks for the exercises of lesson 02 (surrogate gradients).

Exercise 1 — implement :math:`\sigma'` of the sigmoid surrogate by hand::

    def sigmoid_derivative(x: torch.Tensor, alpha: float) -> torch.Tensor: ...
    check_sigmoid_derivative(sigmoid_derivative)

with :math:`\sigma(x) = \mathrm{sgm}(\alpha x) = 1 / (1 + e^{-\alpha x})` and hence
:math:`\sigma'(x) = \alpha\,\mathrm{sgm}(\alpha x)\,(1 - \mathrm{sgm}(\alpha x))`.

Exercise 2 — choose the steepness that gives a wanted peak of :math:`\sigma'`::

    def alpha_for_peak(name: str, peak: float) -> float: ...
    check_alpha_for_peak(alpha_for_peak)

for the surrogates in :data:`PEAK_SURROGATES`, all of which peak at the threshold :math:`x = 0`
(:math:`\sigma'(0) = \alpha/4` for Sigmoid, :math:`\alpha/2` for ATan, PiecewiseExp and SoftSign,
:math:`\alpha/\sqrt\pi` for Erf).

Each check calls the learner's function, raises
:class:`~sgcourse.course.exercises.ExerciseError` with a hint when the answer is wrong (or still a
``raise NotImplementedError`` stub), and returns a short confirmation otherwise.
"""

from __future__ import annotations

import torch

from sgcourse import surrogate
from sgcourse._checks import POSITIVE, check_real
from sgcourse.course.exercises import (
    ExerciseError,
    call_learner,
    require_callable,
    require_tensor_like,
)

__all__ = [
    "PEAK_SURROGATES",
    "check_alpha_for_peak",
    "check_sigmoid_derivative",
]

#: Surrogates of exercise 2 and σ′(0) as a function of alpha (as the learner would write it).
PEAK_SURROGATES: dict[str, str] = {
    "sigmoid": "α/4",
    "atan": "α/2",
    "piecewise_exp": "α/2",
    "soft_sign": "α/2",
    "erf": "α/√π",
}

_ALPHAS = (1.0, 4.0, 5.0)
_PEAKS = (0.5, 1.0, 2.0)


def check_sigmoid_derivative(fn: object) -> str:
    r"""Check ``fn(x, alpha)`` against :math:`\alpha s (1 - s)`, :math:`s = \mathrm{sgm}(\alpha x)`.

    ``fn`` must return a tensor of the shape of ``x``; it is compared (relative and absolute
    tolerance 1e-5) with :meth:`sgcourse.surrogate.Sigmoid.derivative` on 61 points of [−3, 3]
    for alpha = 1, 4 and 5. Typical mistakes get a specific hint: returning σ itself, forgetting
    the factor α of the chain rule, ignoring the ``alpha`` argument.
    """
    fn = require_callable(fn, "check_sigmoid_derivative", "sigmoid_derivative")
    x = torch.linspace(-3.0, 3.0, 61, dtype=torch.float64)
    for alpha in _ALPHAS:
        label = f"sigmoid_derivative(x, alpha={alpha:g})"
        got = call_learner(fn, label, x.clone(), alpha)
        got = require_tensor_like(got, label, x, "x")
        if not got.is_floating_point():
            raise ExerciseError(f"{label} must return floating-point values, got {got.dtype}")
        got = got.detach().to(torch.float64)
        expected = surrogate.Sigmoid(alpha=alpha).derivative(x)
        if torch.allclose(got, expected, rtol=1e-5, atol=1e-5):
            continue
        raise ExerciseError(f"{label} is not σ′ of the sigmoid surrogate: "
                            f"{_derivative_hint(got, x, alpha, expected)}")
    return ("Correct: σ′(x) = α·sgm(αx)·(1 − sgm(αx)) matches surrogate.Sigmoid(alpha).derivative "
            "for alpha = 1, 4 and 5; its peak σ′(0) = α/4 is 1 at the default alpha = 4.")


def _derivative_hint(got: torch.Tensor, x: torch.Tensor, alpha: float,
                     expected: torch.Tensor) -> str:
    """Name the likely mistake behind a wrong sigmoid derivative."""

    def close(other: torch.Tensor) -> bool:
        return torch.allclose(got, other, rtol=1e-4, atol=1e-4)

    s = torch.sigmoid(alpha * x)
    s_unscaled = torch.sigmoid(x)
    if close(s):
        hint = "this is σ(x) = sgm(αx) itself; the backward pass needs its derivative σ′(x)."
    elif close(s * (1 - s)):
        hint = ("this is sgm′(αx) without the chain-rule factor: d/dx sgm(αx) = "
                "α·sgm′(αx), so multiply by alpha (otherwise the peak is 1/4, not α/4).")
    elif close(surrogate.Sigmoid(alpha=4.0).derivative(x)):
        hint = "this is σ′ for alpha = 4: use the alpha argument instead of a fixed value."
    elif close(s_unscaled * (1 - s_unscaled)) or close(alpha * s_unscaled * (1 - s_unscaled)):
        hint = "the sigmoid must be evaluated at alpha * x, not at x."
    else:
        index = int((got - expected).abs().argmax())
        where = round(float(x[index]), 2) + 0.0
        hint = (f"at x = {where:.2f} expected {float(expected[index]):.6f}, got "
                f"{float(got[index]):.6f}. Write s = torch.sigmoid(alpha * x) and apply the "
                f"chain rule to σ(x) = sgm(αx).")
    return hint


def check_alpha_for_peak(fn: object) -> str:
    r"""Check ``fn(name, peak)`` returns the alpha giving :math:`\max_x \sigma'(x) =` ``peak``.

    Tried for every surrogate of :data:`PEAK_SURROGATES` and peaks 0.5, 1 and 2; the peak of
    ``surrogate.get(name, alpha=answer)`` is measured at the threshold :math:`x = 0` and must match
    to a relative 1e-6. The answer may be a Python number or a one-element tensor; the learner's
    function is called only through :func:`~sgcourse.course.exercises.call_learner`.
    """
    fn = require_callable(fn, "check_alpha_for_peak", "alpha_for_peak")
    for_peak_one: dict[str, float] = {}
    for name, formula in PEAK_SURROGATES.items():
        class_name = surrogate.spec(name).class_name
        for peak in _PEAKS:
            label = f"alpha_for_peak({name!r}, {peak:g})"
            answer = call_learner(fn, label, name, peak)
            try:
                alpha = check_real("alpha", answer, POSITIVE)
            except (TypeError, ValueError) as error:
                raise ExerciseError(f"{label} must return a positive number: {error}") from None
            got = float(surrogate.get(name, alpha=alpha).derivative(
                torch.zeros(1, dtype=torch.float64)))
            if abs(got - peak) > 1e-6 * peak:
                raise ExerciseError(
                    f"{label} returned alpha = {alpha:.6g}, which gives {class_name} a peak "
                    f"σ′(0) = {got:.6g}, not {peak:g}. For {class_name}, σ′(0) = {formula}: "
                    f"solve {formula} = peak for α.")
            if peak == 1.0:
                for_peak_one[class_name] = alpha
    defaults = ", ".join(f"{class_name} {alpha:.4g}" for class_name, alpha in for_peak_one.items())
    return (f"Correct for {len(PEAK_SURROGATES)} surrogates and peaks 0.5, 1, 2. The alphas for "
            f"peak 1 ({defaults}) are sgcourse's defaults.")
