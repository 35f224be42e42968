"""Classroom grading: the lessons are nbgrader assignments, and nbgrader's real flow grades them.

The flow test lays out a course in a temporary folder with ``python -m sgcourse classroom``,
releases every lesson with ``nbgrader generate_assignment``, autogrades two submissions of three
lessons with ``nbgrader autograde`` (one equal to the solution, one equal to the released stub) and
reads the scores from nbgrader's gradebook.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sgcourse.course.classroom import (
    BEGIN_SOLUTION,
    CHECK_POINTS,
    CHECK_TAG,
    END_SOLUTION,
    SOLUTION_TAG,
    lay_out_course,
    mark_notebook,
    read_notebook,
    released_copy,
)

REPO = Path(__file__).resolve().parents[1]
LESSONS = sorted((REPO / "lessons").glob("[0-9][0-9]_*.ipynb"))
#: Lessons autograded in the flow test (each submission re-executes the whole lesson).
GRADED = [path.stem for path in LESSONS[:3]]


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _cell(kind: str, source: str, tags: tuple[str, ...] = (), cell_id: str = "x") -> dict:
    cell = {"cell_type": kind, "id": cell_id, "metadata": {"tags": list(tags)}, "source": source}
    if kind == "code":
        cell |= {"outputs": [], "execution_count": None}
    return cell


def _exercise(solution_body: str = "    return 2 * x\n") -> dict:
    return {"metadata": {}, "nbformat": 4, "nbformat_minor": 5, "cells": [
        _cell("markdown", "# Title\n", cell_id="a"),
        _cell("code", f"def f(x):\n    {BEGIN_SOLUTION}\n{solution_body}    {END_SOLUTION}\n",
              (SOLUTION_TAG,), "b"),
        _cell("code", "print(check(f))\n", (CHECK_TAG,), "c"),
        _cell("code", "x = 1\n", cell_id="d"),
    ]}


def _answer_lines(cell: dict) -> list[str]:
    """The code lines (not blank, not comments) between a cell's solution markers."""
    lines: list[str] = []
    inside = False
    for line in _source(cell).splitlines():
        if line.strip() == BEGIN_SOLUTION:
            inside = True
        elif line.strip() == END_SOLUTION:
            inside = False
        elif inside and line.strip() and not line.strip().startswith("#"):
            lines.append(line.strip())
    return lines


def _assert_no_answer_left(lesson: dict, released: dict, name: str) -> None:
    """Every solution cell of ``released`` is stubbed and keeps none of the answer's lines."""
    for original, copied in zip(lesson["cells"], released["cells"], strict=True):
        if SOLUTION_TAG not in original["metadata"].get("tags", []):
            continue
        kept = set(line.strip() for line in _source(copied).splitlines())
        assert "raise NotImplementedError()" in kept, f"{name}: a solution cell is not stubbed"
        assert BEGIN_SOLUTION not in kept and END_SOLUTION not in kept
        left = [line for line in _answer_lines(original) if line in kept]
        assert not left, f"{name}: answer lines released: {left}"


# --- marking ----------------------------------------------------------------------------------
def test_marking_makes_solution_check_and_locked_cells() -> None:
    notebook = mark_notebook(_exercise())
    title, solution, check, other = (cell["metadata"]["nbgrader"] for cell in notebook["cells"])
    assert solution["solution"] and not solution["locked"] and not solution["grade"]
    assert check["grade"] and check["locked"] and check["points"] == CHECK_POINTS
    assert not check["solution"]
    for locked in (title, other):
        assert locked["locked"] and not locked["grade"] and not locked["solution"]
    ids = [cell["metadata"]["nbgrader"]["grade_id"] for cell in notebook["cells"]]
    assert ids == ["locked-a", "solution-b", "check-c", "locked-d"]


def test_marking_is_idempotent_and_keeps_the_tags() -> None:
    once = mark_notebook(_exercise())
    twice = mark_notebook(copy.deepcopy(once))
    assert once == twice
    assert once["cells"][1]["metadata"]["tags"] == [SOLUTION_TAG]


