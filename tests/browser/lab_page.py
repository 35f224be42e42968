"""Playwright helpers: open a notebook in JupyterLab, run it, and check its live explorers.

An *explorer* is a cell output that holds at least one ipywidgets slider and a plot (an ``<img>``
or ``<canvas>``): the alpha explorer of the surrogate lesson, the neuron explorer of the LIF
lesson, or any later one. The check that matters is :func:`check_explorer_sliders`: for every
explorer it takes the *first* slider, focuses its noUiSlider handle, presses an arrow key several
times, and requires that the readout changed *and* that the explorer's plot changed; then it
presses the opposite key as many times and requires the plot to be restored exactly. A slider
that is displayed but not wired to the plot fails with :class:`SliderCheckFailed`.

The plot fingerprint is a hash of pixels, not of ``img.src``: ``widgets.Image`` shows its bytes
through a ``blob:`` URL that changes on every redraw even when the bytes do not. Every ``<img>``
and ``<canvas>`` in the explorer's output area is drawn onto a canvas and ``toDataURL()`` is
hashed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from playwright.sync_api import BrowserContext, Locator, Page, sync_playwright

__all__ = [
    "CHROMIUM_ARGS",
    "NotebookRunFailed",
    "SliderCheckFailed",
    "SliderReport",
    "check_explorer_sliders",
    "chromium_executable",
    "chromium_page",
    "close_notebook",
    "explorers",
    "open_lab",
    "open_notebook",
    "run_all_cells",
    "wait_for_explorer",
]

#: Flags measured to work for Debian's Chromium on a machine with a closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

INSTALL_HINT = (
    "Install Debian's Chromium with `apt-get install -y chromium` (it provides "
    "/usr/bin/chromium; `.ci/run` does this), or point SGCOURSE_CHROMIUM at a Chromium binary. "
    "Never `playwright install`. To skip the browser tests on purpose, set SGCOURSE_SKIP_BROWSER=1."
)


class NotebookRunFailed(AssertionError):
    """Running the notebook in JupyterLab produced an error, or did not finish in time."""


class SliderCheckFailed(AssertionError):
    """No explorer was found, or moving its slider did not redraw (or restore) its plot."""


def chromium_executable() -> str | None:
    """The Chromium binary to use: ``$SGCOURSE_CHROMIUM``, /usr/bin/chromium, or one on PATH."""
    for candidate in (
        os.environ.get("SGCOURSE_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _processes_using(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if any(marker in part for part in proc.info["cmdline"] or ()):
                found.append(proc)
    return found


@contextlib.contextmanager
def chromium_page(
    executable: str, *, viewport: tuple[int, int] = (1400, 1000)
) -> Iterator[Page]:
    """A page in a fresh headless Chromium (new user-data dir); no Chromium process survives."""
    user_data = tempfile.mkdtemp(prefix="sgcourse-chromium-")
    try:
        with sync_playwright() as playwright:
            context: BrowserContext = playwright.chromium.launch_persistent_context(
                user_data,
                executable_path=executable,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": viewport[0], "height": viewport[1]},
                timeout=60_000,
            )
            try:
                page = context.pages[0] if context.pages else context.new_page()
                page.set_default_timeout(30_000)
                yield page
            finally:
                context.close()
        leftovers = _processes_using(user_data)
        for proc in leftovers:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(leftovers, timeout=10)
        assert not _processes_using(user_data), "Chromium processes survived context.close()"
    finally:
        shutil.rmtree(user_data, ignore_errors=True)


# -- notebook --------------------------------------------------------------------------------

_OPEN_JS = """
async (path) => {
  const app = window.jupyterapp;
  await app.restored;
  const widget = await app.commands.execute('docmanager:open', {path, factory: 'Notebook'});
  app.shell.activateById(widget.id);
  window.__sgcoursePanel = widget;
  return widget.id;
}
"""

_PANEL_STATE_JS = """
() => {
  const panel = window.__sgcoursePanel;
  const dialog = document.querySelector('.jp-Dialog');
  const dialogText = dialog ? dialog.textContent.slice(0, 300) : null;
  if (!panel || !panel.content || !panel.sessionContext) {
    return {ready: false, why: 'no notebook panel', dialog: dialogText};
  }
  const ctx = panel.sessionContext;
  const kernel = ctx.session && ctx.session.kernel;
  return {
    ready: Boolean(panel.context.isReady && ctx.isReady && kernel),
    why: kernel ? 'kernel ' + kernel.status + '/' + kernel.connectionStatus : 'no kernel yet',
    status: kernel ? kernel.status : null,
    connection: kernel ? kernel.connectionStatus : null,
    dialog: dialogText,
  };
}
"""

_CLOSE_JS = """
async () => {
  const panel = window.__sgcoursePanel;
  if (!panel) return;
  window.__sgcoursePanel = null;
  try { await panel.sessionContext.shutdown(); } finally {
    panel.context.model.dirty = false;  // outputs changed in the browser only: close, never save
    panel.dispose();
  }
}
"""


def open_lab(page: Page, url: str, *, timeout: float = 90.0) -> None:
    """Load JupyterLab at ``url`` and wait until ``window.jupyterapp`` has restored its layout."""
    page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=timeout * 1000)
    page.evaluate("async () => { await window.jupyterapp.restored; }")


def open_notebook(page: Page, path: str, *, timeout: float = 60.0) -> str:
    """Open ``path`` (relative to the server root) in the loaded JupyterLab and wait until its
    kernel is connected and idle. Returns the DOM id of the notebook panel."""
    panel_id: str = page.evaluate(_OPEN_JS, path)
    deadline = time.monotonic() + timeout
    state: dict[str, object] = {}
    while time.monotonic() < deadline:
        state = page.evaluate(_PANEL_STATE_JS)
        if state.get("ready") and state.get("status") == "idle" and state.get(
            "connection"
        ) == "connected":
            return panel_id
        time.sleep(0.25)
    raise NotebookRunFailed(f"{path}: the notebook's kernel was not ready in {timeout:.0f} s "
                            f"(last state: {state})")


def close_notebook(page: Page) -> None:
    """Shut down the kernel of the notebook opened last and close it without saving."""
    page.evaluate(_CLOSE_JS)


_RUN_STATE_JS = """
() => {
  const panel = window.__sgcoursePanel;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const report = {status: kernel ? kernel.status : 'none', pending: 0, code: 0, errors: [],
                  widgetErrors: []};
  panel.content.widgets.forEach((cell, index) => {
    if (cell.model.type !== 'code') return;
    report.code += 1;
    const source = cell.model.sharedModel.getSource();
    const prompt = cell.promptNode ? cell.promptNode.textContent : '';
    if (source.trim() !== '' && (cell.model.executionCount === null || prompt.includes('*'))) {
      report.pending += 1;
    }
    const tags = cell.model.getMetadata('tags') || [];
    const expected = tags.includes('raises-exception') || source.includes('NBVAL_RAISES_EXCEPTION');
    const outputs = cell.model.outputs.toJSON();
    for (const out of outputs) {
      if (out.output_type === 'error' && !expected) {
        report.errors.push({cell: index, ename: out.ename, evalue: out.evalue,
                            traceback: (out.traceback || []).join('\\n')
                              .replace(/\\u001b\\[[0-9;]*m/g, '')});
      }
    }
    for (const node of cell.node.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')) {
      if (!expected && !report.errors.some(e => e.cell === index)) {
        report.errors.push({cell: index, ename: 'error output', evalue: node.textContent});
      }
    }
    for (const node of cell.node.querySelectorAll('.jp-OutputArea-output')) {
      const text = node.textContent || '';
      if (text.startsWith('Error displaying widget') || text.startsWith('Error rendering')) {
        report.widgetErrors.push({cell: index, text: text.slice(0, 300)});
      }
    }
  });
  return report;
}
"""


def run_all_cells(page: Page, *, timeout: float = 120.0, settle: float = 1.0) -> dict:
    """Clear all outputs, run all cells, wait until every cell ran and the kernel is idle.

    Fails with :class:`NotebookRunFailed` on any error output (cells tagged ``raises-exception``
    or marked ``NBVAL_RAISES_EXCEPTION`` are allowed to raise), on a widget that failed to
    render, or when the run does not finish within ``timeout`` seconds. Returns the last state.
    """
    # Clearing first makes "every code cell has an execution count" mean "ran in this session";
    # the notebook is only changed in the browser (autosave is off and nothing is saved).
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    deadline = time.monotonic() + timeout
    done_since: float | None = None
    state: dict = {}
    while time.monotonic() < deadline:
        state = page.evaluate(_RUN_STATE_JS)
        if state["errors"] or state["widgetErrors"]:
            time.sleep(0.5)  # let the traceback finish rendering before reporting it
            state = page.evaluate(_RUN_STATE_JS)
            raise NotebookRunFailed(_describe_errors(state))
        if state["pending"] == 0 and state["status"] == "idle":
            done_since = done_since or time.monotonic()
            if time.monotonic() - done_since >= settle:
                return state
        else:
            done_since = None
        if state["status"] in ("dead", "unknown"):
            raise NotebookRunFailed(f"the kernel died while running all cells (state {state})")
        time.sleep(0.25)
    raise NotebookRunFailed(
        f"running all cells did not finish within {timeout:.0f} s: {state['pending']} of "
        f"{state['code']} code cells still pending, kernel {state['status']}"
    )


def _describe_errors(state: dict) -> str:
    lines = ["running all cells produced errors:"]
    for error in state["errors"]:
        lines.append(f"- cell {error['cell']}: {error['ename']}: {error['evalue']}")
        if error.get("traceback"):
            lines.append(error["traceback"])
    for error in state["widgetErrors"]:
        lines.append(f"- cell {error['cell']}: widget failed to render: {error['text']}")
    return "\n".join(lines)


# -- sliders ---------------------------------------------------------------------------------

_FINGERPRINT_JS = """
(area) => {
  const parts = [];
  for (const el of area.querySelectorAll('img, canvas')) {
    let canvas = el;
    if (el.tagName === 'IMG') {
      if (!el.complete || el.naturalWidth === 0) return null;  // a new image is still loading
      canvas = document.createElement('canvas');
      canvas.width = el.naturalWidth;
      canvas.height = el.naturalHeight;
      canvas.getContext('2d').drawImage(el, 0, 0);
    }
    parts.push(canvas.toDataURL('image/png'));
  }
  return parts;
}
"""


@dataclass
class SliderReport:
    """What happened to the first slider of one explorer."""

    label: str
    readout_before: str
    readout_after: str
    readout_restored: str
    seconds_to_change: float
    seconds_to_restore: float
    screenshots: list[Path] = field(default_factory=list)


def explorers(page: Page, panel_id: str | None = None) -> Locator:
    """Every rendered explorer: a cell output area holding an ipywidgets slider and a plot
    (``<img>`` or ``<canvas>``), in the notebook panel with DOM id ``panel_id`` (or anywhere)."""
    scope = page.locator(f"[id='{panel_id}']") if panel_id else page.locator("body")
    return (scope.locator(".jp-OutputArea-output")
            .filter(has=page.locator(".widget-slider"))
            .filter(has=page.locator("img, canvas")))


def wait_for_explorer(page: Page, panel_id: str | None, *, timeout: float) -> int:
    """Wait until at least one explorer is rendered; return how many (0 on time-out)."""
    deadline = time.monotonic() + timeout
    while True:
        count = explorers(page, panel_id).count()
        if count or time.monotonic() > deadline:
            return count
        time.sleep(0.25)


def _fingerprint(area: Locator) -> str | None:
    parts = area.evaluate(_FINGERPRINT_JS)
    if parts is None:
        return None
    if not parts:
        raise SliderCheckFailed("the explorer's output area holds no <img> or <canvas> plot")
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("ascii"))
    return digest.hexdigest()


def _settled_fingerprint(
    area: Locator, *, differs_from: str | None = None, equals: str | None = None,
    timeout: float, poll: float = 0.2, stable_polls: int = 3,
) -> tuple[str | None, float]:
    """Poll the fingerprint until it is stable (and differs / equals as asked).

    Returns ``(fingerprint, seconds)``; the fingerprint is None when the condition was never met.
    """
    start = time.monotonic()
    last: str | None = None
    same = 0
    while time.monotonic() - start < timeout:
        current = _fingerprint(area)
        same = same + 1 if current is not None and current == last else 0
        last = current
        wanted = current is not None and (differs_from is None or current != differs_from) and (
            equals is None or current == equals)
        if wanted and same >= stable_polls - 1:
            return current, time.monotonic() - start
        time.sleep(poll)
    return None, time.monotonic() - start


def _readout(slider: Locator) -> str:
    return slider.locator(".widget-readout").inner_text().strip()


def _press(page: Page, key: str, times: int, delay: float) -> None:
    for _ in range(times):
        page.keyboard.press(key)
        time.sleep(delay)


def check_explorer_sliders(
    page: Page,
    *,
    panel_id: str | None = None,
    screenshot_dir: Path | None = None,
    name: str = "notebook",
    presses: int = 4,
    change_timeout: float = 10.0,
    key_delay: float = 0.15,
) -> list[SliderReport]:
    """Move the first slider of every explorer and require its plot to follow, then restore it.

    Raises :class:`SliderCheckFailed` when there is no explorer, when the slider's readout or the
    plot does not change within ``change_timeout`` seconds, or when moving it back does not
    restore the plot's pixels exactly. Screenshots of each explorer before, after and restored
    are written to ``screenshot_dir`` as ``<name>-explorer<i>-{before,after,restored}.png``.
    """
    areas = explorers(page, panel_id)
    count = areas.count()
    if count == 0:
        raise SliderCheckFailed(
            "no rendered explorer (a cell output with a slider and a plot) was found "
            "(is the @jupyter-widgets/jupyterlab-manager extension installed?)"
        )
    reports = []
    for index in range(count):
        area = areas.nth(index)
        slider = area.locator(".widget-slider").first
        label = slider.locator(".widget-label").first.inner_text().strip()
        what = f"first slider ({label!r}) of explorer #{index} of {name}"
        handle = slider.locator(".noUi-handle[role=slider]").first
        if slider.locator(".noUi-handle[role=slider]").count() == 0:
            raise SliderCheckFailed(f"{what}: no noUiSlider handle (.noUi-handle[role=slider]) "
                                    "to focus: has the ipywidgets slider markup changed?")
        area.scroll_into_view_if_needed()
        before, _ = _settled_fingerprint(area, timeout=change_timeout)
        if before is None:
            raise SliderCheckFailed(f"{what}: the plot never settled before the slider moved")
        shots: list[Path] = []

        def shot(stage: str, area: Locator = area, shots: list[Path] = shots,
                 index: int = index) -> None:
            if screenshot_dir is not None:
                screenshot_dir.mkdir(parents=True, exist_ok=True)
                path = screenshot_dir / f"{name}-explorer{index}-{stage}.png"
                area.screenshot(path=str(path))
                shots.append(path)

        shot("before")
        readout_before = _readout(slider)
        # towards the farther end, so that `presses` steps fit and the way back is the same
        now, low, high = (float(handle.get_attribute(f"aria-value{which}") or "nan")
                          for which in ("now", "min", "max"))
        forward, back = (("ArrowLeft", "ArrowRight") if now - low > high - now
                         else ("ArrowRight", "ArrowLeft"))
        handle.focus()
        _press(page, forward, presses, key_delay)
        after, to_change = _settled_fingerprint(area, differs_from=before, timeout=change_timeout)
        readout_after = _readout(slider)
        shot("after")
        if readout_after == readout_before:
            raise SliderCheckFailed(
                f"{what}: pressing {forward} {presses} times did not change the readout "
                f"({readout_before!r})"
            )
        if after is None:
            raise SliderCheckFailed(
                f"{what}: the readout went from {readout_before!r} to {readout_after!r} but the "
                f"plot did not change within {change_timeout:.0f} s: the slider is not wired to "
                "the figure"
            )
        handle.focus()
        _press(page, back, presses, key_delay)
        restored, to_restore = _settled_fingerprint(area, equals=before, timeout=change_timeout)
        readout_restored = _readout(slider)
        shot("restored")
        if readout_restored != readout_before:
            raise SliderCheckFailed(
                f"{what}: pressing {back} {presses} times gave readout {readout_restored!r}, "
                f"not the original {readout_before!r}"
            )
        if restored is None:
            raise SliderCheckFailed(
                f"{what}: moving the slider back to {readout_before!r} did not restore the "
                f"original plot pixels within {change_timeout:.0f} s"
            )
        reports.append(SliderReport(label, readout_before, readout_after, readout_restored,
                                    to_change, to_restore, shots))
    return reports
