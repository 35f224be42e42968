"""Tests of the lesson-02 exercise checks: pass on the solution, helpful failure otherwise."""

from __future__ import annotations

import math

import pytest
import torch

from sgcourse import surrogate
from sgcourse.course.exercises import ExerciseError
from sgcourse.course.exercises.lesson02 import (
    PEAK_SURROGATES,
    check_alpha_for_peak,
    check_sigmoid_derivative,
)

# -- exercise 1: σ′ of the sigmoid by hand -----------------------------------------------------


def sigmoid_derivative(x: torch.Tensor, alpha: float) -> torch.Tensor:
    s = torch.sigmoid(alpha * x)
    return alpha * s * (1 - s)


def sigmoid_derivative_stub(x: torch.Tensor, alpha: float) -> torch.Tensor:
    raise NotImplementedError


def test_sigmoid_derivative_solution_passes():
    message = check_sigmoid_derivative(sigmoid_derivative)
    assert message.startswith("Correct")


def test_sigmoid_derivative_in_float32_passes():
    assert check_sigmoid_derivative(lambda x, a: sigmoid_derivative(x.float(), a))


def test_sigmoid_derivative_accepts_other_correct_forms():
    for answer in (lambda x, a: a * torch.exp(-a * x) / (1 + torch.exp(-a * x)) ** 2,
                   lambda x, a: surrogate.Sigmoid(alpha=a).derivative(x),
                   lambda x, a: sigmoid_derivative(x, a).requires_grad_()):
        assert check_sigmoid_derivative(answer).startswith("Correct")


def test_sigmoid_derivative_stub_fails_with_a_hint():
    with pytest.raises(ExerciseError, match="NotImplementedError"):
        check_sigmoid_derivative(sigmoid_derivative_stub)


@pytest.mark.parametrize(("wrong", "hint"), [
    (lambda x, a: torch.sigmoid(a * x), "σ\\(x\\) = sgm\\(αx\\) itself"),
    (lambda x, a: torch.sigmoid(a * x) * (1 - torch.sigmoid(a * x)), "chain-rule factor"),
    (lambda x, a: sigmoid_derivative(x, 4.0), "use the alpha argument"),
    (lambda x, a: a * torch.sigmoid(x) * (1 - torch.sigmoid(x)), "alpha \\* x, not at x"),
    (lambda x, a: 1.1 * sigmoid_derivative(x, a), "expected 0.250000"),
    (lambda x, a: sigmoid_derivative(x, a).sum(), "shape of x"),
    (lambda x, a: sigmoid_derivative(x, a).tolist(), "must return a torch.Tensor"),
    (lambda x, a: (sigmoid_derivative(x, a) > 0.5), "floating-point"),
    (lambda x, a: 1 / 0, "ZeroDivisionError"),
])
def test_sigmoid_derivative_wrong_answers_get_specific_hints(wrong, hint):
    with pytest.raises(ExerciseError, match=hint):
        check_sigmoid_derivative(wrong)


def test_sigmoid_derivative_not_a_function():
    with pytest.raises(ExerciseError, match="pass your function itself"):
        check_sigmoid_derivative(sigmoid_derivative(torch.zeros(3), 4.0))


def test_exercise_error_is_an_assertion_error():
    with pytest.raises(AssertionError):
        check_sigmoid_derivative(sigmoid_derivative_stub)


# -- exercise 2: alpha for a given peak ----------------------------------------------------------

PEAK_PER_ALPHA = {"sigmoid": 1 / 4, "atan": 1 / 2, "piecewise_exp": 1 / 2, "soft_sign": 1 / 2,
                  "erf": 1 / math.sqrt(math.pi)}


def alpha_for_peak(name: str, peak: float) -> float:
    return peak / PEAK_PER_ALPHA[name]


def alpha_for_peak_stub(name: str, peak: float) -> float:
    raise NotImplementedError


def test_alpha_for_peak_solution_passes_and_reports_the_defaults():
    message = check_alpha_for_peak(alpha_for_peak)
    assert message.startswith("Correct")
    assert "Erf 1.772" in message


@pytest.mark.parametrize("answer", [
    lambda name, peak: torch.tensor(peak / PEAK_PER_ALPHA[name]),  # a 0-dim tensor
    lambda name, peak: torch.tensor([peak / PEAK_PER_ALPHA[name]]),  # a one-element tensor
    lambda name, peak: peak / surrogate.get(name, alpha=1.0).derivative(torch.zeros(1)),
    lambda name, peak: peak / surrogate.get(name, alpha=1.0).derivative(torch.zeros(())),
    lambda name, peak: int(4 * peak) if name == "sigmoid" and peak >= 1 else alpha_for_peak(
        name, peak),  # an int where the answer is whole
])
def test_alpha_for_peak_accepts_numbers_and_one_element_tensors(answer):
    message = check_alpha_for_peak(answer)
    assert message.startswith("Correct") and "Sigmoid 4" in message and "ATan 2" in message


def test_alpha_for_peak_calls_the_learner_only_through_the_guarded_call():
    """Every call is one of the checked cases (5 surrogates x 3 peaks), none for the message."""
    calls = []

    def counting(name, peak):
        calls.append((name, peak))
        return alpha_for_peak(name, peak)

    check_alpha_for_peak(counting)
    assert len(calls) == len(set(calls)) == 15


def test_alphas_for_peak_one_are_the_library_defaults():
    assert set(PEAK_SURROGATES) == set(PEAK_PER_ALPHA)
    for name in PEAK_SURROGATES:
        assert alpha_for_peak(name, 1.0) == pytest.approx(surrogate.spec(name).defaults["alpha"])


def test_alpha_for_peak_stub_fails_with_a_hint():
    with pytest.raises(ExerciseError, match="NotImplementedError"):
        check_alpha_for_peak(alpha_for_peak_stub)


@pytest.mark.parametrize(("wrong", "hint"), [
    (lambda name, peak: peak * PEAK_PER_ALPHA[name], "σ′\\(0\\) = α/4: solve"),
    (lambda name, peak: 2 * peak, "Sigmoid a peak σ′\\(0\\) = 0.25"),
    (lambda name, peak: 4 * peak if name == "sigmoid" else 2 * peak, "Erf.*α/√π"),
    (lambda name, peak: None, "must return a positive number"),
    (lambda name, peak: -1.0, "must return a positive number"),
    (lambda name, peak: {"sigmoid": 4}[name] * peak, "KeyError"),
])
def test_alpha_for_peak_wrong_answers_get_specific_hints(wrong, hint):
    with pytest.raises(ExerciseError, match=hint):
        check_alpha_for_peak(wrong)


def test_alpha_for_peak_not_a_function():
    with pytest.raises(ExerciseError, match="check_alpha_for_peak\\(alpha_for_peak\\)"):
        check_alpha_for_peak(4.0)
