"""The exercise answers stored in the lessons, as the exercise tests and the student-copy test
run them: each solution cell's functions, executed with nothing but ``torch`` and ``math`` (an
answer may use only its arguments and those two modules)."""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Callable
from pathlib import Path

import torch

__all__ = ["SOLUTION_TAG", "functions_of", "notebook_solutions", "stub"]

SOLUTION_TAG = "solution"


def functions_of(source: str) -> dict[str, Callable]:
    """The top-level functions a cell's ``source`` defines, executed alone (no other statement
    of the cell runs)."""
    tree = ast.parse(source)
    tree.body = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    namespace: dict = {"torch": torch, "math": math}
    exec(compile(tree, "<cell>", "exec"), namespace)
    return {node.name: namespace[node.name] for node in tree.body}


def notebook_solutions(notebook: Path) -> dict[str, Callable]:
    """Every function defined in the notebook's cells tagged ``solution``, by name."""
    found: dict[str, Callable] = {}
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        if SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
            source = cell["source"]
            found |= functions_of("".join(source) if isinstance(source, list) else source)
    return found


def stub(*args: object, **kwargs: object) -> object:
    """What a released notebook's answer does before the learner writes it."""
    raise NotImplementedError
