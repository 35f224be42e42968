"""Automatic checks for the lessons' exercises.

Each lesson has a module ``sgcourse.exercises.lessonNN`` whose ``check_*`` functions take the
learner's answer, raise :class:`ExerciseError` with a helpful hint when it is wrong, and return a
short confirmation string when it is right.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ExerciseError", "call_learner", "require_callable"]


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
