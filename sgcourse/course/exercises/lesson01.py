r"""Checks for the exercises of lesson 01 (the Heaviside step and the dead gradient).

Exercise 1 — the spike as a Heaviside step of the membrane potential::

    def fire(h: torch.Tensor, v_threshold: float) -> torch.Tensor: ...
    check_fire(fire)

must return :math:`S = \Theta(H - V_{th})` with :math:`\Theta(x) = 1` for :math:`x \ge 0` and 0
otherwise, for the charged membrane potential :math:`H` (``h``): a float tensor (the dtype of
``h``) of 0s and 1s, with a spike exactly at threshold.

Exercise 2 — measure how much of a gradient is alive::

    def nonzero_fraction(gradient: torch.Tensor) -> float: ...
    check_nonzero_fraction(nonzero_fraction)

must return the share of entries of ``gradient`` that are not exactly 0.0 (a number in [0, 1]);
the lesson applies it to the hidden weight gradient of a true-gradient network (0.0) and of a
surrogate-gradient network.

Each check calls the learner's function on prepared inputs, raises
:class:`~sgcourse.course.exercises.ExerciseError` with a hint when the answer is wrong (or still a
``raise NotImplementedError`` stub), and returns a short confirmation otherwise.
"""

from __future__ import annotations

import math

import torch

from sgcourse.course.exercises import (
    ExerciseError,
    call_learner,
    require_callable,
    require_number,
    require_tensor_like,
)

__all__ = ["check_fire", "check_nonzero_fraction"]


# --- exercise 1: S = Θ(H − V_th) -------------------------------------------------------------

_FIRE_CASES: tuple[tuple[tuple[float, ...], float, torch.dtype], ...] = (
    ((-1.0, 0.0, 0.5, 0.999, 1.0, 1.001, 3.0), 1.0, torch.float32),
    ((0.2, 0.5, 0.7, -0.5), 0.5, torch.float64),
    ((-2.0, -1.0, 0.0), -1.0, torch.float32),
)


def check_fire(fn: object) -> str:
    r"""Check ``fn(h, v_threshold)`` against :math:`\Theta(H - V_{th})` (1 where H ≥ V_th, else 0).

    ``fn`` is called on float32 and float64 potentials ``h`` with thresholds 1, 0.5 and −1,
    including potentials exactly at threshold. It must return a tensor of the shape and dtype of
    ``h``. Specific hints for the usual mistakes: a boolean result, ``>`` instead of ``>=`` (no
    spike at threshold), the comparison reversed, a fixed threshold of 1, ``h`` modified in place.
    """
    fn = require_callable(fn, "check_fire", "fire")
    for values, threshold, dtype in _FIRE_CASES:
        h = torch.tensor(values, dtype=dtype)
        h_before = h.clone()
        label = f"fire(h, v_threshold={threshold:g}) with h = {list(values)}"
        got = call_learner(fn, label, h, threshold)
        if not torch.equal(h, h_before):
            raise ExerciseError(f"{label} changed h in place; compute the spikes without "
                                f"modifying the membrane potential.")
        got = require_tensor_like(got, label, h, "h")
        if got.dtype == torch.bool:
            raise ExerciseError(f"{label} returned booleans: spikes are numbers (they are "
                                f"multiplied by weights), so convert with .to(h.dtype).")
        if got.dtype != h.dtype:
            raise ExerciseError(f"{label} must keep the dtype of h ({h.dtype}), got {got.dtype}")
        expected = (h >= threshold).to(dtype)
        if torch.equal(got, expected):
            continue
        raise ExerciseError(f"{label} returned {got.tolist()}, expected {expected.tolist()}: "
                            f"{_fire_hint(got, h, threshold)}")
    return ("Correct: S = Θ(H − V_th) is 1 where H ≥ V_th (a neuron exactly at threshold fires) "
            "and 0 elsewhere, with the dtype of h.")


