"""The renderer shared by the course's live explorers.

A persistent matplotlib figure, built with the object-oriented API (never registered with
``pyplot``, so the inline backend never shows a stray copy), is rendered to PNG bytes on each
change and assigned to an ``ipywidgets.Image``: smooth in JupyterLab (no re-layout, no flicker),
no extra cell outputs, and the same state always gives the same bytes.
"""

from __future__ import annotations

import io
import math
import time
from typing import Any

__all__ = ["MIN_YLIM", "BlittedFigure", "LiveFigure", "y_limits"]

#: The y-axis always shows at least this interval, so that changing the shape is visible as a
#: change of height (not hidden by autoscaling); it grows only when a curve leaves it.
MIN_YLIM = (-0.1, 1.5)


def _y_bound(extreme: float, floor: float) -> float:
    """Smallest of ``floor``, 1.5, 3, 6, … (doubling) that is at least ``1.05 * extreme``.

    Coarse steps keep the axes, and so the cached background, unchanged while a slider moves.
    """
    needed = 1.05 * extreme
    if needed <= floor:
        return floor
    return MIN_YLIM[1] * 2.0 ** max(0, math.ceil(math.log2(needed / MIN_YLIM[1])))


def y_limits(*curves: Any) -> tuple[float, float]:
    """The y-range of the explorer for the given arrays: :data:`MIN_YLIM`, widened in steps."""
    lowest = min(float(curve.min()) for curve in curves)
    highest = max(float(curve.max()) for curve in curves)
    return -_y_bound(-lowest, -MIN_YLIM[0]), _y_bound(highest, MIN_YLIM[1])


class BlittedFigure:
    """A persistent matplotlib figure rendered to PNG bytes, fast enough for live sliders.

    The static background (axes, grid, legend, fixed lines) is drawn in full once per y-range of
    ``key_axes`` and cached; the ``animated`` artists (curves, title) are then drawn on top of it.
    Only a few y-ranges ever occur (see :func:`y_limits`), so most redraws are a blit. The same
    state always gives the same bytes.
    """

    def __init__(self, figure: Any, key_axes: Any, animated: tuple[Any, ...]) -> None:
        self.figure, self._key_axes, self._animated = figure, key_axes, animated
        for artist in animated:
            artist.set_animated(True)
        self._backgrounds: dict[tuple[float, float], Any] = {}

    def png(self) -> bytes:
        """Blit the animated artists over the cached background and encode the result as PNG."""
        from PIL import Image

        canvas = self.figure.canvas
        ylim = self._key_axes.get_ylim()
        if ylim not in self._backgrounds:
            canvas.draw()  # animated artists are skipped: this is the background
            self._backgrounds[ylim] = canvas.copy_from_bbox(self.figure.bbox)
        else:
            canvas.restore_region(self._backgrounds[ylim])
        for artist in self._animated:
            self._key_axes.draw_artist(artist)
        rgba = canvas.buffer_rgba()
        buffer = io.BytesIO()
        Image.frombuffer("RGBA", (rgba.shape[1], rgba.shape[0]), rgba, "raw", "RGBA", 0, 1).save(
            buffer, format="png", compress_level=1)
        return buffer.getvalue()


class LiveFigure:
    """What every explorer shares: a redraw that updates its figure's artists
    (:meth:`update_figure`, written by each explorer), renders them through its
    :class:`BlittedFigure` (``self._renderer``) into its ``ipywidgets.Image`` (``self.image``), and
    counts and times itself (``redraw_count``, ``last_redraw_seconds``, read by the tests).

    Mix it into an explorer before ``ipywidgets.VBox``; observe each control with
    :meth:`_on_change`.
    """

    _renderer: BlittedFigure
    image: Any
    redraw_count: int = 0
    last_redraw_seconds: float = math.nan

    def update_figure(self) -> None:
        """Update the artists (and any labels) for the current state of the controls."""
        raise NotImplementedError

    def render_png(self) -> bytes:
        """The current figure as PNG bytes (deterministic: same state, same bytes)."""
        return self._renderer.png()

    def _on_change(self, change: Any = None) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Update the figure for the current controls and show it."""
        started = time.perf_counter()
        self.update_figure()
        self.image.value = self.render_png()
        self.redraw_count += 1
        self.last_redraw_seconds = time.perf_counter() - started