@pytest.mark.parametrize(("change", "message"), [
    (lambda nb: nb["cells"][1].update(source="def f(x):\n    return 2 * x\n"), "BEGIN SOLUTION"),
    (lambda nb: nb["cells"][1].update(source=f"def f(x):\n    {BEGIN_SOLUTION}\n    return x\n"),
     "1 begin and 0 end"),
    (lambda nb: nb["cells"].insert(2, _cell("code", "y = 2\n", cell_id="e")), "must follow"),
    (lambda nb: nb["cells"][2]["metadata"]["tags"].append(SOLUTION_TAG), "both"),
    (lambda nb: nb["cells"][0]["metadata"]["tags"].append(CHECK_TAG), "only code cells"),
    (lambda nb: nb["cells"][3].pop("id"), "no id"),
    (lambda nb: nb["cells"][0].update(source="Answer between ### BEGIN SOLUTION and …"),
     "other words"),
    (lambda nb: nb["cells"][1].update(source=f"def f(x):\n    # BEGIN SOLUTION below\n"
                                             f"    {BEGIN_SOLUTION}\n    return x\n"
                                             f"    {END_SOLUTION}\n"), "mentions a solution"),
])
def test_marking_rejects_a_malformed_exercise(change, message: str) -> None:
    notebook = _exercise()
    change(notebook)
    with pytest.raises(ValueError, match=message):
        mark_notebook(notebook, "lesson.ipynb")


def test_marking_rejects_a_non_notebook() -> None:
    with pytest.raises(TypeError, match="cells"):
        mark_notebook({"cells": None})


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_committed_lesson_is_an_nbgrader_assignment(path: Path) -> None:
    """The lesson on disk carries the metadata that marking it would write (single source)."""
    lesson = read_notebook(path)
    assert mark_notebook(copy.deepcopy(lesson), path.name) == lesson, (
        f"{path.name}: nbgrader metadata missing or stale: re-save it with "
        f"python -m sgcourse embed-widget-state {path.relative_to(REPO)}")
    kinds = [cell["metadata"]["nbgrader"] for cell in lesson["cells"]]
    assert any(k["solution"] for k in kinds), f"{path.name} has no exercise"
    assert any(k["grade"] for k in kinds), f"{path.name} has no graded check"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_graded_cells_ran_warning_free(path: Path) -> None:
    """nbgrader scores a test cell 0 when it writes to stderr; the committed outputs (checked
    against a fresh run by nbval) show what each check cell writes."""
    for cell in read_notebook(path)["cells"]:
        if CHECK_TAG in cell["metadata"].get("tags", []):
            streams = [o for o in cell.get("outputs", []) if o.get("name") == "stderr"
                       or o["output_type"] == "error"]
            assert not streams, f"{path.name}: {_source(cell)!r} wrote {streams}"
            assert cell.get("outputs"), f"{path.name}: {_source(cell)!r} was not executed"


# --- released copies (nbgrader's own preprocessors) -------------------------------------------
@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_a_released_lesson_has_no_solution_left_and_no_outputs(path: Path) -> None:
    lesson = read_notebook(path)
    released = released_copy(lesson, path.name)
    assert lesson == read_notebook(path), "the lesson itself must not change"
    _assert_no_answer_left(lesson, released, path.name)
    assert all(cell.get("outputs", []) == [] for cell in released["cells"])
    assert "widgets" not in released["metadata"]
    for original, copied in zip(lesson["cells"], released["cells"], strict=True):
        if SOLUTION_TAG not in original["metadata"].get("tags", []):
            assert _source(copied) == _source(original)


