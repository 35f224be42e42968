"""Tests of sgcourse.course.exercises.lesson04: the triangle check passes on every correct form
(including the solution stored in the lesson notebook), fails on the stub, and names the usual
mistakes."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from lesson_solutions import notebook_solutions

from sgcourse import surrogate
from sgcourse.course.exercises import ExerciseError, lesson04

NOTEBOOK = Path(__file__).resolve().parents[1] / "lessons" / "04_write_your_own_surrogate.ipynb"


def notebook_solution() -> Callable:
    """``triangle_spike`` as the lesson's solution cell defines it."""
    return notebook_solutions(NOTEBOOK)["triangle_spike"]


def _triangle(x, width):
    return torch.clamp(1 - x.abs() / width, min=0) / width


def _function_answer(forward, derivative):
    """An answer written as an autograd.Function in the setup_context style."""
    class Spike(torch.autograd.Function):
        @staticmethod
        def forward(x, width):
            return forward(x, width)

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])
            ctx.width = inputs[1]

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return derivative(grad_output, x, ctx.width), None

    return lambda x, width=1.0: Spike.apply(x, width)


def _old_style_answer(x, width=1.0):
    """The ctx-in-forward style (no setup_context)."""
    class Spike(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, width):
            ctx.save_for_backward(x)
            ctx.width = width
            return (x >= 0).to(x.dtype)

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return grad_output * _triangle(x, ctx.width), None

    return Spike.apply(x, width)


def _detach_trick(x, width=1.0):
    z = torch.clamp(x, -width, width)
    sigma = 0.5 + z / width - z * z.abs() / (2 * width**2)
    return (x >= 0).to(x.dtype) + (sigma - sigma.detach())


def _detach_trick_left_to_right(x, width=1.0):
    z = torch.clamp(x, -width, width)
    sigma = 0.5 + z / width - z * z.abs() / (2 * width**2)
    return (x >= 0).to(x.dtype) + sigma - sigma.detach()   # (Θ + σ) − σ: rounded


def _library(x, width=1.0):
    return surrogate.PiecewiseQuadratic(alpha=1 / width)(x)


def _float32_always(x, width=1.0):
    return _old_style_answer(x.float(), width)


THETA = lambda x, w: (x >= 0).to(x.dtype)  # noqa: E731


@pytest.mark.parametrize("answer", [
    _function_answer(THETA, lambda g, x, w: g * _triangle(x, w)), _old_style_answer,
    _detach_trick, _library, _float32_always])
def test_accepts_every_correct_form(answer: Callable) -> None:
    assert lesson04.check_triangle_spike(answer).startswith("Correct")


def test_accepts_the_notebook_solution() -> None:
    assert lesson04.check_triangle_spike(notebook_solution()).startswith("Correct")


@pytest.mark.parametrize(("answer", "hint"), [
    (_function_answer(lambda x, w: surrogate.PiecewiseQuadratic(alpha=1 / w, spiking=False)(x),
                      lambda g, x, w: g * _triangle(x, w)), "smooth σ(x)"),
    (_function_answer(lambda x, w: (x > 0).to(x.dtype), lambda g, x, w: g * _triangle(x, w)),
     "Θ(0) = 1"),
    (_function_answer(THETA, lambda g, x, w: _triangle(x, w)), "incoming gradient is missing"),
    (_function_answer(THETA, lambda g, x, w: g * _triangle(x, w) * w), "peak is 1, not 1/w"),
    (_function_answer(THETA, lambda g, x, w: g * (1 - x.abs() / w) / w), "must be 0"),
    (_function_answer(THETA, lambda g, x, w: g * torch.clamp(w - w * w * x.abs(), min=0)),
     "alpha = 1/w"),
    (_function_answer(THETA, lambda g, x, w: -g * _triangle(x, w)), "sign"),
    (_detach_trick_left_to_right, "theta + (sigma - sigma.detach())"),
    (lambda x, width=1.0: (x >= 0).to(x.dtype), "no grad_fn"),
    (lambda x, width=1.0: x >= 0, "dtype torch.bool"),
    (lambda x, width=1.0: x.sum(), "shape"),
    (lambda x, width=1.0: x.detach().clamp_(min=0), "in place"),
])
def test_names_the_usual_mistakes(answer: Callable, hint: str) -> None:
    with pytest.raises(ExerciseError, match=re.escape(hint)):
        lesson04.check_triangle_spike(answer)


def test_backward_with_too_few_gradients_is_reported() -> None:
    class Spike(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, width):
            ctx.save_for_backward(x)
            return (x >= 0).to(x.dtype)

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output  # no None for width

    with pytest.raises(ExerciseError, match="one gradient per input"):
        lesson04.check_triangle_spike(lambda x, width=1.0: Spike.apply(x, width))


def test_stub_and_non_callable() -> None:
    def stub(x, width=1.0):
        raise NotImplementedError

    with pytest.raises(ExerciseError, match="NotImplementedError"):
        lesson04.check_triangle_spike(stub)
    with pytest.raises(ExerciseError, match="pass your function itself"):
        lesson04.check_triangle_spike(torch.zeros(3))


def test_a_crash_while_formatting_is_impossible_for_odd_values() -> None:
    with pytest.raises(ExerciseError, match=r"must return a torch\.Tensor"):
        lesson04.check_triangle_spike(lambda x, width=1.0: object())


def test_a_rounding_error_in_the_forward_pass_is_shown_at_full_precision() -> None:
    with pytest.raises(ExerciseError) as error:
        lesson04.check_triangle_spike(_detach_trick_left_to_right)
    assert re.search(r"returned \[[^]]*0\.9999999", str(error.value))   # not rounded to "1"
