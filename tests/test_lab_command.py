"""``python -m sgcourse lab``: finds the lessons and builds the JupyterLab command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sgcourse.course.lab import find_lessons, lab_command

REPO = Path(__file__).resolve().parent.parent


def test_finds_the_repository_lessons_from_anywhere(tmp_path: Path) -> None:
    assert find_lessons(REPO) == REPO / "lessons"
    # From a folder without lessons it falls back to the clone the package was installed from.
    assert find_lessons(tmp_path) == REPO / "lessons"


def test_prefers_lessons_in_the_current_directory(tmp_path: Path) -> None:
    (tmp_path / "lessons").mkdir()
    (tmp_path / "lessons" / "01_intro.ipynb").write_text("{}")
    assert find_lessons(tmp_path) == tmp_path / "lessons"


def test_command_opens_lesson_01_and_allows_root_only_as_root() -> None:
    lessons = REPO / "lessons"
    first = sorted(lessons.glob("[0-9][0-9]_*.ipynb"))[0]
    as_user = lab_command(lessons, ["--port", "8899"], as_root=False)
    assert as_user == [sys.executable, "-m", "jupyterlab", str(first), "--port", "8899"]
    assert first.name.startswith("01_")
    assert "--allow-root" in lab_command(lessons, as_root=True)


def test_unknown_arguments_are_rejected_outside_lab() -> None:
    result = subprocess.run([sys.executable, "-m", "sgcourse", "check", "--bogus"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "unrecognized arguments: --bogus" in result.stderr


def test_missing_lessons_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sgcourse.course.lab as lab

    monkeypatch.setattr(lab, "__file__", str(tmp_path / "pkg" / "lab.py"))
    with pytest.raises(FileNotFoundError, match="run this command from the root of a clone"):
        find_lessons(tmp_path)
