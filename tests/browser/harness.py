"""The whole browser check: server + Chromium + every notebook, with nothing written or left over.

>>> with LabSession(repo_root, screenshot_dir=Path("build/browser")) as lab:   # doctest: +SKIP
...     lab.check_notebook("lessons/02_surrogate_gradients.ipynb")

:meth:`LabSession.check_notebook` opens a notebook in JupyterLab, runs all cells, fails on any
error output, moves the first slider of every explorer and requires its plot to follow (see
:func:`lab_page.check_explorer_sliders`), then shuts the notebook's kernel down. One server and
one Chromium serve every notebook of a session, one after the other. Leaving the session
stops the server and Chromium, asserts that none of their processes is running, and asserts that
JupyterLab saved nothing (autosave is off): every notebook the session opened is byte-for-byte
what it was before, and no checkpoint appeared under the root. Notebooks the session did not open
are not compared, so others may edit them meanwhile (a shared working tree).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import nbformat
from playwright.sync_api import Page

from sgcourse.course.notebook_tools import WIDGET_STATE_MIME

from .jupyterlab_server import JupyterLabServer
from .lab_page import (
    INSTALL_HINT,
    SliderCheckFailed,
    SliderReport,
    check_explorer_sliders,
    chromium_executable,
    chromium_page,
    close_notebook,
    explorers,
    open_lab,
    open_notebook,
    run_all_cells,
    wait_for_explorer,
)

__all__ = [
    "EXPLORER_CALL",
    "SLIDER_MODELS",
    "LabSession",
    "NotebookReport",
    "notebook_hashes",
    "notebooks_with_sliders",
    "require_chromium",
    "saved_slider_models",
]

#: ipywidgets models drawn as a single-handle noUiSlider, which the browser check can move.
SLIDER_MODELS = frozenset({"FloatSliderModel", "IntSliderModel", "FloatLogSliderModel",
                           "SelectionSliderModel"})

#: A code cell that builds a course explorer (``alpha_explorer(``, ``neuron_explorer(``, ...).
EXPLORER_CALL = re.compile(r"\b\w+_explorer\(")

def saved_slider_models(notebook: nbformat.NotebookNode) -> list[str]:
    """Ids of the slider models (:data:`SLIDER_MODELS`) in the notebook's saved widget state."""
    state = notebook.metadata.get("widgets", {}).get(WIDGET_STATE_MIME, {}).get("state", {})
    return sorted(model_id for model_id, model in state.items()
                  if model.get("model_name") in SLIDER_MODELS)


def notebooks_with_sliders(lessons_dir: Path) -> list[Path]:
    """The notebooks in ``lessons_dir`` that show a slider: their saved widget state holds a
    slider model, or a code cell builds an explorer (``*_explorer(``, state saved or not)."""
    found = []
    for path in sorted(lessons_dir.glob("*.ipynb")):
        notebook = nbformat.read(str(path), as_version=4)
        if saved_slider_models(notebook) or any(
                cell.cell_type == "code" and EXPLORER_CALL.search(cell.source)
                for cell in notebook.cells):
            found.append(path)
    return found


SKIPPED_DIRS = {".git", ".venv", "venv", "build", "node_modules", "__pycache__", ".ruff_cache",
                ".pytest_cache"}


