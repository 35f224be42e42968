"""The package's rooms: the SNN library never reaches into the course, matplotlib or ipywidgets.

Each check runs in a fresh interpreter, so modules imported by other tests cannot hide an import.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sgcourse"
LIBRARY = ("surrogate", "neuron", "kernels", "base", "layer", "functional", "encoding")
FORBIDDEN = ("sgcourse.course", "matplotlib", "ipywidgets", "IPython", "sklearn")


def test_the_library_imports_nothing_from_the_course_or_the_notebook_stack() -> None:
    imports = "; ".join(f"import sgcourse.{name}" for name in LIBRARY)
    code = (f"import sys; {imports}; "
            f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r} "
            f"or m.startswith('sgcourse.course')); print(bad)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"the library imported {result.stdout.strip()}"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("room", LIBRARY)
def test_no_library_source_names_the_course(room: str) -> None:
    """Also the lazy imports inside functions, which the fresh-interpreter check cannot see."""
    paths = [PACKAGE / f"{room}.py"] if (PACKAGE / f"{room}.py").exists() else sorted(
        (PACKAGE / room).rglob("*.py"))
    assert paths
    for path in paths:
        bad = {m for m in _imported_modules(path)
               if m.startswith("sgcourse.course") or m.split(".")[0] in FORBIDDEN}
        assert not bad, f"{path.relative_to(PACKAGE.parent)} imports {sorted(bad)}"


def test_functional_and_layer_do_not_import_each_other_in_a_cycle() -> None:
    assert "sgcourse.layer" not in _imported_modules(PACKAGE / "functional.py")
    for module in _imported_modules(PACKAGE / "functional.py"):
        assert (("._" not in module) and not module.split(".")[-1].startswith("_")) \
            or module == "__future__" or module == "sgcourse._checks", (
            f"functional imports the private module {module}")


def test_the_top_level_holds_only_the_three_rooms_and_the_entry_points() -> None:
    entries = {p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"}
    assert entries == {
        "__init__.py", "__main__.py", "_checks.py", "_version.py", "py.typed",
        "surrogate", "neuron", "kernels", "base.py", "layer.py", "functional.py", "encoding.py",
        "datasets.py", "viz.py", "course"}
