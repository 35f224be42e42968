"""Negative controls for the browser check: it must catch an unwired slider and a failing cell.

One JupyterLab session over generated notebooks:
- an alpha explorer that redraws, saved with its widget state by ``sgcourse.course.notebook_tools``:
  its slider must be drawn from the saved state before anything runs, then the check must pass
  (the harness works, independently of the lessons);
- the same explorer with the slider left unwired: must fail with SliderCheckFailed (the readout
  moves, the plot does not);
- a notebook whose last cell raises: must fail with NotebookRunFailed;
- a notebook with no explorer (no slider next to a plot): must fail.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

from sgcourse.course.notebook_tools import embed_widget_state

try:
    from browser import harness
    from browser.harness import LabSession, require_chromium
    from browser.lab_page import NotebookRunFailed, SliderCheckFailed
    from browser.notebooks import slider_notebook, write_notebook
except ImportError:  # tests/ collected as a package
    from tests.browser import harness
    from tests.browser.harness import LabSession, require_chromium
    from tests.browser.lab_page import NotebookRunFailed, SliderCheckFailed
    from tests.browser.notebooks import slider_notebook, write_notebook

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "build" / "browser" / "negative"


@pytest.mark.browser
def test_check_passes_on_wired_and_fails_on_unwired_slider(tmp_path: Path) -> None:
    executable = require_chromium()
    start = time.monotonic()
    write_notebook(slider_notebook(wired=True), tmp_path / "wired.ipynb")
    embed_widget_state(tmp_path / "wired.ipynb")
    print(f"widget state embedded in {time.monotonic() - start:.1f} s")
    write_notebook(slider_notebook(wired=False), tmp_path / "unwired.ipynb")
    # The two notebooks without an explorer stay light (no matplotlib): each costs a kernel.
    failing = slider_notebook(wired=True)
    failing.cells = [nbformat.v4.new_code_cell("print('before the failure')"),
                     nbformat.v4.new_code_cell("raise RuntimeError('deliberate failure for the "
                                               "harness')"),
                     nbformat.v4.new_code_cell("print('never runs')")]
    write_notebook(failing, tmp_path / "failing.ipynb")
    no_slider = slider_notebook(wired=True)
    no_slider.cells = [nbformat.v4.new_code_cell("print('no widgets')")]
    write_notebook(no_slider, tmp_path / "no_slider.ipynb")

    # change_timeout is the same as in the lesson test: the very same routine must fail.
    # Trusted (for this server only): JupyterLab draws saved widgets only in trusted notebooks.
    with LabSession(tmp_path, screenshot_dir=SCREENSHOTS, executable=executable,
                    trusted=("wired.ipynb",)) as lab:
        wired = lab.check_notebook("wired.ipynb", expect_saved_widgets=True)
        assert [s.label for s in wired.sliders] == ["alpha"]

        print(f"wired: opened {wired.seconds_to_open:.1f} s, ran {wired.seconds_to_run:.1f} s")
        with pytest.raises(SliderCheckFailed, match="not wired") as unwired:
            lab.check_notebook("unwired.ipynb")
        # The readout moved (the slider works), only the plot stayed: the failure is the wiring.
        assert "the readout went from '2.00' to '4.00'" in str(unwired.value)

        with pytest.raises(NotebookRunFailed, match="deliberate failure for the harness"):
            lab.check_notebook("failing.ipynb")

        with pytest.raises(SliderCheckFailed, match="no rendered explorer"):
            lab.check_notebook("no_slider.ipynb")
        assert lab.kernel_pids, "no kernel process was seen"
        print(", ".join(f"{k}: {v:.1f} s" for k, v in lab.timings.items()))
    print(f"negative controls: {time.monotonic() - start:.1f} s in all")


def test_missing_chromium_fails_with_instructions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness, "chromium_executable", lambda: None)
    monkeypatch.delenv("SGCOURSE_SKIP_BROWSER", raising=False)
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        require_chromium()
    monkeypatch.setenv("SGCOURSE_SKIP_BROWSER", "1")
    with pytest.raises(pytest.skip.Exception):
        require_chromium()
