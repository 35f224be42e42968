"""Saved widget state: embedded by sgcourse.course.notebook_tools; nbval (strict) still passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from sgcourse.course import notebook_tools
from sgcourse.course.notebook_tools import WIDGET_STATE_MIME, WIDGET_VIEW_MIME

try:
    from browser.notebooks import slider_notebook, write_notebook
except ImportError:  # tests/ collected as a package
    from tests.browser.notebooks import slider_notebook, write_notebook

REPO = Path(__file__).resolve().parents[1]


def run_nbval(notebook: Path) -> subprocess.CompletedProcess[str]:
    """Strict nbval with the repository's own options, on one notebook, in a subprocess."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist",
               "-o", "addopts=", "--rootdir", str(notebook.parent), "--nbval",
               "--nbval-current-env", "--nbval-sanitize-with",
               str(REPO / "tests" / "nbval_sanitize.cfg"), str(notebook)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(command, cwd=notebook.parent, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.fixture
def explorer_notebook(tmp_path: Path) -> Path:
    notebook = slider_notebook(wired=True)
    # A widget that is created but never displayed: its state must not be saved.
    notebook.cells.append(new_code_cell("hidden = widgets.IntSlider(description='hidden')"))
    return write_notebook(notebook, tmp_path / "explorer.ipynb")


def test_embedded_state_renders_the_displayed_widgets_and_nbval_passes(
        explorer_notebook: Path) -> None:
    notebook_tools.embed_widget_state(explorer_notebook)
    notebook = nbformat.read(str(explorer_notebook), as_version=4)
    state = notebook.metadata["widgets"][WIDGET_STATE_MIME]
    assert state["version_major"] == 2
    models = state["state"]
    by_name = {}
    for model in models.values():
        by_name.setdefault(model["model_name"], []).append(model)
    assert {"VBoxModel", "DropdownModel", "FloatSliderModel", "ImageModel"} <= set(by_name)
    slider = by_name["FloatSliderModel"]
    assert len(slider) == 1 and slider[0]["state"]["description"] == "alpha"
    assert "IntSliderModel" not in by_name, "an undisplayed widget's state was saved"
    # The picture is in the saved state, so a static render shows the plot.
    image = by_name["ImageModel"][0]
    assert image["buffers"] and image["buffers"][0]["path"] == ["value"]
    # Every model a displayed view refers to is present (no dangling IPY_MODEL_ reference).
    views = notebook_tools.displayed_model_ids(notebook)
    assert views and views <= set(models)
    for model in models.values():
        assert set(notebook_tools._references(model["state"])) <= set(models)
    assert any(WIDGET_VIEW_MIME in out.get("data", {}) for out in notebook.cells[2].outputs)

    result = run_nbval(explorer_notebook)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(notebook.cells) - 1} passed" in result.stdout  # every code cell was compared


def test_nbval_still_compares_outputs_of_a_notebook_with_widget_state(
        explorer_notebook: Path) -> None:
    # Control: the widget state must not make nbval blind. Tamper with one stored output.
    notebook_tools.embed_widget_state(explorer_notebook)
    notebook = nbformat.read(str(explorer_notebook), as_version=4)
    printed = notebook.cells[3].outputs[0]
    assert printed["text"] == "2.0\n"
    printed["text"] = "3.0\n"
    nbformat.write(notebook, str(explorer_notebook))
    result = run_nbval(explorer_notebook)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed" in result.stdout


def test_prune_drops_everything_when_nothing_is_displayed() -> None:
    notebook = nbformat.v4.new_notebook(cells=[new_code_cell("x = 1")])
    notebook.metadata["widgets"] = {WIDGET_STATE_MIME: {
        "version_major": 2, "version_minor": 0,
        "state": {"abc": {"model_name": "LayoutModel", "state": {}}}}}
    assert notebook_tools.prune_widget_state(notebook) == 1
    assert "widgets" not in notebook.metadata


def test_command_line_reports_failures(tmp_path: Path) -> None:
    broken = nbformat.v4.new_notebook(cells=[new_code_cell("raise ValueError('boom')")])
    broken.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
    path = write_notebook(broken, tmp_path / "broken.ipynb")
    before = path.read_bytes()
    result = subprocess.run([sys.executable, "-m", "sgcourse", "embed-widget-state", str(path)],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 1
    assert "FAILED" in result.stderr and "boom" in result.stderr
    assert path.read_bytes() == before, "a notebook that failed to run must not be rewritten"


def test_a_saved_progress_bar_shows_its_final_state_as_text(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook(cells=[
        new_code_cell("from tqdm.auto import tqdm\nfor _ in tqdm(range(7), desc='steps'):\n"
                      "    pass"),
        new_code_cell("print('done')")])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    path = write_notebook(notebook, tmp_path / "bar.ipynb")
    notebook_tools.embed_widget_state(path)
    saved = nbformat.read(str(path), as_version=4)
    [bar] = saved.cells[0].outputs
    assert WIDGET_VIEW_MIME in bar["data"]
    text = bar["data"]["text/plain"]
    assert text.startswith("steps: 100%|██████████| 7/7 ["), text
    assert saved.cells[1].outputs[0]["text"] == "done\n"
    # Without the rewrite the text is the bar at creation, 0/7: only bars are touched.
    bar["data"]["text/plain"] = "steps:   0%|          | 0/7 [00:00<?, ?it/s]"
    assert notebook_tools.finish_progress_bars(saved) == 1
    assert bar["data"]["text/plain"] == text
    assert notebook_tools.finish_progress_bars(saved) == 0
