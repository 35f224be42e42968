"""Tests of sgcourse.course.exercises.lesson07: each check accepts right answers (including the
lesson's own solutions), names the usual mistakes and reports a stub."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from lesson_solutions import notebook_solutions, stub

from sgcourse.course.exercises import ExerciseError, lesson07

NOTEBOOK = Path(__file__).resolve().parents[1] / "lessons" / "07_choosing_a_surrogate.ipynb"


# --- exercise 1: silent_fraction ----------------------------------------------------------------

@pytest.mark.parametrize("answer", [
    lambda s: (s.sum(dim=(0, 1)) == 0).double().mean().item(),
    lambda s: (s.sum(dim=(0, 1)) == 0).float().mean(),                 # 0-dim float32 tensor
    lambda s: float((s.amax(dim=(0, 1)) == 0).sum()) / s.shape[-1],
    lambda s: 1 - (s.sum(dim=(0, 1)) > 0).sum().item() / s.shape[2],   # a Python float
    lambda s: (s.sum(dim=(0, 1)) == 0).double().mean().reshape(1),     # one-element tensor
])
def test_check_silent_fraction_accepts_correct_answers(answer: Callable) -> None:
    assert lesson07.check_silent_fraction(answer).startswith("Correct")


def test_the_notebook_solutions_pass() -> None:
    solutions = notebook_solutions(NOTEBOOK)
    assert lesson07.check_silent_fraction(solutions["silent_fraction"]).startswith("Correct")
    assert lesson07.check_rate_penalty(solutions["rate_penalty"]).startswith("Correct")


@pytest.mark.parametrize(("answer", "hint"), [
    (lambda s: (s == 0).double().mean().item(), "zero entries"),
    (lambda s: int((s.sum(dim=(0, 1)) == 0).sum()), "number of silent neurons"),
    (lambda s: (s.sum(dim=(0, 1)) > 0).double().mean().item(), "DO fire"),
    (lambda s: (s.sum(dim=0) == 0).double().mean().item(), "per sample"),
    (lambda s: s.sum(dim=(0, 1)) == 0, "one number"),
    (lambda s: "0.3", "must return a number"),
    (lambda s: True, "got a bool"),
    (lambda s: (s.sum(dim=(0, 1)) == 0).mean(), "convert it to float first"),
    (stub, "NotImplementedError"),
    ("silent_fraction", "pass your function itself"),
])
def test_check_silent_fraction_names_the_mistake(answer: object, hint: str) -> None:
    with pytest.raises(ExerciseError, match=hint):
        lesson07.check_silent_fraction(answer)


# --- exercise 2: rate_penalty -------------------------------------------------------------------

def rate_penalty(spikes, target):
    return torch.relu(target - spikes.mean(dim=(0, 1))).pow(2).mean()


@pytest.mark.parametrize("answer", [
    rate_penalty,
    lambda s, t: (t - s.mean(dim=(0, 1))).clamp(min=0).square().sum() / s.shape[-1],
    lambda s, t: torch.mean(torch.clamp(t - s.sum(dim=(0, 1)) / (s.shape[0] * s.shape[1]),
                                        min=0) ** 2).float(),         # float32 result
])
def test_check_rate_penalty_accepts_correct_answers(answer: Callable) -> None:
    assert lesson07.check_rate_penalty(answer).startswith("Correct")


@pytest.mark.parametrize(("answer", "hint"), [
    (lambda s, t: ((t - s.mean(dim=(0, 1))) ** 2).mean(), "MORE than the target"),
    (lambda s, t: torch.relu(s.mean(dim=(0, 1)) - t).pow(2).mean(), "sign is inverted"),
    (lambda s, t: torch.relu(t - s.mean()).pow(2), "one rate for the whole layer"),
    (lambda s, t: torch.relu(t - s.mean()).pow(2).mean(), "one rate for the whole layer"),
    (lambda s, t: torch.relu(t - s).pow(2).mean(), "rate is per neuron"),
    (lambda s, t: torch.relu(t - s.mean(dim=(0, 1))).mean(), "square the shortfall"),
    (lambda s, t: torch.relu(t - s.mean(dim=(0, 1))).pow(2).sum(), "not a sum"),
    (lambda s, t: torch.relu(t - s.sum(dim=(0, 1))).pow(2).mean(), "not the spike count"),
    (lambda s, t: rate_penalty(s, t).item(), "autograd graph"),
    (lambda s, t: rate_penalty(s.detach(), t), "autograd graph"),
    (lambda s, t: torch.relu(t - s.mean(dim=(0, 1))).pow(2), "one number"),
    (stub, "NotImplementedError"),
])
def test_check_rate_penalty_names_the_mistake(answer: object, hint: str) -> None:
    with pytest.raises(ExerciseError, match=hint):
        lesson07.check_rate_penalty(answer)