def _fire_hint(got: torch.Tensor, h: torch.Tensor, threshold: float) -> str:
    """Name the likely mistake behind a wrong spike tensor."""
    if torch.equal(got, (h > threshold).to(got.dtype)):
        return ("at h == v_threshold the neuron must fire, because Θ(0) = 1: use >= instead of >.")
    if torch.equal(got, (h < threshold).to(got.dtype)) or torch.equal(
            got, (h <= threshold).to(got.dtype)):
        return "the comparison is reversed: a neuron fires when h is at or ABOVE the threshold."
    if torch.equal(got, (h >= 1.0).to(got.dtype)):
        return "use the v_threshold argument instead of a fixed threshold of 1."
    if torch.equal(got, (h >= 0.0).to(got.dtype)):
        return "compare h − v_threshold with 0 (or h with v_threshold), not h with 0."
    if not torch.all((got == 0) | (got == 1)):
        return "spikes are all-or-none: every entry must be exactly 0.0 or 1.0."
    return "Θ(x) = 1 for x ≥ 0 and 0 for x < 0, applied to x = h − v_threshold."


# --- exercise 2: share of non-zero gradient entries -----------------------------------------

_FRACTION_CASES: tuple[tuple[str, torch.Tensor], ...] = (
    ("a gradient of zeros", torch.zeros(4, 5)),
    ("a gradient with 2 of 4 entries non-zero", torch.tensor([0.0, 1.5, 0.0, -2.0])),
    ("a [2, 3] gradient with tiny but non-zero entries",
     torch.tensor([[1e-30, 0.0, -1e-12], [0.0, 0.0, 3.0]])),
    ("a gradient with no zeros", torch.full((3, 2), -0.25, dtype=torch.float64)),
)


def check_nonzero_fraction(fn: object) -> str:
    """Check ``fn(gradient)``: the fraction of entries of ``gradient`` that are not exactly 0.0.

    ``fn`` is called on 1-D and 2-D float32 and float64 tensors (all zero, half zero, tiny
    non-zero entries, no zeros). It may return a Python number or a one-element tensor. Hints for
    the usual mistakes: a count instead of a fraction, the fraction of *zeros*, a tolerance that
    treats tiny gradients as zero, a per-row result.
    """
    fn = require_callable(fn, "check_nonzero_fraction", "nonzero_fraction")
    for description, gradient in _FRACTION_CASES:
        label = f"nonzero_fraction({description})"
        got = require_number(call_learner(fn, label, gradient.clone()), label,
                             "the fraction of non-zero entries",
                             shape_hint="average over all entries")
        nonzero = int((gradient != 0).sum())
        expected = nonzero / gradient.numel()
        if math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-9):
            continue
        raise ExerciseError(f"{label} returned {got:g}, expected {expected:g}: "
                            f"{_fraction_hint(got, nonzero, gradient)}")
    return ("Correct: nonzero_fraction counts the entries that are exactly non-zero and divides by "
            "gradient.numel(); 0.0 means no learning signal reaches these weights at all.")


def _fraction_hint(got: float, nonzero: int, gradient: torch.Tensor) -> str:
    """Name the likely mistake behind a wrong fraction."""
    total = gradient.numel()
    if nonzero > 0 and math.isclose(got, nonzero):
        return "this is the number of non-zero entries; divide by gradient.numel()."
    if math.isclose(got, 1 - nonzero / total, abs_tol=1e-9):
        return "this is the fraction of entries that ARE zero; count those that are not (!= 0)."
    if math.isclose(got, total - nonzero) and total != nonzero:
        return "this is the number of zero entries; count the non-zero ones and divide by numel()."
    tolerant = (gradient.abs() > 1e-6).sum().item() / total
    if math.isclose(got, tolerant, abs_tol=1e-9):
        return ("a tiny gradient is still a gradient: test for exact zeros (gradient != 0), "
                "without a tolerance.")
    if not 0 <= got <= 1:
        return "a fraction lies between 0 and 1."
    return "count the entries with gradient != 0 over all dimensions and divide by numel()."