def test_student_copies_command_writes_released_copies(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "sgcourse", "student-copies",
                             *map(str, LESSONS), "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in tmp_path.glob("*.ipynb")) == [p.name for p in LESSONS]
    first = read_notebook(tmp_path / LESSONS[0].name)
    assert first == released_copy(read_notebook(LESSONS[0]))


# --- laying out a course ----------------------------------------------------------------------
def test_lay_out_writes_config_and_one_assignment_per_lesson(tmp_path: Path) -> None:
    names = lay_out_course(tmp_path / "course")
    assert names == [path.stem for path in LESSONS]
    config = (tmp_path / "course" / "nbgrader_config.py").read_text(encoding="utf-8")
    assert "c.CourseDirectory.course_id" in config and "c.Execute.timeout" in config
    for path in LESSONS:
        copied = tmp_path / "course" / "source" / path.stem / path.name
        assert read_notebook(copied) == read_notebook(path)


def test_lay_out_refuses_an_existing_course_unless_forced(tmp_path: Path) -> None:
    course = tmp_path / "course"
    lay_out_course(course, LESSONS[:1])
    (course / "gradebook.db").write_text("kept", encoding="utf-8")
    stale = course / "source" / LESSONS[0].stem / LESSONS[0].name
    stale.write_text("{}", encoding="utf-8")
    with pytest.raises(FileExistsError, match="--force"):
        lay_out_course(course, LESSONS[:1])
    assert stale.read_text(encoding="utf-8") == "{}"
    lay_out_course(course, LESSONS[:1], force=True)
    assert read_notebook(stale) == read_notebook(LESSONS[0])
    assert (course / "gradebook.db").read_text(encoding="utf-8") == "kept"


def test_classroom_command_explains_what_to_run_next(tmp_path: Path) -> None:
    course = tmp_path / "course"
    command = [sys.executable, "-m", "sgcourse", "classroom", str(course)]
    first = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"nbgrader generate_assignment {LESSONS[0].stem}" in first.stdout
    assert "nbgrader autograde" in first.stdout and "nbgrader export" in first.stdout
    again = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert again.returncode == 1 and "--force" in again.stdout
    forced = subprocess.run([*command, "--force"], capture_output=True, text=True, timeout=120,
                            cwd=REPO)
    assert forced.returncode == 0, forced.stdout + forced.stderr


# --- nbgrader's real flow ---------------------------------------------------------------------
def _nbgrader(course: Path, *args: str, timeout: float) -> str:
    """Run the nbgrader command line in ``course``, with this environment's bin/ on PATH
    (nbgrader starts ``alembic`` from there)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                            capture_output=True, text=True, timeout=timeout)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{output[-4000:]}"
    assert "[ERROR]" not in output and "| ERROR]" not in output, output[-4000:]
    return output


@pytest.mark.timeout(900)  # generates every lesson and re-executes 3 of them twice
def test_nbgrader_releases_every_lesson_and_autogrades_submissions(tmp_path: Path) -> None:
    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    made = subprocess.run([sys.executable, "-m", "sgcourse", "classroom", str(course)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert made.returncode == 0, made.stdout + made.stderr
    _nbgrader(course, "generate_assignment", "*", timeout=600)

    for path in LESSONS:
        released = read_notebook(course / "release" / path.stem / path.name)
        _assert_no_answer_left(read_notebook(path), released, path.name)
        assert BEGIN_SOLUTION not in json.dumps(released), f"{path.name}: a marker was released"

    for name in GRADED:
        for student, folder in (("solution", "source"), ("stub", "release")):
            target = course / "submitted" / student / name
            target.mkdir(parents=True)
            shutil.copy(course / folder / name / f"{name}.ipynb", target)
        _nbgrader(course, "autograde", name, timeout=600)

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for name in GRADED:
            solved = gradebook.find_submission(name, "solution")
            stubbed = gradebook.find_submission(name, "stub")
            assert solved.max_score > 0
            assert solved.score == solved.max_score, (
                f"{name}: the solution got {solved.score}/{solved.max_score}: a check failed or "
                f"wrote to stderr (a warning costs a test cell its points)")
            assert stubbed.score < stubbed.max_score, f"{name}: the released stub got full marks"
    _nbgrader(course, "export", timeout=300)
    with (course / "grades.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for name in GRADED:
        scores = {row["student_id"]: float(row["score"]) for row in rows
                  if row["assignment"] == name}
        assert scores["solution"] > scores["stub"], f"{name}: exported grades {scores}"


def test_saving_a_lesson_marks_it_and_a_malformed_exercise_fails_first(tmp_path: Path) -> None:
    from sgcourse.course.notebook_tools import embed_widget_state

    path = tmp_path / "01_tiny.ipynb"
    notebook = _exercise()
    notebook["cells"][2]["source"] = "print(f(2))\n"
    notebook["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                          "language": "python"}
    path.write_text(json.dumps(notebook), encoding="utf-8")
    embed_widget_state(path, timeout=120)
    saved = read_notebook(path)
    assert saved["cells"][2]["outputs"][0]["text"] in ("4\n", ["4\n"])
    assert saved["cells"][2]["metadata"]["nbgrader"]["grade"] is True
    broken = _exercise("    return 2 * x\n")
    broken["cells"][1]["source"] = "def f(x):\n    return 2 * x\n"
    path.write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(ValueError, match="BEGIN SOLUTION"):
        embed_widget_state(path, timeout=120)
    assert json.loads(path.read_text(encoding="utf-8")) == broken, "nothing was written"
