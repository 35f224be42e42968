"""Student copies are nbgrader's released notebooks: every check fails on the released stub and
passes on the lesson's own solution."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from lesson_solutions import functions_of

from sgcourse.course.classroom import SOLUTION_TAG, read_notebook, released_copy
from sgcourse.course.exercises import ExerciseError

LESSONS = sorted((Path(__file__).resolve().parent.parent / "lessons").glob("[0-9][0-9]_*.ipynb"))
CHECK_CALL = re.compile(r"\b(lesson\d\d)\.(check_\w+)\((\w+)\)")


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_check_fails_on_the_released_stub_and_passes_on_the_solution(path: Path) -> None:
    lesson = read_notebook(path)
    released = released_copy(lesson, path.name)
    solutions: dict[str, Callable] = {}
    stubs: dict[str, Callable] = {}
    for original, copy in zip(lesson["cells"], released["cells"], strict=True):
        if SOLUTION_TAG in original.get("metadata", {}).get("tags", []):
            solutions |= functions_of(_source(original))
            stubs |= functions_of(_source(copy))
    assert solutions, f"{path.name}: no exercise"
    assert set(stubs) == set(solutions), "the release must keep every answer's signature"
    calls = CHECK_CALL.findall("\n".join(_source(c) for c in lesson["cells"]
                                         if c["cell_type"] == "code"))
    assert calls, f"{path.name}: no exercise check is called"
    assert {name for *_, name in calls} <= set(solutions), "a checked function is not a solution"
    for module_name, check_name, function_name in calls:
        module = importlib.import_module(f"sgcourse.course.exercises.{module_name}")
        check = getattr(module, check_name)
        assert check(solutions[function_name]).startswith("Correct"), (
            f"{path.name}: {check_name} rejects the lesson's own solution")
        with pytest.raises(ExerciseError, match="NotImplementedError"):
            check(stubs[function_name])
