r"""Checks for the exercise of lesson 05 (the neuron zoo).

Exercise — the firing rate of an IF neuron in closed form::

    def if_rate(x, v_threshold): ...   # spikes per time step for a constant input x
    check_if_rate(if_rate)

An IF neuron (:class:`sgcourse.neuron.IFNode`, hard reset to 0) charges
:math:`H[t] = V[t-1] + X`; from 0 it reaches :math:`kX` after :math:`k` steps, so it fires every
:math:`n = \lceil V_{th}/X \rceil` steps: rate :math:`1/n` for :math:`X > 0`, 0 otherwise. The
reference is the neuron itself: the check simulates ``IFNode`` and measures the time between
spikes.
"""

from __future__ import annotations

import math

import torch

from sgcourse import neuron
from sgcourse.course.exercises import (
    ExerciseError,
    call_learner,
    require_callable,
    require_number,
)

__all__ = ["check_if_rate"]

#: (x, v_threshold): V_th / X is never within rounding of an integer, except ratios of powers
#: of two (exact in binary), so the simulated period is exactly ceil(V_th / X).
_CASES: tuple[tuple[float, float], ...] = (
    (0.3, 1.0), (0.45, 1.0), (0.7, 1.0), (1.0, 1.0), (1.3, 1.0), (0.125, 1.0), (0.22, 1.0),
    (2.5, 1.0), (0.3, 2.0), (0.45, 0.8), (0.9, 2.5), (0.0, 1.0), (-0.4, 1.0),
)
_TIME_STEPS = 120
_TOLERANCE = 1e-6  # a float32 answer is right too


def _simulated_rate(x: float, v_threshold: float) -> float:
    """1 / (steps between spikes) of an IFNode at constant input x; 0 if it never fires."""
    node = neuron.IFNode(v_threshold=v_threshold, v_reset=0.0, step_mode="m")
    with torch.no_grad():
        spikes = node(torch.full((_TIME_STEPS, 1), x, dtype=torch.float64)).view(-1)
    times = spikes.nonzero().view(-1)
    if len(times) < 2:
        return 0.0
    return 1.0 / float(times[-1] - times[-2])


def check_if_rate(fn: object) -> str:
    r"""Check ``fn(x, v_threshold)`` → spikes per step of an IF neuron at constant input ``x``.

    Compared (tolerance 1e-6, so float32 answers pass) with the rate measured on
    ``IFNode(v_threshold, v_reset=0)``: the inverse of the steps between its last two spikes, 0
    if it does not fire. Inputs include
    :math:`X = V_{th}`, :math:`X > V_{th}`, ratios :math:`V_{th}/X` just above and just below an
    integer, :math:`X = 0` and :math:`X < 0`. Hints name the usual mistakes: the continuous rate
    :math:`X/V_{th}`, ``floor`` instead of ``ceil``, one step too many, the period instead of the
    rate, no case for :math:`X \le 0`.
    """
    fn = require_callable(fn, "check_if_rate", "if_rate")
    for x, v_threshold in _CASES:
        label = f"if_rate({x:g}, {v_threshold:g})"
        try:
            got = require_number(call_learner(fn, label, x, v_threshold), label,
                                 "spikes per step, such as 0.25")
        except ExerciseError as error:
            if x <= 0:
                raise ExerciseError(f"{error} For X <= 0 the potential never rises: the rate is "
                                    f"0 (handle this case before dividing by X).") from None
            raise
        expected = _simulated_rate(x, v_threshold)
        if math.isfinite(got) and abs(got - expected) <= _TOLERANCE:
            continue
        raise ExerciseError(f"{label} returned {got:.6g}; the IF neuron "
                            f"{_describe_rate(expected)}: {_hint(got, x, v_threshold)}")
    return ("Correct: an IF neuron with constant input X > 0 fires every ceil(V_th / X) steps, "
            "rate 1 / ceil(V_th / X), and never for X <= 0.")


def _describe_rate(rate: float) -> str:
    """The measured rate in words: 'never fires', 'fires 1 spike per step (at every step)', ..."""
    if rate == 0:
        return "never fires (0 spikes per step)"
    period = round(1 / rate)
    if period == 1:
        return "fires 1 spike per step (at every step)"
    return f"fires {rate:.6g} spikes per step (one spike every {period} steps)"


def _hint(got: float, x: float, v_threshold: float) -> str:
    """Name the likely mistake behind a wrong rate."""
    if x <= 0:
        return "for X <= 0 the potential never reaches the threshold: the rate is 0."
    ratio = v_threshold / x
    candidates = {
        "the neuron fires only at whole time steps: after k steps the potential is k·X, so the "
        "first spike comes at n = ceil(V_th / X) and the rate is 1/n, not X / V_th.":
            x / v_threshold,
        "floor is one step too early when V_th / X is not a whole number: at step floor(V_th/X) "
        "the potential is still below V_th; use ceil.": 1 / max(1, math.floor(ratio)),
        "one step too many: right after the reset V = 0 and the next step already adds X (the "
        "reset step itself needs no extra step); the period is ceil(V_th / X).":
            1 / (math.ceil(ratio) + 1),
        "that is the period (steps between spikes); the rate is its inverse, "
        "1 / ceil(V_th / X).": float(math.ceil(ratio)),
    }
    for hint, value in candidates.items():
        if math.isfinite(got) and abs(got - value) <= _TOLERANCE:
            return hint
    return "after k steps from 0 the potential is k·X; find the first k with k·X >= V_th."
