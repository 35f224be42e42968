"""Real browser: every lesson with an alpha explorer runs in JupyterLab and its slider redraws.

Starts JupyterLab (autosave off) and headless Chromium, runs every cell of each lesson that calls
``alpha_explorer(``, fails on any error output, moves each alpha slider with the keyboard and
requires the plot's pixels to change and then to come back exactly. A lesson with saved widget
state must draw its explorer from that state before running. Screenshots go to
``build/browser/``. Needs Debian's Chromium (``apt-get install -y chromium``); set
``SGCOURSE_SKIP_BROWSER=1`` to skip on purpose.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

from sgcourse.course.notebook_tools import WIDGET_STATE_MIME

try:
    from browser.harness import LabSession, notebooks_with_alpha_explorer, require_chromium
except ImportError:  # tests/ collected as a package
    from tests.browser.harness import LabSession, notebooks_with_alpha_explorer, require_chromium

REPO = Path(__file__).resolve().parents[1]


def has_widget_state(path: Path) -> bool:
    widgets = nbformat.read(str(path), as_version=4).metadata.get("widgets", {})
    return bool(widgets.get(WIDGET_STATE_MIME, {}).get("state"))
SCREENSHOTS = REPO / "build" / "browser"

pytestmark = pytest.mark.browser


def test_lessons_with_alpha_explorer_work_in_jupyterlab() -> None:
    executable = require_chromium()
    lessons = notebooks_with_alpha_explorer(REPO / "lessons")
    assert lessons, (
        "no lesson in lessons/ calls alpha_explorer(: the browser test has nothing to check "
        "(the surrogate-gradients lesson must show the alpha explorer)"
    )
    # A lesson that carries saved widget state (sgcourse.course.notebook_tools) must show its
    # explorer
    # from that state before anything runs; JupyterLab draws saved widgets only in trusted
    # notebooks, so these are trusted for the test's private server only.
    with_state = {str(path.relative_to(REPO)) for path in lessons if has_widget_state(path)}
    start = time.monotonic()
    with LabSession(REPO, screenshot_dir=SCREENSHOTS, executable=executable,
                    trusted=tuple(sorted(with_state))) as lab:
        reports = [lab.check_notebook(relative, expect_saved_widgets=relative in with_state)
                   for relative in (str(path.relative_to(REPO)) for path in lessons)]
        kernel_pids = set(lab.kernel_pids)
        print(", ".join(f"{k}: {v:.1f} s" for k, v in lab.timings.items()))
    # The session stopped the server and Chromium, asserted that none of their processes is
    # running and that no notebook changed on disk. The kernel check must not be vacuous:
    assert kernel_pids, "no kernel process was ever seen, so 'nothing left running' proves nothing"
    for report in reports:
        assert report.sliders, f"{report.path}: no alpha slider was checked"
        for slider in report.sliders:
            assert slider.readout_after != slider.readout_before
            assert slider.readout_restored == slider.readout_before
            for shot in slider.screenshots:
                assert shot.is_file() and shot.stat().st_size > 0
        print(f"{report.path} (saved widget state: {report.path in with_state}): opened in "
              f"{report.seconds_to_open:.1f} s, ran in "
              f"{report.seconds_to_run:.1f} s, sliders {[s.label for s in report.sliders]}, "
              f"first redraw after {report.sliders[0].seconds_to_change:.2f} s")
    print(f"browser test: {time.monotonic() - start:.1f} s in all")
