r"""Checks for the exercises of lesson 07 (choosing a surrogate: steepness, silent neurons).

Exercise 1 — the share of silent neurons::

    def silent_fraction(spikes): ...        # spikes [T, N, H] -> a number in [0, 1]
    check_silent_fraction(silent_fraction)

A neuron (index along the last dimension) is *silent* when it fires in none of the :math:`T`
steps of none of the :math:`N` samples.

Exercise 2 — a lower bound on the firing rates::

    def rate_penalty(spikes, target): ...   # -> a 0-dim tensor, differentiable
    check_rate_penalty(rate_penalty)

:math:`R = \frac1H \sum_i \max(0, \nu_{\rm target} - \nu_i)^2` with
:math:`\nu_i = \frac{1}{TN}\sum_{t,n} S_{t,n,i}`; compared in value and in gradient with
:func:`sgcourse.course.sweeps.rate_penalty`.
"""

from __future__ import annotations

import torch

from sgcourse.course.exercises import (
    ExerciseError,
    call_learner,
    require_callable,
    require_number,
)
from sgcourse.course.sweeps import rate_penalty as _reference_penalty
from sgcourse.course.sweeps import silent_fraction as _reference_silent

__all__ = ["check_rate_penalty", "check_silent_fraction"]


def _spike_cases() -> list[torch.Tensor]:
    """Spike tensors [T, N, H] with known silent neurons (float64 0/1)."""
    generator = torch.Generator().manual_seed(7)
    cases = []
    for shape, p in (((5, 4, 6), 0.08), ((3, 2, 8), 0.2), ((6, 3, 5), 0.05)):
        spikes = (torch.rand(shape, generator=generator, dtype=torch.float64) < p).double()
        spikes[..., 0] = 0.0                          # one neuron surely silent
        spikes[0, 0, -1] = 1.0                        # one neuron fires exactly once
        cases.append(spikes)
    return cases


def check_silent_fraction(fn: object) -> str:
    """Check ``fn(spikes)``: the share of neurons that never fire, over all steps and samples.

    Hints for the usual mistakes: the share of zero *entries* instead of silent *neurons*, a
    count instead of a share, the share of *active* neurons, silence judged per sample, the mean
    of a bool tensor (convert to float first).
    """
    fn = require_callable(fn, "check_silent_fraction", "silent_fraction")
    for spikes in _spike_cases():
        label = f"silent_fraction(spikes of shape {tuple(spikes.shape)})"
        got = require_number(_call_with_dtype_hint(fn, label, spikes.clone()), label,
                             "the share of silent neurons")
        expected = _reference_silent(spikes)
        if abs(got - expected) <= 1e-6:
            continue
        raise ExerciseError(f"{label} returned {got:.4g}, expected {expected:.4g}: "
                            f"{_silent_hint(got, spikes)}")
    return ("Correct: a neuron is silent when its spike count over all steps and samples is 0; "
            "the fraction is the share of such neurons.")


def _call_with_dtype_hint(fn: object, label: str, *args: object) -> object:
    """:func:`call_learner`, adding a hint when the learner took the mean of a bool tensor
    (``(counts == 0).mean()``: PyTorch cannot average booleans)."""
    try:
        return call_learner(fn, label, *args)
    except ExerciseError as error:
        cause = error.__cause__
        if isinstance(cause, RuntimeError) and "Bool" in str(cause):
            raise ExerciseError(f"{error} — hint: a comparison (==, <, >) gives a bool tensor, "
                                f"which torch cannot average; convert it to float first, e.g. "
                                f"(counts == 0).float().mean().") from cause
        raise


def _silent_hint(got: float, spikes: torch.Tensor) -> str:
    counts = spikes.sum(dim=(0, 1))
    silent = float((counts == 0).double().mean())
    per_sample = float((spikes.sum(dim=0) == 0).double().mean())
    candidates = {
        "entries": float((spikes == 0).double().mean()),
        "count": float((counts == 0).sum()),
        "active": 1.0 - silent,
        "per_sample": per_sample,
    }
    if abs(got - candidates["count"]) <= 1e-6:
        return ("that is the number of silent neurons; divide by the number of neurons, "
                "spikes.shape[-1].")
    if abs(got - candidates["active"]) <= 1e-6:
        return "that is the share of neurons that DO fire; silent ones have a count of 0."
    if abs(got - candidates["entries"]) <= 1e-6:
        return ("that is the share of zero entries (no spike at one step in one sample); a "
                "neuron is silent only if it never fires: sum over steps and samples first.")
    if abs(got - candidates["per_sample"]) <= 1e-6:
        return ("silence is judged per sample there; a neuron that fires for any sample is not "
                "silent: sum over the steps (dim 0) AND the samples (dim 1).")
    return "count each neuron's spikes over dims 0 and 1, then take the share of zero counts."


