"""Automatic checks for the lessons' exercises.

Each lesson has a module ``sgcourse.exercises.lessonNN`` whose ``check_*`` functions take the
learner's answer, raise :class:`ExerciseError` with a helpful hint when it is wrong, and return a
short confirmation string when it is right.
"""

from __future__ import annotations

__all__ = ["ExerciseError"]


class ExerciseError(AssertionError):
    """An exercise answer is wrong; the message says what to look at."""
