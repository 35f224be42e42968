"""Classroom grading with nbgrader: every lesson is a gradable assignment.

The lesson notebooks are the single source, for self-paced learners and for classrooms alike.
Each exercise is two code cells:

- the **solution cell** (tag ``solution``): a function whose answer lines sit between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION``. Self-paced learners read and run it as it is;
  nbgrader's ``generate_assignment`` replaces the marked lines by a ``raise
  NotImplementedError()`` stub, keeping the signature;
- the **check cell** (tag ``check``), right after it: it calls the lesson's check on the function
  and is an autograded test cell worth :data:`CHECK_POINTS` point(s). A check raises when the
  answer is wrong, and a correct answer runs warning-free (nbgrader scores a test cell 0 when it
  writes anything to stderr).

Every other cell is read-only (``locked``): autograding restores it from the instructor's copy.
:func:`mark_notebook` writes this nbgrader metadata from the tags; the committed lessons carry it
(a test checks that marking them again changes nothing), and ``python -m sgcourse
embed-widget-state`` re-marks a lesson whenever it re-executes it.

:func:`lay_out_course` builds an nbgrader course directory::

    DIR/nbgrader_config.py
    DIR/source/<lesson>/<lesson>.ipynb        one assignment per lesson

ready for ``nbgrader generate_assignment <lesson>`` and ``nbgrader autograde <lesson>``
(``python -m sgcourse classroom DIR``; the README's "Teaching with this course" has the whole flow).
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "BEGIN_SOLUTION",
    "CHECK_POINTS",
    "CHECK_TAG",
    "END_SOLUTION",
    "SOLUTION_TAG",
    "lay_out_course",
    "main_classroom",
    "main_student_copies",
    "mark_notebook",
    "nbgrader_config",
    "next_steps",
    "read_notebook",
    "released_copy",
    "write_notebook",
]

SOLUTION_TAG = "solution"
CHECK_TAG = "check"
BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
CHECK_POINTS = 1
"""Points of each exercise's check cell."""

SCHEMA_VERSION = 3
"""nbgrader's cell-metadata schema."""

CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
"""What replaces each answer in a released notebook (nbgrader's default stub)."""

COURSE_ID = "sgcourse"
CELL_TIMEOUT = 600
"""Seconds nbgrader lets one cell run while autograding (a lesson takes under 30 s in all)."""


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _tags(cell: dict[str, Any]) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _cell_metadata(kind: str, grade_id: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "grade": kind == "check",
        "grade_id": grade_id,
        "locked": kind != "solution",
        "schema_version": SCHEMA_VERSION,
        "solution": kind == "solution",
        "task": False,
    }
    if kind == "check":
        metadata["points"] = CHECK_POINTS
    return metadata


def _mentions_a_marker(line: str) -> bool:
    """Whether nbgrader would read ``line`` as a solution delimiter (it looks for substrings)."""
    return any(word in line for word in (BEGIN_SOLUTION[4:], END_SOLUTION[4:]))


def _check_solution_source(source: str, where: str) -> None:
    lines = [line.strip() for line in source.splitlines()]
    stray = [line for line in lines
             if _mentions_a_marker(line) and line not in (BEGIN_SOLUTION, END_SOLUTION)]
    if stray:
        raise ValueError(f"{where}: {stray[0]!r} mentions a solution marker; nbgrader would take "
                         f"it for one. Only the marker lines themselves may contain those words")
    begins, ends = lines.count(BEGIN_SOLUTION), lines.count(END_SOLUTION)
    if begins == 0 or begins != ends:
        raise ValueError(f"{where}: a solution cell needs its answer between a line "
                         f"{BEGIN_SOLUTION!r} and a line {END_SOLUTION!r} (found {begins} begin "
                         f"and {ends} end markers)")
    depth = 0
    for line in lines:
        depth += (line == BEGIN_SOLUTION) - (line == END_SOLUTION)
        if depth not in (0, 1):
            raise ValueError(f"{where}: solution markers must alternate begin, end, begin, …")


