"""Tests of sgcourse.course.exercises.lesson08: each check accepts right answers (including the
lesson's own solutions and the library's layer), names the usual mistakes and reports a stub."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from lesson_solutions import notebook_solutions, stub

from sgcourse.course.exercises import ExerciseError, lesson08
from sgcourse.course.temporal import RecurrentLIF

NOTEBOOK = Path(__file__).resolve().parents[1] / "lessons" / "08_learning_in_time.ipynb"


# --- exercise 1: detached_step ------------------------------------------------------------------

def step(current, v, s, w_rec, tau, spike_fn, *, detach_v=True, detach_s=True, rec=True,
         transpose=True, leak=True, soft=False, compare=False):
    v = v.detach() if detach_v else v
    s = s.detach() if detach_s else s
    i = current + ((s @ (w_rec.T if transpose else w_rec)) if rec else 0)
    h = v + (i - v) / tau if leak else v + i
    spike = (h >= 1.0).to(h.dtype) if compare else spike_fn(h - 1.0)
    return spike, (h - spike) if soft else (1 - spike) * h


def step_through_the_library(current, v, s, w_rec, tau, spike_fn):
    """The library's detached layer, one step, from a given state."""
    layer = RecurrentLIF(1, current.shape[1], tau=tau, memory="detached",
                         surrogate_function=spike_fn)
    layer.recurrent_layer.weight = torch.nn.Parameter(w_rec.detach())  # same values
    i = current + s.detach() @ w_rec.T
    spike, (v_next,) = layer.neurons.step(i, (v.detach(),))
    return spike, v_next


def test_check_detached_step_accepts_correct_answers() -> None:
    for answer in (step, step_through_the_library, notebook_solutions(NOTEBOOK)["detached_step"],
                   lambda c, v, s, w, tau, f: step(c.float(), v.float(), s.float(), w.float(),
                                                   tau, f)):
        assert lesson08.check_detached_step(answer).startswith("Correct")


@pytest.mark.parametrize(("switches", "hint"), [
    ({"detach_v": False}, "reach v"),
    ({"detach_s": False}, "reach s"),
    ({"rec": False}, "recurrent input"),
    ({"transpose": False}, "w_rec.T"),
    ({"leak": False}, "leaks"),
    ({"soft": True}, "hard to 0"),
    ({"compare": True}, "cut from the autograd graph"),
])
def test_check_detached_step_names_the_mistake(switches: dict, hint: str) -> None:
    with pytest.raises(ExerciseError, match=hint):
        lesson08.check_detached_step(lambda *args: step(*args, **switches))


def test_check_detached_step_other_mistakes() -> None:
    with pytest.raises(ExerciseError, match="current"):   # everything detached but the spike fn
        lesson08.check_detached_step(
            lambda c, v, s, w, tau, f: step(c.detach(), v, s, w, tau, f))
    with pytest.raises(ExerciseError, match="pair"):
        lesson08.check_detached_step(lambda *args: step(*args)[0])
    with pytest.raises(ExerciseError, match=r"return \(s_next, v_next\) in that order"):
        lesson08.check_detached_step(lambda *args: step(*args)[::-1])   # (v, s) swapped
    with pytest.raises(ExerciseError, match="NotImplementedError"):
        lesson08.check_detached_step(stub)
    with pytest.raises(ExerciseError, match="pass your function itself"):
        lesson08.check_detached_step("detached_step")


# --- exercise 2: last_step_readout --------------------------------------------------------------

@pytest.mark.parametrize("answer", [
    lambda s, w, b: s[-1] @ w.T + b,
    lambda s, w, b: torch.nn.functional.linear(s[s.shape[0] - 1], w, b),
    lambda s, w, b: (s[-1] @ w.T + b).float(),
])
def test_check_last_step_readout_accepts_correct_answers(answer: Callable) -> None:
    assert lesson08.check_last_step_readout(answer).startswith("Correct")
    solution = notebook_solutions(NOTEBOOK)["last_step_readout"]
    assert lesson08.check_last_step_readout(solution).startswith("Correct")


@pytest.mark.parametrize(("answer", "hint"), [
    (lambda s, w, b: s.mean(0) @ w.T + b, "averages over the steps"),
    (lambda s, w, b: s.sum(0) @ w.T + b, "sums over the steps"),
    (lambda s, w, b: s[0] @ w.T + b, "FIRST step"),
    (lambda s, w, b: s[-1] @ w.T, "add the bias"),
    (lambda s, w, b: s @ w.T + b, "shape"),
    (lambda s, w, b: (s[-1] @ w.T + b).tolist(), "torch.Tensor"),
    (stub, "NotImplementedError"),
])
def test_check_last_step_readout_names_the_mistake(answer: object, hint: str) -> None:
    with pytest.raises(ExerciseError, match=hint):
        lesson08.check_last_step_readout(answer)


def test_untransposed_weight_is_named() -> None:
    # the first case (H = 7, C = 3) makes the untransposed product fail with a shape error
    with pytest.raises(ExerciseError, match=r"RuntimeError.*like nn.Linear.*@ weight\.T"):
        lesson08.check_last_step_readout(lambda s, w, b: s[-1] @ w + b)
    # where H == C it runs, and the hint names the transpose
    with pytest.raises(ExerciseError, match=r"use weight\.T"):
        lesson08.check_last_step_readout(
            lambda s, w, b: s[-1] @ (w if w.shape[0] == w.shape[1] else w.T) + b)
