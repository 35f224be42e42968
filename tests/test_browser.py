"""Real browser: every lesson that shows a slider runs in JupyterLab and its explorers redraw.

A lesson is selected when its saved widget state holds a slider model (``FloatSliderModel``,
``IntSliderModel``, ...) or a code cell builds an explorer (``alpha_explorer(``,
``neuron_explorer(``, any ``*_explorer(``). One JupyterLab server (autosave off) and one headless
Chromium serve all of them, one notebook after the other: each is opened, must draw its explorer
from the saved widget state before running (when it has one), runs every cell without an error
output, and then the first slider of every explorer is moved with the keyboard: the plot's pixels
must change, and come back exactly when the slider is moved back. Screenshots go to
``build/browser/``. Needs Debian's Chromium (``apt-get install -y chromium``); set
``SGCOURSE_SKIP_BROWSER=1`` to skip on purpose.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

try:
    from browser.harness import (
        EXPLORER_CALL,
        LabSession,
        notebooks_with_sliders,
        require_chromium,
        saved_slider_models,
    )
except ImportError:  # tests/ collected as a package
    from tests.browser.harness import (
        EXPLORER_CALL,
        LabSession,
        notebooks_with_sliders,
        require_chromium,
        saved_slider_models,
    )

REPO = Path(__file__).resolve().parents[1]
LESSONS = REPO / "lessons"
SCREENSHOTS = REPO / "build" / "browser"


def _notebook(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def _explorer_cells(path: Path) -> int:
    return sum(cell.cell_type == "code" and bool(EXPLORER_CALL.search(cell.source))
               for cell in _notebook(path).cells)


def test_selection_covers_every_lesson_that_shows_a_slider(tmp_path: Path) -> None:
    """Not a browser test: the selection is what the browser test relies on. Every lesson with a
    saved slider or an explorer call is selected, and every lesson has one; a notebook without
    either is not selected (the control)."""
    selected = notebooks_with_sliders(LESSONS)
    for path in sorted(LESSONS.glob("*.ipynb")):
        shows_slider = bool(saved_slider_models(_notebook(path))) or _explorer_cells(path) > 0
        assert (path in selected) == shows_slider, path.name
    assert selected == sorted(LESSONS.glob("*.ipynb"))
    plain = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    nbformat.write(plain, tmp_path / "plain.ipynb")
    assert notebooks_with_sliders(tmp_path) == []


@pytest.mark.browser
def test_every_lesson_with_a_slider_works_in_jupyterlab() -> None:
    executable = require_chromium()
    lessons = notebooks_with_sliders(LESSONS)
    assert lessons, "no lesson shows a slider: the browser test has nothing to check"
    # A lesson that carries saved widget state must show its explorer from that state before
    # anything runs; JupyterLab draws saved widgets only in trusted notebooks, so these are
    # trusted for the test's private server only.
    with_state = {str(path.relative_to(REPO)) for path in lessons
                  if saved_slider_models(_notebook(path))}
    start = time.monotonic()
    with LabSession(REPO, screenshot_dir=SCREENSHOTS, executable=executable,
                    trusted=tuple(sorted(with_state)), run_timeout=180.0) as lab:
        reports = [lab.check_notebook(relative, expect_saved_widgets=relative in with_state)
                   for relative in (str(path.relative_to(REPO)) for path in lessons)]
        kernel_pids = set(lab.kernel_pids)
        print(", ".join(f"{k}: {v:.1f} s" for k, v in lab.timings.items()))
    # The session stopped the server and Chromium, asserted that none of their processes is
    # running and that no notebook changed on disk. The kernel check must not be vacuous:
    assert kernel_pids, "no kernel process was ever seen, so 'nothing left running' proves nothing"
    for path, report in zip(lessons, reports, strict=True):
        # every explorer the lesson builds was found and moved (a lesson may build more than one)
        assert len(report.sliders) >= max(1, _explorer_cells(path)), (
            f"{report.path}: {len(report.sliders)} explorer(s) checked, "
            f"{_explorer_cells(path)} built")
        for slider in report.sliders:
            assert slider.readout_after != slider.readout_before
            assert slider.readout_restored == slider.readout_before
            for shot in slider.screenshots:
                assert shot.is_file() and shot.stat().st_size > 0
        print(f"{report.path} (saved widget state: {report.path in with_state}): opened in "
              f"{report.seconds_to_open:.1f} s, ran in {report.seconds_to_run:.1f} s, "
              f"first sliders {[s.label for s in report.sliders]}, "
              f"first redraw after {report.sliders[0].seconds_to_change:.2f} s")
    print(f"browser test: {len(lessons)} lessons in {time.monotonic() - start:.1f} s")
