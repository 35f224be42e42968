"""Save the state of a notebook's widgets in the notebook, so that static renders show them.

GitHub, nbviewer and a JupyterLab that has not run the notebook yet can only draw a widget (the
alpha explorer's slider and plot, say) from ``metadata.widgets["application/vnd.jupyter.widget-
state+json"]``; without it they print "Loading widget..." or the widget's text repr.
:func:`embed_widget_state` executes a notebook with nbclient (``store_widget_state=True``), keeps
the state of the widgets its outputs display (and the models they refer to: layouts, styles,
children) and writes the notebook back. The stored outputs are those of that execution, exactly
as ``jupyter nbconvert --execute --to notebook --inplace`` would write them, so nbval keeps
passing: it never compares notebook metadata nor widget model ids.

Command line: ``python -m sgcourse embed-widget-state lessons/02_surrogate_gradients.ipynb``.
"""

from __future__ import annotations

import html
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import nbformat

__all__ = [
    "WIDGET_STATE_MIME",
    "WIDGET_VIEW_MIME",
    "displayed_model_ids",
    "embed_widget_state",
    "execute_with_widget_state",
    "finish_progress_bars",
    "main_embed",
    "prune_widget_state",
]

WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
_MODEL_PREFIX = "IPY_MODEL_"


def displayed_model_ids(notebook: nbformat.NotebookNode) -> set[str]:
    """Model ids of the widget views in the notebook's outputs."""
    ids = set()
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW_MIME)
            if isinstance(view, dict) and "model_id" in view:
                ids.add(str(view["model_id"]))
            elif isinstance(view, str):  # some writers store the JSON as a string
                ids.add(str(json.loads(view)["model_id"]))
    return ids


def _references(value: object) -> Iterable[str]:
    """Model ids referred to (``"IPY_MODEL_<id>"``) anywhere inside a widget's state."""
    if isinstance(value, str):
        if value.startswith(_MODEL_PREFIX):
            yield value[len(_MODEL_PREFIX):]
    elif isinstance(value, dict):
        for item in value.values():
            yield from _references(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _references(item)


def prune_widget_state(notebook: nbformat.NotebookNode) -> int:
    """Keep only the widget models reachable from displayed views; return how many were dropped.

    Removes the whole ``metadata.widgets`` entry when nothing is displayed.
    """
    widgets_meta = notebook.metadata.get("widgets", {})
    bundle = widgets_meta.get(WIDGET_STATE_MIME)
    if not bundle:
        return 0
    state: dict[str, dict] = bundle.get("state", {})
    keep: set[str] = set()
    todo = [model_id for model_id in displayed_model_ids(notebook) if model_id in state]
    while todo:
        model_id = todo.pop()
        if model_id in keep:
            continue
        keep.add(model_id)
        todo.extend(ref for ref in _references(state[model_id].get("state", {}))
                    if ref in state and ref not in keep)
    dropped = len(state) - len(keep)
    bundle["state"] = {model_id: state[model_id] for model_id in state if model_id in keep}
    if not bundle["state"]:
        del widgets_meta[WIDGET_STATE_MIME]
        if not widgets_meta:
            del notebook.metadata["widgets"]
    return dropped


def _progress_text(state: dict[str, dict], model_id: str) -> str | None:
    """tqdm's one-line text for the notebook bar ``model_id`` in its saved final state, or None.

    ``tqdm.notebook`` draws a bar as an ``HBox(HTML prefix, FloatProgress, HTML suffix)``; the
    text is ``prefix|bar|suffix`` with a bar of 10 cells, ``int(10·value/max)`` of them filled.
    """
    box = state.get(model_id, {})
    children = box.get("state", {}).get("children", []) if box.get("model_name") == "HBoxModel" \
        else []
    ids = [child[len(_MODEL_PREFIX):] for child in children
           if isinstance(child, str) and child.startswith(_MODEL_PREFIX)]
    models = [state.get(child, {}) for child in ids]
    if len(ids) != 3 or len(children) != 3 or [m.get("model_name") for m in models] != [
            "HTMLModel", "FloatProgressModel", "HTMLModel"]:
        return None
    prefix, bar, suffix = (m.get("state", {}) for m in models)
    value, maximum = bar.get("value"), bar.get("max")
    if not isinstance(value, int | float) or not isinstance(maximum, int | float):
        return None
    filled = min(10, max(0, int(10 * value / maximum))) if maximum > 0 else 0

    def text(html_value: object) -> str:
        return html.unescape(str(html_value or "")).replace("\u2007", " ")

    return f"{text(prefix.get('value'))}|{'█' * filled}{' ' * (10 - filled)}|" \
           f"{text(suffix.get('value'))}"


def finish_progress_bars(notebook: nbformat.NotebookNode) -> int:
    """Give each saved tqdm notebook bar the text of its final state; return how many changed.

    A ``tqdm.auto`` bar is displayed when it is created, so the plain-text form of its output
    (what a static view without widget support shows) stays at ``0/132``; the saved widget state
    holds the final values. The text is rebuilt from them, e.g. ``training steps: 100%|██████████|
    132/132 [00:01<00:00, 110.49it/s]``. Other outputs are left alone.
    """
    state = notebook.metadata.get("widgets", {}).get(WIDGET_STATE_MIME, {}).get("state", {})
    changed = 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            view = data.get(WIDGET_VIEW_MIME)
            if isinstance(view, str):
                view = json.loads(view)
            if not isinstance(view, dict) or "model_id" not in view:
                continue
            final = _progress_text(state, str(view["model_id"]))
            if final is not None and data.get("text/plain") != final:
                data["text/plain"] = final
                changed += 1
    return changed


def execute_with_widget_state(notebook: nbformat.NotebookNode, *, cwd: Path,
                              timeout: float = 600.0,
                              kernel_name: str = "python3") -> nbformat.NotebookNode:
    """Execute ``notebook`` in ``cwd`` (in place) and store the state of its displayed widgets
    (tqdm bars also get the text of their final state, :func:`finish_progress_bars`)."""
    from nbclient import NotebookClient

    notebook.metadata.pop("widgets", None)  # never keep the state of an older execution
    client = NotebookClient(notebook, timeout=timeout, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(cwd)}}, store_widget_state=True)
    client.execute()
    prune_widget_state(notebook)
    finish_progress_bars(notebook)
    return notebook


