"""Tests of sgcourse.course.exercises.lesson09: the check accepts every correct answer (including
the lesson's solution), reports the stub, and names the usual mistakes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from lesson_solutions import notebook_solutions, stub

from sgcourse.course.exercises import ExerciseError, lesson09

NOTEBOOK = Path(__file__).resolve().parents[1] / "lessons" / "09_speed_memory_and_gpus.ipynb"


def saved_bytes(backend, time_steps, batch, neurons, element_size):
    return (3 if backend == "torch" else 1) * time_steps * batch * neurons * element_size


def notebook_solution() -> Callable:
    """``saved_bytes`` as the lesson's solution cell defines it."""
    return notebook_solutions(NOTEBOOK)["saved_bytes"]


@pytest.mark.parametrize("answer", [
    saved_bytes,
    lambda b, t, n, f, e: float(saved_bytes(b, t, n, f, e)),
    lambda b, t, n, f, e: torch.tensor(saved_bytes(b, t, n, f, e)),
    lambda b, t, n, f, e: np.int64(saved_bytes(b, t, n, f, e)),
    lambda b, t, n, f, e: torch.zeros(t, n, f).numel() * e * {"torch": 3, "fused": 1}[b],
])
def test_correct_answers_pass(answer) -> None:
    assert lesson09.check_saved_bytes(answer).startswith("Correct")


def test_the_notebook_solution_passes() -> None:
    assert lesson09.check_saved_bytes(notebook_solution()).startswith("Correct")


@pytest.mark.parametrize(("answer", "hint"), [
    (stub, "NotImplementedError"),
    (lambda b, t, n, f, e: saved_bytes(b, t, n, f, e) // e, "number of elements"),
    (lambda b, t, n, f, e: 8 * saved_bytes(b, t, n, f, e), "bits"),
    (lambda b, t, n, f, e: saved_bytes(b, 1, n, f, e), "proportional to time_steps"),
    (lambda b, t, n, f, e: t * n * f * e, "3 tensors of shape [N, M] per step"),
    (lambda b, t, n, f, e: 3 * t * n * f * e, "only H[t]"),
    (lambda b, t, n, f, e: (2 if b == "torch" else 1) * t * n * f * e, "3 tensors of shape"),
    (lambda b, t, n, f, e: None, "must return a number"),
    (lambda b, t, n, f, e: True, "boolean"),
    (lambda b, t, n, f, e: torch.ones(2), "one number"),
    (lambda b, t, n, f, e: float("nan"), "finite"),
    (lambda b, t, n, f, e: 1 / 0, "ZeroDivisionError"),
])
def test_mistakes_are_named(answer, hint) -> None:
    with pytest.raises(ExerciseError) as info:
        lesson09.check_saved_bytes(answer)
    assert hint in str(info.value)


def test_a_non_callable_is_explained() -> None:
    with pytest.raises(ExerciseError, match="pass your function itself"):
        lesson09.check_saved_bytes(42)