def notebook_hashes(root: Path) -> dict[str, str]:
    """SHA-256 of every ``.ipynb`` under ``root`` (checkpoints included, should any appear),
    by path relative to ``root``."""
    hashes = {}
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d not in SKIPPED_DIRS)
        for file in sorted(files):
            if file.endswith(".ipynb"):
                path = Path(directory) / file
                hashes[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def require_chromium() -> str:
    """Return the Chromium binary; fail (or skip, only if SGCOURSE_SKIP_BROWSER=1) without one."""
    import pytest

    executable = chromium_executable()
    if executable is not None:
        return executable
    if os.environ.get("SGCOURSE_SKIP_BROWSER") == "1":
        pytest.skip("SGCOURSE_SKIP_BROWSER=1 and no Chromium found")
    pytest.fail(f"Chromium is required for the browser tests and was not found. {INSTALL_HINT}",
                pytrace=False)


@dataclass
class NotebookReport:
    """What :meth:`LabSession.check_notebook` measured for one notebook."""

    path: str
    seconds_to_open: float
    seconds_to_run: float
    sliders: list[SliderReport] = field(default_factory=list)


class LabSession:
    """A JupyterLab server rooted at ``root`` and a headless Chromium page, as a context manager."""

    def __init__(self, root: Path, *, screenshot_dir: Path | None = None,
                 executable: str | None = None, run_timeout: float = 120.0,
                 change_timeout: float = 10.0, trusted: tuple[str, ...] = ()) -> None:
        self.root = Path(root).resolve()
        self.screenshot_dir = screenshot_dir
        self.executable = executable or chromium_executable()
        if self.executable is None:
            raise RuntimeError(f"Chromium was not found. {INSTALL_HINT}")
        self.run_timeout = run_timeout
        self.change_timeout = change_timeout
        self.server = JupyterLabServer(self.root, trusted=trusted)
        self.kernel_pids: set[int] = set()
        #: Seconds spent starting the server, Chromium and JupyterLab's page.
        self.timings: dict[str, float] = {}
        self._hashes_before: dict[str, str] = {}
        #: Notebooks opened in this session (paths relative to the root).
        self.opened: list[str] = []
        self._page_cm: AbstractContextManager[Page] | None = None
        self.page: Page | None = None

    def __enter__(self) -> LabSession:
        self._hashes_before = notebook_hashes(self.root)
        start = time.monotonic()
        self.server.start()
        self.timings["server start"] = time.monotonic() - start
        try:
            self._page_cm = chromium_page(self.executable)
            self.page = self._page_cm.__enter__()
            self.timings["chromium start"] = time.monotonic() - start - sum(self.timings.values())
            open_lab(self.page, self.server.lab_url())
            self.timings["JupyterLab load"] = time.monotonic() - start - sum(
                self.timings.values())
        except BaseException:
            if self._page_cm is not None:
                self._page_cm.__exit__(None, None, None)
            self.server.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if self._page_cm is not None:
                self._page_cm.__exit__(exc_type, exc, tb)
        finally:
            self.server.remember_processes()
            self.server.__exit__(exc_type, exc, tb)
        if exc is None:
            left = self.server.alive()
            assert not left, f"processes still running after the session: {left}"
            after = notebook_hashes(self.root)
            changed = sorted(path for path in set(self.opened)
                             if after.get(path) != self._hashes_before.get(path))
            checkpoints = sorted(path for path in set(after) - set(self._hashes_before)
                                 if ".ipynb_checkpoints" in Path(path).parts)
            assert not changed and not checkpoints, (
                "JupyterLab wrote notebooks on disk (autosave must be off): changed "
                f"{changed}, new checkpoints {checkpoints}"
            )

    def check_notebook(self, relative_path: str, *, name: str | None = None,
                       expect_saved_widgets: bool = False) -> NotebookReport:
        """Open, run all, check the first slider of every explorer, shut the kernel down.

        With ``expect_saved_widgets``, an explorer must first be drawn from the widget state
        saved in the notebook, before any cell runs (what a static render shows).
        """
        assert self.page is not None, "use LabSession as a context manager"
        page = self.page
        name = name or Path(relative_path).stem
        start = time.monotonic()
        self.opened.append(str(Path(relative_path)))
        panel_id = open_notebook(page, relative_path)
        opened = time.monotonic()
        self.server.remember_processes()
        try:
            if expect_saved_widgets:
                if not wait_for_explorer(page, panel_id, timeout=self.change_timeout):
                    raise SliderCheckFailed(
                        f"{relative_path}: no explorer (slider and plot) was drawn from the "
                        "saved widget state before running")
                if self.screenshot_dir is not None:
                    self.screenshot_dir.mkdir(parents=True, exist_ok=True)
                    explorers(page, panel_id).first.screenshot(
                        path=str(self.screenshot_dir / f"{name}-saved-state.png"))
            run_all_cells(page, timeout=self.run_timeout)
            ran = time.monotonic()
            sliders = check_explorer_sliders(page, panel_id=panel_id, name=name,
                                          screenshot_dir=self.screenshot_dir,
                                          change_timeout=self.change_timeout)
        finally:
            self.server.remember_processes()
            server_pid = self.server.process.pid if self.server.process else -1
            self.kernel_pids |= self.server.started_pids - {server_pid}
            # The server kills kernels on exit anyway; a broken page must not mask the failure.
            with contextlib.suppress(Exception):
                close_notebook(page)
        return NotebookReport(relative_path, opened - start, ran - opened, sliders)
