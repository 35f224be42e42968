"""Negative controls for the browser check: it must catch an unwired slider and a failing cell.

One JupyterLab session over generated notebooks: an alpha explorer that redraws (must pass, so
the harness works independently of the lessons), the same explorer with the slider left unwired
(must fail with SliderCheckFailed: the readout moves, the plot does not), a notebook whose last
cell raises (must fail with NotebookRunFailed), and one with no alpha slider (must fail).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

try:
    from browser.harness import LabSession, require_chromium
    from browser.lab_page import NotebookRunFailed, SliderCheckFailed
    from browser.notebooks import slider_notebook, write_notebook
except ImportError:  # tests/ collected as a package
    from tests.browser.harness import LabSession, require_chromium
    from tests.browser.lab_page import NotebookRunFailed, SliderCheckFailed
    from tests.browser.notebooks import slider_notebook, write_notebook

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "build" / "browser" / "negative"

pytestmark = pytest.mark.browser


def test_check_passes_on_wired_and_fails_on_unwired_slider(tmp_path: Path) -> None:
    executable = require_chromium()
    write_notebook(slider_notebook(wired=True), tmp_path / "wired.ipynb")
    write_notebook(slider_notebook(wired=False), tmp_path / "unwired.ipynb")
    write_notebook(slider_notebook(wired=True, failing_cell=True), tmp_path / "failing.ipynb")
    no_slider = slider_notebook(wired=True)
    no_slider.cells = [*no_slider.cells[:2], nbformat.v4.new_code_cell("print('no widgets')")]
    write_notebook(no_slider, tmp_path / "no_slider.ipynb")

    # change_timeout is the same as in the lesson test: the very same routine must fail.
    with LabSession(tmp_path, screenshot_dir=SCREENSHOTS, executable=executable) as lab:
        wired = lab.check_notebook("wired.ipynb")
        assert [s.label for s in wired.sliders] == ["alpha"]

        with pytest.raises(SliderCheckFailed, match="not wired") as unwired:
            lab.check_notebook("unwired.ipynb")
        # The readout moved (the slider works), only the plot stayed: the failure is the wiring.
        assert "the readout went from '2.00' to '4.00'" in str(unwired.value)

        with pytest.raises(NotebookRunFailed, match="deliberate failure for the harness"):
            lab.check_notebook("failing.ipynb")

        with pytest.raises(SliderCheckFailed, match="no rendered slider labelled 'alpha'"):
            lab.check_notebook("no_slider.ipynb")
        assert lab.kernel_pids, "no kernel process was seen"