def mark_notebook(notebook: dict[str, Any], name: str = "notebook") -> dict[str, Any]:
    """Write nbgrader's metadata into a lesson (a notebook as a JSON dict), from its tags.

    Solution cells become nbgrader solution cells, each check cell an autograded test cell worth
    :data:`CHECK_POINTS`, every other cell a locked (read-only) cell; the ``grade_id`` of a cell is
    derived from its nbformat cell id, so it is stable when other cells change. Marking is
    idempotent. Raises :class:`ValueError` (``name`` says which notebook) when a solution cell
    lacks its markers, a check cell does not follow a solution cell, or a cell has no id.
    Returns ``notebook``, changed in place.
    """
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        raise TypeError(f"{name}: notebook must be a dict with a list of 'cells'")
    previous_kind = None
    for index, cell in enumerate(cells):
        where = f"{name}, cell {index}"
        tags = _tags(cell)
        kind = ("solution" if SOLUTION_TAG in tags else
                "check" if CHECK_TAG in tags else "locked")
        if SOLUTION_TAG in tags and CHECK_TAG in tags:
            raise ValueError(f"{where}: a cell is tagged both {SOLUTION_TAG!r} and {CHECK_TAG!r}; "
                             f"put the check call in its own cell after the solution")
        if kind != "locked" and cell.get("cell_type") != "code":
            raise ValueError(f"{where}: only code cells can be tagged {kind!r}")
        if kind == "solution":
            _check_solution_source(_source(cell), where)
        elif any(_mentions_a_marker(line) for line in _source(cell).splitlines()):
            raise ValueError(f"{where}: the text mentions {BEGIN_SOLUTION[4:]!r} or "
                             f"{END_SOLUTION[4:]!r}; nbgrader takes any line containing those "
                             f"words for a solution marker. Describe the markers in other words "
                             f"(e.g. 'between the two marker comments')")
        if kind == "check" and previous_kind not in ("solution", "check"):
            raise ValueError(f"{where}: a check cell must follow the solution cell it checks")
        cell_id = cell.get("id")
        if not cell_id:
            raise ValueError(f"{where}: the cell has no id (nbformat >= 4.5 needed); open and "
                             f"save the notebook with a current JupyterLab")
        cell.setdefault("metadata", {})["nbgrader"] = _cell_metadata(kind, f"{kind}-{cell_id}")
        if cell.get("cell_type") == "code" or kind != "locked":
            previous_kind = kind
    return notebook


def read_notebook(path: Path | str) -> dict[str, Any]:
    """A notebook file as a JSON dict."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_notebook(notebook: dict[str, Any], path: Path | str) -> None:
    """Write a notebook as JupyterLab does (one-space indent, UTF-8, trailing newline)."""
    Path(path).write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n",
                          encoding="utf-8")


def nbgrader_config(course_id: str = COURSE_ID) -> str:
    """The text of the course directory's ``nbgrader_config.py``."""
    return (
        "# nbgrader configuration of the sgcourse classroom (python -m sgcourse classroom).\n"
        "c = get_config()  # noqa: F821 (defined by nbgrader when it loads this file)\n\n"
        f"c.CourseDirectory.course_id = {course_id!r}\n"
        "# Assignments are the lessons: source/<lesson>/<lesson>.ipynb.\n"
        "# A lesson runs in under 30 s on two CPU cores; allow slow graders plenty of time.\n"
        f"c.Execute.timeout = {CELL_TIMEOUT}\n"
        "# Answers are replaced by this stub in the released notebooks.\n"
        f"c.ClearSolutions.code_stub = {{'python': {CODE_STUB!r}}}\n"
    )


