"""Tests of sgcourse.course.exercises.lesson01: each check passes on the right answer (including the
solution stored in the lesson notebook), fails on the stub, and names the usual mistakes."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from lesson_solutions import notebook_solutions, stub

from sgcourse import surrogate
from sgcourse.course.exercises import ExerciseError, lesson01

LESSONS = Path(__file__).resolve().parents[1] / "lessons"
NOTEBOOK = LESSONS / "01_heaviside_and_the_dead_gradient.ipynb"


def stubbed(source_function: Callable) -> Callable:
    """The learner's copy: the solution's signature with the body replaced by a raise."""
    tree = ast.parse(f"def {source_function.__name__}(*args):\n    raise NotImplementedError\n")
    namespace: dict[str, object] = {}
    exec(compile(tree, "<stub>", "exec"), namespace)
    return namespace[source_function.__name__]


# --- exercise 1: fire ----------------------------------------------------------------------


def test_check_fire_accepts_correct_answers() -> None:
    for fire in (lambda v, th: (v >= th).to(v.dtype),
                 lambda v, th: surrogate.heaviside(v - th),
                 lambda v, th: torch.where(v - th >= 0, 1.0, 0.0).to(v.dtype)):
        assert lesson01.check_fire(fire).startswith("Correct")


@pytest.mark.parametrize(("fire", "hint"), [
    (lambda v, th: (v > th).to(v.dtype), ">= instead of >"),
    (lambda v, th: v >= th, "booleans"),
    (lambda v, th: (v < th).to(v.dtype), "reversed"),
    (lambda v, th: (v >= 1.0).to(v.dtype), "v_threshold argument"),
    (lambda v, th: (v >= 0).to(v.dtype), "not h with 0"),
    (lambda v, th: torch.sigmoid(4 * (v - th)), "0.0 or 1.0"),
    (lambda v, th: (v >= th).float(), "dtype of h"),
    (lambda v, th: (v >= th).to(v.dtype)[:1], "shape"),
    (lambda v, th: ((v >= th).to(v.dtype)).tolist(), "torch.Tensor"),
    (lambda v, th: v.sub_(th).ge_(0), "in place"),
    (lambda v, th: v.undefined_method(), "AttributeError"),
    (stub, "NotImplementedError"),
])
def test_check_fire_names_the_mistake(fire: Callable, hint: str) -> None:
    with pytest.raises(ExerciseError, match=hint):
        lesson01.check_fire(fire)


def test_check_fire_messages_name_the_argument_h() -> None:
    """The lesson calls the potential H (h in code): the messages say h, not v."""
    with pytest.raises(ExerciseError, match=r"fire\(h, v_threshold=1\) with h = "):
        lesson01.check_fire(lambda h, th: (h > th).to(h.dtype))


def test_check_fire_needs_a_function() -> None:
    with pytest.raises(ExerciseError, match="pass your function"):
        lesson01.check_fire(torch.tensor([1.0]))


# --- exercise 2: nonzero_fraction ----------------------------------------------------------


def test_check_nonzero_fraction_accepts_correct_answers() -> None:
    for fraction in (lambda g: (g != 0).sum().item() / g.numel(),
                     lambda g: (g != 0).double().mean(),  # a one-element tensor is fine
                     lambda g: torch.count_nonzero(g).item() / g.numel(),
                     lambda g: (g != 0).sum() / g.numel(),  # a 0-dim tensor
                     lambda g: torch.count_nonzero(g).float() / g.numel(),  # float32 for float64
                     lambda g: (g != 0).double().mean().requires_grad_()):
        assert lesson01.check_nonzero_fraction(fraction).startswith("Correct")


@pytest.mark.parametrize(("fraction", "hint"), [
    (lambda g: (g != 0).sum().item(), "divide by gradient.numel"),
    (lambda g: (g == 0).double().mean().item(), "ARE zero"),
    (lambda g: (g.abs() > 1e-6).double().mean().item(), "without a tolerance"),
    (lambda g: (g != 0).double().mean(dim=-1), "one number"),
    (lambda g: "0.5", "must return a number"),
    (lambda g: -1.0, "between 0 and 1"),
    (lambda g: 0.5, "count the entries"),
    (lambda g: 1 / 0, "ZeroDivisionError"),
    (stub, "NotImplementedError"),
])
def test_check_nonzero_fraction_names_the_mistake(fraction: Callable, hint: str) -> None:
    with pytest.raises(ExerciseError, match=hint):
        lesson01.check_nonzero_fraction(fraction)


def test_check_nonzero_fraction_needs_a_function() -> None:
    with pytest.raises(ExerciseError, match="pass your function"):
        lesson01.check_nonzero_fraction(0.0)


# --- the notebook's solutions and their stubs ------------------------------------------------

CHECKS = {"fire": lesson01.check_fire, "nonzero_fraction": lesson01.check_nonzero_fraction}


def test_notebook_defines_every_solution() -> None:
    assert set(notebook_solutions(NOTEBOOK)) == set(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_notebook_solution_passes_and_its_stub_fails(name: str) -> None:
    solution = notebook_solutions(NOTEBOOK)[name]
    assert CHECKS[name](solution).startswith("Correct")
    with pytest.raises(ExerciseError, match="NotImplementedError"):
        CHECKS[name](stubbed(solution))


def test_exercise_error_is_an_assertion_error() -> None:
    assert issubclass(ExerciseError, AssertionError)
