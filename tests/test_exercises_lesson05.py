"""Tests of sgcourse.course.exercises.lesson05: the IF-rate check passes on correct answers
(including the solution stored in the lesson notebook), fails on the stub, and names the usual
mistakes."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from lesson_solutions import notebook_solutions

from sgcourse.course.exercises import ExerciseError, lesson05

NOTEBOOK = Path(__file__).resolve().parents[1] / "lessons" / "05_the_neuron_zoo.ipynb"


def notebook_solution() -> Callable:
    """``if_rate`` as the lesson's solution cell defines it."""
    return notebook_solutions(NOTEBOOK)["if_rate"]


def if_rate(x, v_threshold):
    return 1 / math.ceil(v_threshold / x) if x > 0 else 0.0


def if_rate_tensor(x, v_threshold):
    x = torch.tensor(x, dtype=torch.float32)
    return torch.where(x > 0, 1 / torch.ceil(v_threshold / x.clamp(min=1e-12)), 0.0)


def if_rate_by_counting(x, v_threshold):
    if x <= 0:
        return 0
    steps, v = 0, 0.0
    while v < v_threshold:
        v, steps = v + x, steps + 1
    return 1 / steps


@pytest.mark.parametrize("answer", [if_rate, if_rate_tensor, if_rate_by_counting])
def test_accepts_correct_answers(answer: Callable) -> None:
    assert lesson05.check_if_rate(answer).startswith("Correct")


def test_accepts_the_notebook_solution() -> None:
    assert lesson05.check_if_rate(notebook_solution()).startswith("Correct")


@pytest.mark.parametrize(("answer", "hint"), [
    (lambda x, th: max(x, 0) / th, "not X / V_th"),
    (lambda x, th: 1 / max(1, math.floor(th / x)) if x > 0 else 0.0, "use ceil"),
    (lambda x, th: 1 / (math.ceil(th / x) + 1) if x > 0 else 0.0, "one step too many"),
    (lambda x, th: math.ceil(th / x) if x > 0 else 0.0, "that is the period"),
    (lambda x, th: 1 / math.ceil(th / x), "handle this case"),
    (lambda x, th: 1 / math.ceil(th / x) if x != 0 else 0.0, "rate is 0"),
    (lambda x, th: True, "boolean"),
    (lambda x, th: torch.zeros(3), "shape"),
    (lambda x, th: "0.25", "must return a number"),
])
def test_names_the_usual_mistakes(answer: Callable, hint: str) -> None:
    with pytest.raises(ExerciseError, match=re.escape(hint)):
        lesson05.check_if_rate(answer)


def test_stub_and_non_callable() -> None:
    def stub(x, v_threshold):
        raise NotImplementedError

    with pytest.raises(ExerciseError, match="NotImplementedError"):
        lesson05.check_if_rate(stub)
    with pytest.raises(ExerciseError, match="pass your function itself"):
        lesson05.check_if_rate(0.25)


@pytest.mark.parametrize(("answer", "words"), [
    (lambda x, th: 1 / math.ceil(th / x) if 0 < x < th else 0.5,
     "fires 1 spike per step (at every step)"),
    (lambda x, th: 1 / math.ceil(th / x) if x > 0 else 1.0, "never fires (0 spikes per step)"),
    (lambda x, th: 1 / math.floor(th / x) if x > 0 else 0.0,
     "fires 0.25 spikes per step (one spike every 4 steps)"),
])
def test_the_measured_rate_is_described_in_plain_words(answer: Callable, words: str) -> None:
    with pytest.raises(ExerciseError, match=re.escape(words)):
        lesson05.check_if_rate(answer)
