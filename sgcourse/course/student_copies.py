"""Student copies of the lessons: the solution notebook is the single source.

In a lesson, every exercise's solution sits in a code cell tagged ``solution``. The student copy
keeps each top-level function's signature (and docstring) in those cells and replaces its body by
``raise NotImplementedError``; the cell's leading comments (which talk about the solution) are
replaced by a short instruction; every other line, every other cell and the check calls stay as
they are. Outputs and execution counts are cleared, so learners start from a clean notebook::

    python -m sgcourse student-copies lessons/*.ipynb --out build/student
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path

__all__ = ["SOLUTION_TAG", "main_student_copies", "stub_solution_source", "student_notebook"]

SOLUTION_TAG = "solution"
STUB_BODY = '# Your code here.\nraise NotImplementedError("write your answer, then run the check")'
STUDENT_HEADER = ("# Your turn: replace each `raise NotImplementedError` below by your code,\n"
                  "# then run the check: it says what is wrong, or confirms your answer.")


def stub_solution_source(source: str) -> str:
    """``source`` with every top-level function body replaced by a ``NotImplementedError`` stub.

    Raises :class:`ValueError` when the cell defines no function (nothing to stub).
    """
    tree = ast.parse(source)
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    if not functions:
        raise ValueError("a solution cell must define at least one top-level function to stub")
    lines = source.splitlines()
    for function in reversed(functions):  # bottom-up, so earlier line numbers stay valid
        body = function.body
        keep = body[1:] if ast.get_docstring(function) is not None else body
        if not keep:
            continue
        first, last = keep[0].lineno - 1, function.end_lineno or keep[-1].lineno
        indent = " " * keep[0].col_offset
        if first == function.lineno - 1:  # one-line body on the def line: `def f(): return 1`
            raise ValueError(f"put the body of {function.name!r} on its own lines")
        # nbgrader's `### BEGIN SOLUTION` / `### END SOLUTION` around the answer go with it
        while first > function.lineno and _is_marker(lines[first - 1], "BEGIN"):
            first -= 1
        while last < len(lines) and _is_marker(lines[last], "END"):
            last += 1
        stub = [indent + line for line in STUB_BODY.splitlines()]
        lines[first:last] = stub
    while lines and lines[0].lstrip().startswith("#"):  # the solution's own comments go
        lines.pop(0)
    return "\n".join([STUDENT_HEADER, *lines])


def _is_marker(line: str, which: str) -> bool:
    """Whether ``line`` is nbgrader's ``### BEGIN SOLUTION`` (``which='BEGIN'``) or END marker."""
    return line.strip().upper() == f"### {which} SOLUTION"


def student_notebook(notebook: dict) -> dict:
    """A student copy of a lesson notebook (a JSON dict as stored on disk); the input is kept."""
    import copy

    copied = copy.deepcopy(notebook)
    stubbed = 0
    for cell in copied["cells"]:
        if cell["cell_type"] != "code":
            continue
        cell["outputs"], cell["execution_count"] = [], None
        if SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = stub_solution_source(source)
            cell["metadata"]["tags"] = [t for t in cell["metadata"]["tags"] if t != SOLUTION_TAG]
            stubbed += 1
    copied["metadata"].pop("widgets", None)
    if stubbed == 0:
        raise ValueError("the notebook has no cell tagged 'solution': no exercise to stub")
    return copied


def main_student_copies(paths: Sequence[str], out: str) -> int:
    """Write a student copy of each notebook into ``out``; return a process exit code."""
    import json

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in map(Path, paths):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        target = out_dir / path.name
        target.write_text(json.dumps(student_notebook(notebook), indent=1, ensure_ascii=False)
                          + "\n", encoding="utf-8")
        print(f"{path} -> {target}")
    return 0
