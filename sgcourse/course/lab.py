"""``python -m sgcourse lab``: open JupyterLab directly on the course's lessons.

The lessons live in the repository's ``lessons/`` folder (they are not part of the installed
package). The command looks for that folder in the current directory, then beside the package
(an editable install from a clone), starts JupyterLab with the lessons folder as its root and
lesson 01 open, and adds ``--allow-root`` only when it runs as root (JupyterLab refuses to start
as root otherwise, e.g. in containers).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["find_lessons", "lab_command", "main_lab"]


def find_lessons(cwd: Path | None = None) -> Path:
    """The ``lessons/`` folder: in ``cwd`` (default: the current directory) or beside the package.

    Raises :class:`FileNotFoundError` saying where it looked when neither has numbered lessons.
    """
    beside_package = Path(__file__).resolve().parents[2] / "lessons"
    candidates = [(cwd or Path.cwd()) / "lessons", beside_package]
    for folder in candidates:
        if sorted(folder.glob("[0-9][0-9]_*.ipynb")):
            return folder
    looked = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"no lessons found (looked for lessons/NN_*.ipynb in {looked}); run "
                            f"this command from the root of a clone of the sgcourse repository")


def lab_command(lessons: Path, extra_args: Sequence[str] = (), *, as_root: bool | None = None
                ) -> list[str]:
    """The JupyterLab command line that opens the first lesson with ``lessons`` as the root."""
    first = sorted(lessons.glob("[0-9][0-9]_*.ipynb"))[0]
    command = [sys.executable, "-m", "jupyterlab", str(first)]
    if as_root is None:
        as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if as_root:
        command.append("--allow-root")
    return [*command, *extra_args]


def main_lab(extra_args: Sequence[str] = ()) -> int:
    """Run JupyterLab on the lessons until it is stopped; its exit code is returned."""
    try:
        lessons = find_lessons()
    except FileNotFoundError as error:
        print(f"sgcourse lab: {error}", file=sys.stderr)
        return 1
    command = lab_command(lessons, extra_args)
    print("Starting JupyterLab on", lessons, flush=True)
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 0
