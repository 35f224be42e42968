"""Every committed lesson: executed top to bottom, structured as a lesson, thin over sgcourse."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LESSONS = sorted((REPO / "lessons").glob("*.ipynb"))
NAME = re.compile(r"^(\d\d)_[a-z0-9]+(?:_[a-z0-9]+)*\.ipynb$")


def _cells(path: Path, kind: str) -> list[dict]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return [c for c in notebook["cells"] if c["cell_type"] == kind]


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_lessons_are_numbered_in_order_without_gaps() -> None:
    assert LESSONS, "no lessons found"
    names = [p.name for p in LESSONS]
    assert all(NAME.match(n) for n in names), f"lessons must be named NN_slug.ipynb: {names}"
    assert [int(n[:2]) for n in names] == list(range(1, len(names) + 1))


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_committed_executed_top_to_bottom(path: Path) -> None:
    """nbval compares stored outputs, so they must come from one run, in order, without errors."""
    code = [c for c in _cells(path, "code") if _source(c).strip()]
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), (
        f"{path.name}: execution counts {counts} — re-execute the notebook top to bottom")
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{path.name} was committed with an error output"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_structure_of_a_lesson(path: Path) -> None:
    markdown = [_source(c) for c in _cells(path, "markdown")]
    code = [_source(c) for c in _cells(path, "code")]
    assert markdown[0].startswith("# "), "a lesson opens with its title"
    assert "learning goals" in markdown[0].lower(), "learning goals at the top"
    assert any(re.search(r"^#+ .*summary", m, re.I | re.M) for m in markdown), "a summary"
    assert any(re.search(r"\blesson\d\d\.check_\w+\(", c) for c in code), "a checked exercise"
    assert sum("assert " in c for c in code) >= 2, "key claims are backed by assert cells"
    assert "$" in "".join(markdown), "theory with math"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_library_code_lives_in_sgcourse(path: Path) -> None:
    """Only exercise solutions (cells tagged ``solution``) may define functions or classes."""
    for cell in _cells(path, "code"):
        if "solution" in cell.get("metadata", {}).get("tags", []):
            continue
        source = "\n".join(line for line in _source(cell).splitlines()
                           if not line.lstrip().startswith(("%", "!")))
        defined = [n.name for n in ast.walk(ast.parse(source))
                   if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)]
        assert not defined, f"{path.name} defines {defined} in a cell: move it into sgcourse"


def test_readme_lists_every_lesson() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in LESSONS if f"lessons/{p.name}" not in readme]
    assert not missing, f"README's lesson table lacks {missing}"
