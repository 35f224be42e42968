"""Student copies: solutions stubbed, checks fail on every stub and pass on every solution."""

from __future__ import annotations

import ast
import importlib
import json
import math
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from sgcourse.course.exercises import ExerciseError
from sgcourse.course.student_copies import SOLUTION_TAG, stub_solution_source, student_notebook

LESSONS = sorted((Path(__file__).resolve().parent.parent / "lessons").glob("[0-9][0-9]_*.ipynb"))
CHECK_CALL = re.compile(r"\b(lesson\d\d)\.(check_\w+)\((\w+)\)")


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _functions(source: str) -> dict[str, Callable]:
    """The top-level functions a cell defines, executed alone (no other statements)."""
    tree = ast.parse(source)
    tree.body = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    namespace: dict = {"torch": torch, "math": math}
    exec(compile(tree, "<cell>", "exec"), namespace)
    return {node.name: namespace[node.name] for node in tree.body}


def _check_calls(notebook: dict) -> list[tuple[str, str, str]]:
    text = "\n".join(_source(c) for c in notebook["cells"] if c["cell_type"] == "code")
    return CHECK_CALL.findall(text)


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_check_fails_on_the_stub_and_passes_on_the_solution(path: Path) -> None:
    lesson = _load(path)
    student = student_notebook(lesson)
    solutions: dict[str, Callable] = {}
    stubs: dict[str, Callable] = {}
    for original, copy in zip(lesson["cells"], student["cells"], strict=True):
        if SOLUTION_TAG in original.get("metadata", {}).get("tags", []):
            solutions |= _functions(_source(original))
            stubs |= _functions(_source(copy))
    calls = _check_calls(lesson)
    assert calls, f"{path.name}: no exercise check is called"
    assert {name for *_, name in calls} <= set(solutions), "a checked function is not a solution"
    for module_name, check_name, function_name in calls:
        module = importlib.import_module(f"sgcourse.course.exercises.{module_name}")
        check = getattr(module, check_name)
        assert check(solutions[function_name]).startswith("Correct")
        with pytest.raises(ExerciseError):
            check(stubs[function_name])


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_student_copy_changes_only_solution_cells_and_clears_outputs(path: Path) -> None:
    lesson = _load(path)
    student = student_notebook(lesson)
    assert lesson == _load(path), "the solution notebook must not be modified"
    assert "widgets" not in student["metadata"]
    for original, copy in zip(lesson["cells"], student["cells"], strict=True):
        if copy["cell_type"] == "code":
            assert copy["outputs"] == [] and copy["execution_count"] is None
        if SOLUTION_TAG in original.get("metadata", {}).get("tags", []):
            assert "raise NotImplementedError" in _source(copy)
            assert "solution" not in _source(copy).lower()
        else:
            assert _source(copy) == _source(original)


def test_stub_keeps_signature_docstring_and_other_statements() -> None:
    source = ('# Exercise (solution).\n'
              'def f(x, y=2):\n    """Add."""\n    z = x + y\n    return z\n\n\n'
              'def g():\n    return 1\n\nprint(f(1))\n')
    stubbed = stub_solution_source(source)
    tree = ast.parse(stubbed)
    f, g = (node for node in tree.body if isinstance(node, ast.FunctionDef))
    assert [a.arg for a in f.args.args] == ["x", "y"] and ast.get_docstring(f) == "Add."
    assert isinstance(f.body[-1], ast.Raise) and isinstance(g.body[-1], ast.Raise)
    assert "z = x + y" not in stubbed and stubbed.rstrip().endswith("print(f(1))")
    assert "(solution)" not in stubbed


def test_a_cell_without_a_function_or_a_notebook_without_solutions_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one top-level function"):
        stub_solution_source("x = 1\n")
    with pytest.raises(ValueError, match="no cell tagged 'solution'"):
        student_notebook({"cells": [{"cell_type": "code", "source": "1", "metadata": {},
                                     "outputs": [], "execution_count": 1}], "metadata": {}})


def test_command_line_writes_the_copies(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "sgcourse", "student-copies",
                             *map(str, LESSONS), "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in tmp_path.glob("*.ipynb"))
    assert written == [p.name for p in LESSONS]
    copy = _load(tmp_path / LESSONS[0].name)
    assert any("raise NotImplementedError" in _source(c) for c in copy["cells"])
