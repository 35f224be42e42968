"""Automatic checks for the lessons' exercises.

Each lesson has a module ``sgcourse.course.exercises.lessonNN`` whose ``check_*`` functions take the
learner's answer, raise :class:`ExerciseError` with a helpful hint when it is wrong, and return a
short confirmation string when it is right.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import torch

__all__ = ["ExerciseError", "call_learner", "require_callable", "require_number",
           "require_tensor_like"]


class ExerciseError(AssertionError):
    """An exercise answer is wrong; the message says what to look at."""


def require_callable(fn: object, check: str, what: str) -> Callable:
    """``fn`` if it is callable; otherwise an ExerciseError showing how to pass it."""
    if not callable(fn):
        raise ExerciseError(f"pass your function itself, as in {check}({what}), not "
                            f"{type(fn).__name__} {fn!r}")
    return fn


def call_learner(fn: Callable, label: str, *args: object) -> object:
    """Call the learner's function; a stub or a crash becomes an ExerciseError that says so."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise ExerciseError(f"{label} still raises NotImplementedError: replace the "
                            f"`raise NotImplementedError` line with your implementation.") from None
    except Exception as error:  # the learner's code may fail in any way; report how
        raise ExerciseError(f"{label} raised {type(error).__name__}: {error}") from error


def require_tensor_like(value: object, label: str, reference: torch.Tensor,
                        reference_name: str, *, returned: bool = True) -> torch.Tensor:
    """``value`` if it is a tensor of ``reference``'s shape; otherwise an ExerciseError naming
    what was expected. ``label`` names the learner's call (``returned=True``: ``value`` is what
    it returned) or one of the values it returned (``returned=False``).
    """
    be, shaped = ("must return", "a tensor of the shape of") if returned else (
        "must be", "have the shape of")
    if not isinstance(value, torch.Tensor):
        raise ExerciseError(f"{label} {be} a torch.Tensor, got {type(value).__name__}")
    if value.shape != reference.shape:
        raise ExerciseError(f"{label} {be if returned else 'must'} {shaped} {reference_name} "
                            f"{tuple(reference.shape)}, got {tuple(value.shape)}")
    return value


def require_number(value: object, label: str, what: str, *, shape_hint: str = "") -> float:
    """The learner's one-number answer as a float; otherwise an ExerciseError naming what was
    expected.

    Accepted: a Python or NumPy real number, or a one-element real tensor (0-dim or not, any
    float or integer dtype, attached to the autograd graph or not). Refused, each with its own
    message: a boolean (also a boolean tensor), a tensor of several numbers (``shape_hint`` says
    how to reduce it), anything else, and a non-finite number. ``what`` names the quantity, e.g.
    ``"a number of bytes"``.
    """
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            hint = f": {shape_hint}" if shape_hint else ""
            raise ExerciseError(f"{label} must return one number ({what}), got a tensor of shape "
                                f"{tuple(value.shape)}{hint}")
        if value.dtype == torch.bool:
            raise ExerciseError(f"{label} must return a number ({what}), got a boolean")
        if value.is_complex():
            raise ExerciseError(f"{label} must return a real number ({what}), got dtype "
                                f"{value.dtype}")
        number = float(value.detach().reshape(()).double())
    elif isinstance(value, bool):
        raise ExerciseError(f"{label} must return a number ({what}), got a boolean")
    elif isinstance(value, numbers.Real):
        number = float(value)
    else:
        raise ExerciseError(f"{label} must return a number ({what}), got "
                            f"{type(value).__name__}")
    if not math.isfinite(number):
        raise ExerciseError(f"{label} returned {number}: {what} must be finite")
    return number