def _lesson_paths(lessons_dir: Path) -> list[Path]:
    paths = sorted(lessons_dir.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no lessons (NN_name.ipynb) in {lessons_dir}")
    return paths


def lay_out_course(directory: Path | str, lessons: Sequence[Path | str] | None = None, *,
                   force: bool = False) -> list[str]:
    """Build an nbgrader course directory from the lessons; return the assignment names.

    Writes ``directory/nbgrader_config.py`` and ``directory/source/<lesson>/<lesson>.ipynb`` for
    every lesson (default: all of ``lessons/`` of this clone), each marked by
    :func:`mark_notebook`. An existing course (a config or a ``source`` folder) is left alone
    with a :class:`FileExistsError` unless ``force`` is true; with ``force`` the config and the
    lessons' source folders are replaced, everything else (gradebook, submissions, feedback) is
    kept.
    """
    from sgcourse.course.lab import find_lessons

    root = Path(directory)
    paths = [Path(p) for p in lessons] if lessons is not None else _lesson_paths(find_lessons())
    if not paths:
        raise ValueError("lessons must name at least one lesson notebook")
    config = root / "nbgrader_config.py"
    source = root / "source"
    if not force and (config.exists() or source.exists()):
        raise FileExistsError(f"{root} already holds an nbgrader course ({config.name} or "
                              f"source/); pass --force to replace its config and lesson sources "
                              f"(the gradebook and submissions are kept)")
    marked = {path.stem: mark_notebook(read_notebook(path), path.name) for path in paths}
    root.mkdir(parents=True, exist_ok=True)
    config.write_text(nbgrader_config(), encoding="utf-8")
    for name, notebook in marked.items():
        folder = source / name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        write_notebook(notebook, folder / f"{name}.ipynb")
    return list(marked)


def next_steps(directory: Path | str, assignments: Sequence[str]) -> str:
    """What an instructor runs after :func:`lay_out_course`, with the exact commands."""
    first = assignments[0]
    return "\n".join([
        f"Course laid out in {directory}: {len(assignments)} assignments, one per lesson "
        f"({first} … {assignments[-1]}).",
        "Next (with the environment's bin/ on PATH, e.g. `source .venv/bin/activate`):",
        f"  cd {directory}",
        f"  nbgrader generate_assignment {first}   # writes release/{first}/, answers stubbed",
        '  nbgrader generate_assignment "*"   # or every lesson at once',
        "  hand out release/<lesson>/<lesson>.ipynb and collect each student's file as",
        "  submitted/<student>/<lesson>/<lesson>.ipynb (or nbgrader's exchange: "
        "release_assignment, collect)",
        f"  nbgrader autograde {first}   # runs every submission and scores its checks",
        "  nbgrader export   # writes grades.csv",
    ])


def main_classroom(directory: str, *, force: bool = False) -> int:
    """``python -m sgcourse classroom DIR``: lay out the course and print what to do next."""
    try:
        assignments = lay_out_course(directory, force=force)
    except (FileExistsError, FileNotFoundError, ValueError) as error:
        print(f"sgcourse classroom: {error}")
        return 1
    print(next_steps(directory, assignments))
    return 0


def _import_nbgrader() -> None:
    try:
        import nbgrader  # noqa: F401
    except ImportError as error:
        raise ImportError('nbgrader is not installed: pip install -e ".[classroom]" (it brings '
                          'nbgrader)') from error


def released_copy(notebook: dict[str, Any], name: str = "notebook") -> dict[str, Any]:
    """``notebook`` as nbgrader releases it: marked by :func:`mark_notebook`, then nbgrader's own
    ``ClearSolutions`` and ``ClearOutput`` preprocessors: each answer between the solution markers
    becomes ``raise NotImplementedError()``, outputs and widget state are cleared. The input is
    kept."""
    _import_nbgrader()
    import nbformat
    from nbgrader.preprocessors import ClearOutput, ClearSolutions
    from traitlets.config import Config

    notebook = mark_notebook(copy.deepcopy(notebook), name)

    node = nbformat.reads(json.dumps(notebook), as_version=4)  # sources as strings
    config = Config()
    config.ClearSolutions.code_stub = {"python": CODE_STUB}
    resources: dict[str, Any] = {}
    for preprocessor in (ClearSolutions(config=config), ClearOutput(config=config)):
        node, resources = preprocessor.preprocess(node, resources)
    released = json.loads(nbformat.writes(node))
    released["metadata"].pop("widgets", None)
    return released


def main_student_copies(paths: Sequence[str], out: str) -> int:
    """``python -m sgcourse student-copies``: write :func:`released_copy` of each lesson to
    ``out``; return a process exit code."""
    try:
        _import_nbgrader()
    except ImportError as error:
        print(f"sgcourse student-copies: {error}")
        return 1
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in map(Path, paths):
        target = out_dir / path.name
        write_notebook(released_copy(read_notebook(path), path.name), target)
        print(f"{path} -> {target}")
    return 0
