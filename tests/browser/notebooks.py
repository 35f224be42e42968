"""Small generated notebooks for testing the browser harness itself.

:func:`slider_notebook` builds a notebook shaped like the lessons' alpha explorer: a ``VBox`` of a
``Dropdown``, a ``FloatSlider`` described as "alpha" (``continuous_update=True``) and a
``widgets.Image`` holding a matplotlib figure rendered to PNG. ``wired=False`` builds the same
widgets with a slider whose changes never redraw the figure: the negative control.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

__all__ = ["slider_notebook", "write_notebook"]

_SETUP = """\
import io

import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

x = np.linspace(-2, 2, 201)
fig, ax = plt.subplots(figsize=(5, 3), dpi=80)
(line,) = ax.plot(x, 1 / (1 + np.exp(-2.0 * x)))
ax.set_ylim(-0.05, 1.05)
plt.close(fig)


def render(alpha: float, kind: str) -> bytes:
    y = 1 / (1 + np.exp(-alpha * x)) if kind == "sigmoid" else np.arctan(alpha * x) / np.pi + 0.5
    line.set_ydata(y)
    ax.set_title(f"{kind}, alpha = {alpha:.1f}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
"""

_EXPLORER = """\
kind = widgets.Dropdown(options=["sigmoid", "atan"], value="sigmoid", description="surrogate")
alpha = widgets.FloatSlider(value=2.0, min=0.5, max=10.0, step=0.5, description="alpha",
                            continuous_update=True)
image = widgets.Image(value=render(alpha.value, kind.value), format="png")


def redraw(change=None) -> None:
    image.value = render(alpha.value, kind.value)


{wiring}
explorer = widgets.VBox([kind, alpha, image])
explorer
"""

_WIRED = 'alpha.observe(redraw, names="value")\nkind.observe(redraw, names="value")'
_UNWIRED = (
    '# Deliberately unwired: moving the slider never redraws.\nkind.observe(redraw, names="value")'
)


def slider_notebook(*, wired: bool = True, failing_cell: bool = False) -> nbformat.NotebookNode:
    """A notebook with an alpha explorer; ``failing_cell`` appends a cell that raises."""
    cells = [
        new_markdown_cell("# Harness check\nA generated notebook with an alpha explorer."),
        new_code_cell(_SETUP),
        new_code_cell(_EXPLORER.format(wiring=_WIRED if wired else _UNWIRED)),
        new_code_cell("print(alpha.value)"),
    ]
    if failing_cell:
        cells.append(new_code_cell("raise RuntimeError('deliberate failure for the harness')"))
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def write_notebook(notebook: nbformat.NotebookNode, path: Path) -> Path:
    """Validate ``notebook`` and write it to ``path``."""
    nbformat.validate(notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))
    return path
