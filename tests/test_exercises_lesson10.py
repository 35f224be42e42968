"""Tests of sgcourse.course.exercises.lesson10: the check accepts every correct answer (including
the lesson's solution), reports the stub, and names the usual mistakes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from lesson_solutions import notebook_solutions, stub

from sgcourse.course.exercises import ExerciseError, lesson10

NOTEBOOK = Path(__file__).resolve().parents[1] / "lessons" / "10_why_spikes.ipynb"


def synops(spikes, fan_out):
    return (spikes * fan_out).sum()


def synops_by_neuron(spikes, fan_out):
    per_neuron = spikes.sum(dim=(0, 1))
    fan = torch.as_tensor(fan_out, dtype=per_neuron.dtype)
    return float((per_neuron * fan).sum())


def synops_loop(spikes, fan_out):
    total = 0
    for t in range(spikes.shape[0]):
        for n in range(spikes.shape[1]):
            for i in range(spikes.shape[2]):
                if spikes[t, n, i] == 1:
                    total += int(fan_out) if isinstance(fan_out, int) else int(fan_out[i])
    return total


def notebook_solution() -> Callable:
    """``synops`` as the lesson's solution cell defines it."""
    return notebook_solutions(NOTEBOOK)["synops"]


@pytest.mark.parametrize("answer", [synops, synops_by_neuron, synops_loop,
                                    lambda s, f: (s * f).sum().to(torch.float64),
                                    lambda s, f: (s * f).sum().item()])
def test_correct_answers_pass(answer) -> None:
    assert lesson10.check_synops(answer).startswith("Correct")


def test_the_notebook_solution_passes() -> None:
    assert lesson10.check_synops(notebook_solution()).startswith("Correct")


def in_place(spikes, fan_out):
    spikes.mul_(fan_out)
    return spikes.sum()


@pytest.mark.parametrize(("answer", "hint"), [
    (stub, "NotImplementedError"),
    (lambda s, f: s.numel() * f if isinstance(f, int) else s.numel() * float(f.float().mean()),
     "dense count"),
    (lambda s, f: s.sum(), "number of spikes"),
    (lambda s, f: (s * f).mean(), "not an average"),
    (lambda s, f: (s * f).sum() / s.shape[0], "not an average"),
    (lambda s, f: s.sum() * f if isinstance(f, int) else s.sum() * f.sum(), "own fan-out"),
    (lambda s, f: s.sum() * f, "one number"),
    (lambda s, f: (s * f).sum(dim=0), "one number"),
    (lambda s, f: "many", "must return a number"),
    (lambda s, f: (s * f).sum() > 0, "boolean"),
    (in_place, "in place"),
])
def test_mistakes_are_named(answer, hint) -> None:
    with pytest.raises(ExerciseError) as info:
        lesson10.check_synops(answer)
    assert hint in str(info.value)


def test_a_non_callable_is_explained() -> None:
    with pytest.raises(ExerciseError, match="pass your function itself"):
        lesson10.check_synops(None)