def embed_widget_state(path: Path | str, output: Path | str | None = None, *,
                       timeout: float = 600.0, kernel_name: str = "python3") -> Path:
    """Execute the notebook at ``path`` and write it, with its widget state, to ``output``.

    The notebook's exercises are (re-)marked for nbgrader from their tags
    (:func:`sgcourse.course.classroom.mark_notebook`), so a saved lesson is always a gradable
    assignment; a malformed exercise fails before anything runs. ``output`` defaults to ``path``
    (in place). Returns the path written.
    """
    from sgcourse.course.classroom import mark_notebook

    source = Path(path)
    notebook = nbformat.read(str(source), as_version=4)
    mark_notebook(notebook, source.name)
    execute_with_widget_state(notebook, cwd=source.resolve().parent, timeout=timeout,
                              kernel_name=kernel_name)
    target = Path(output) if output is not None else source
    nbformat.validate(notebook)
    nbformat.write(notebook, str(target))
    return target


def main_embed(paths: Sequence[str], *, timeout: float = 600.0,
               kernel_name: str = "python3") -> int:
    """``python -m sgcourse embed-widget-state``: update each notebook in place."""
    failures = 0
    for path in paths:
        try:
            embed_widget_state(path, timeout=timeout, kernel_name=kernel_name)
        except Exception as error:  # report every notebook, then fail
            failures += 1
            print(f"{path}: FAILED: {type(error).__name__}: {error}", file=sys.stderr)
            continue
        notebook = nbformat.read(path, as_version=4)
        state = notebook.metadata.get("widgets", {}).get(WIDGET_STATE_MIME, {}).get("state", {})
        print(f"{path}: executed; widget state of {len(state)} model(s) saved")
    return 1 if failures else 0