def check_rate_penalty(fn: object) -> str:
    r"""Check ``fn(spikes, target)`` against :math:`\frac1H\sum_i \max(0, \nu_t - \nu_i)^2`.

    The value must agree (tolerance 1e-6 relative to the largest term) and the gradient with
    respect to ``spikes`` must reach them. Hints: the sign inverted (``rates − target``), one
    population rate instead of one per neuron, no ``max(0, ·)`` (neurons above the target
    penalised too), rates per entry instead of per neuron, not squared, a sum instead of a mean,
    the result detached from the graph.
    """
    fn = require_callable(fn, "check_rate_penalty", "rate_penalty")
    for spikes, target in zip(_spike_cases(), (0.1, 0.15, 0.3), strict=True):
        label = f"rate_penalty(spikes of shape {tuple(spikes.shape)}, target={target})"
        x = spikes.clone().requires_grad_(True)
        got = _call_with_dtype_hint(fn, label, x, target)
        value = require_number(got, label, "the penalty")
        expected = _reference_penalty(spikes, target)
        scale = max(float(expected), target ** 2 / spikes.shape[-1], 1e-12)
        if abs(value - float(expected)) > 1e-6 * scale + 1e-12:
            raise ExerciseError(f"{label} returned {value:.6g}, expected {float(expected):.6g}: "
                                f"{_penalty_hint(value, spikes, target)}")
        if not isinstance(got, torch.Tensor) or not got.requires_grad:
            raise ExerciseError(f"{label} returned the right value but not as part of the "
                                f"autograd graph: compute it with torch operations on spikes "
                                f"(no .item(), float() or .detach()), so that the loss can "
                                f"back-propagate through it.")
        (grad,) = torch.autograd.grad(got.reshape(()), x)
        reference = spikes.clone().requires_grad_(True)
        (want,) = torch.autograd.grad(_reference_penalty(reference, target), reference)
        if not torch.allclose(grad.double(), want, rtol=1e-5, atol=1e-9):
            raise ExerciseError(f"{label} has the right value but the wrong gradient with respect "
                                f"to spikes: compute the rates with a mean over dims 0 and 1.")
    return ("Correct: ν_i = mean of S over steps and samples, R = mean over neurons of "
            "max(0, target − ν_i)²; only neurons below the target are pushed up.")


def _penalty_hint(got: float, spikes: torch.Tensor, target: float) -> str:
    rates = spikes.mean(dim=(0, 1))
    candidates = {
        "no_relu": float(((target - rates) ** 2).mean()),
        "per_entry": float(torch.relu(target - spikes).pow(2).mean()),
        "not_squared": float(torch.relu(target - rates).mean()),
        "sum": float(torch.relu(target - rates).pow(2).sum()),
        "counts": float(torch.relu(target - spikes.sum(dim=(0, 1))).pow(2).mean()),
        "inverted": float(torch.relu(rates - target).pow(2).mean()),
        "population": float(torch.relu(target - spikes.mean()).pow(2)),
    }

    def near(key: str) -> bool:
        return abs(got - candidates[key]) <= 1e-6 * max(abs(candidates[key]), 1e-9)

    if near("inverted"):
        return ("the sign is inverted: that penalises neurons firing ABOVE the target; the "
                "shortfall is target − ν_i, i.e. torch.relu(target - rates).")
    if near("population"):
        return ("that is one rate for the whole layer (spikes.mean() over everything); the bound "
                "is per neuron: rates = spikes.mean(dim=(0, 1)), one ν_i per neuron, then the "
                "mean of the squared shortfalls.")
    if near("no_relu"):
        return ("neurons firing MORE than the target are penalised too: keep only the shortfall, "
                "max(0, target − ν_i) (torch.relu or clamp(min=0)).")
    if near("per_entry"):
        return ("the rate is per neuron: average the spikes over steps and samples first, "
                "ν_i = spikes.mean(dim=(0, 1)), then compare with the target.")
    if near("not_squared"):
        return "square the shortfall: max(0, target − ν_i)²."
    if near("sum"):
        return "average over the neurons (mean), not a sum."
    if near("counts"):
        return "use the rate (spikes per step and sample), not the spike count: a mean, not a sum."
    return "R = mean over neurons i of max(0, target − ν_i)², with ν_i = spikes.mean(dim=(0, 1))."
