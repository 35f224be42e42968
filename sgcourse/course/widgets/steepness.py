r"""A live explorer of surrogate steepness (lesson 07): :math:`\sigma'(kx)` of several shapes.

:func:`steepness_explorer` draws :math:`\sigma'_{\rm shape}(k x)` for a few surrogate shapes at
their default hyper-parameters (peak 1), as :class:`sgcourse.course.sweeps.SteepenedSurrogate`
uses them, and redraws while a slider for the steepness :math:`k` is dragged. The peak stays at
1; the width shrinks like :math:`1/k`. A label lists, for each shape, the half-width
:math:`w_{0.1}`: the largest :math:`|x|` on the plotted range where :math:`\sigma'(kx) \ge 0.1`,
i.e. how far from threshold a neuron still gets at least a tenth of the peak gradient.

Drawn like the other explorers (:mod:`sgcourse.course.widgets.render`): a persistent figure,
rendered to PNG bytes into an ``ipywidgets.Image``; the same state gives the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import ipywidgets as widgets
import torch

from sgcourse import surrogate
from sgcourse._checks import POSITIVE, check_real
from sgcourse.course.sweeps import SteepenedSurrogate
from sgcourse.course.widgets.render import BlittedFigure, LiveFigure
from sgcourse.viz import check_x_range

__all__ = ["DEFAULT_SHAPES", "SteepnessExplorer", "half_width", "steepness_explorer"]

DEFAULT_SHAPES: tuple[str, ...] = ("sigmoid", "atan", "super_spike", "piecewise_quadratic")
"""The shapes lesson 07 compares."""

_K_RANGE = (0.1, 10.0, 0.1)  # slider min, max, step
_LEVEL = 0.1                 # the half-width is measured at this fraction of the peak


def half_width(x: torch.Tensor, slope: torch.Tensor, level: float = _LEVEL) -> float:
    r"""The largest :math:`|x|` with ``slope >= level`` (``nan`` if the slope never reaches it).

    ``x`` and ``slope`` are 1-D tensors of the same length (a curve sampled on a grid).
    """
    reached = x[slope >= level]
    return float(reached.abs().max()) if reached.numel() else math.nan


class SteepnessExplorer(LiveFigure, widgets.VBox):
    r"""Live view of :math:`\sigma'(kx)` for several shapes: a slider for :math:`k`, a label and
    the figure. Build it with :func:`steepness_explorer`.

    Attributes: ``slider`` (``FloatSlider`` for :math:`k`, 0.1 to 10), ``image``
    (``ipywidgets.Image``), ``width_label`` (``ipywidgets.Label`` with the half-widths),
    ``shapes``, ``redraw_count`` and ``last_redraw_seconds``.
    """

    def __init__(self, shapes: Sequence[str] = DEFAULT_SHAPES, k: float = 1.0,
                 x_range: tuple[float, float] = (-3.0, 3.0),
                 figsize: tuple[float, float] = (6.6, 3.4), dpi: int = 90) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        if isinstance(shapes, str) or not shapes:
            raise TypeError("shapes must be a non-empty sequence of surrogate names, e.g. "
                            f"{list(DEFAULT_SHAPES)}")
        self.shapes = [surrogate.spec(name).name for name in shapes]
        low, high, step = _K_RANGE
        k = check_real("k", k, POSITIVE)
        if not low <= k <= high:
            raise ValueError(f"k must lie in [{low}, {high}] (the slider's range), got {k}")
        self.x_range = check_x_range(x_range)
        self._x = torch.linspace(*self.x_range, 601, dtype=torch.float64)

        self.figure = Figure(figsize=figsize, dpi=dpi)
        self.figure.subplots_adjust(left=0.1, right=0.74, bottom=0.15, top=0.9)
        FigureCanvasAgg(self.figure)
        self._ax = self.figure.add_subplot()
        self._lines = [self._ax.plot(self._x.numpy(), self._x.numpy() * 0.0,
                                     label=surrogate.spec(name).class_name)[0]
                       for name in self.shapes]
        self._ax.axhline(_LEVEL, color="grey", linestyle=":", label=f"{_LEVEL:g} of the peak")
        self._ax.set_ylim(-0.03, 1.08)
        self._ax.set_xlim(*self.x_range)
        self._ax.set_xlabel(r"$x = H - V_{th}$ (membrane potential minus threshold)")
        self._ax.set_ylabel(r"surrogate derivative $\sigma'(kx)$")
        self._ax.grid(True, alpha=0.3)
        self._ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        self._ax.set_title(" ")
        self._renderer = BlittedFigure(self.figure, self._ax, (*self._lines, self._ax.title))

        self.slider = widgets.FloatSlider(value=k, min=low, max=high, step=step,
                                          description="k (steepness)", readout_format=".1f",
                                          continuous_update=True,
                                          style={"description_width": "initial"})
        self.width_label = widgets.Label()
        self.image = widgets.Image(format="png")
        super().__init__([widgets.HBox([self.slider]), self.width_label, self.image])
        self.slider.observe(lambda change: self.redraw(), names="value")
        self.redraw()

    @property
    def k(self) -> float:
        """The current steepness."""
        return float(self.slider.value)

    def curves(self) -> dict[str, torch.Tensor]:
        r""":math:`\sigma'(kx)` on the plotted grid, per shape."""
        return {name: SteepenedSurrogate(name, self.k).derivative(self._x) for name in self.shapes}

    def half_widths(self) -> dict[str, float]:
        r"""Per shape, the largest :math:`|x|` on the range where :math:`\sigma'(kx) \ge 0.1`."""
        return {name: half_width(self._x, slope) for name, slope in self.curves().items()}

    def update_figure(self) -> None:
        """Recompute the curves for the slider's ``k`` and update them and the label."""
        for line, slope in zip(self._lines, self.curves().values(), strict=True):
            line.set_ydata(slope.numpy())
        self._ax.set_title(rf"$\sigma'(kx)$ at $k = {self.k:.1f}$: peak 1, width $\propto 1/k$")
        widths = ", ".join(f"{surrogate.spec(name).class_name} {w:.2f}"
                           for name, w in self.half_widths().items())
        self.width_label.value = f"|x| where σ′(kx) ≥ {_LEVEL:g} reaches: {widths}"


def steepness_explorer(shapes: Sequence[str] = DEFAULT_SHAPES, k: float = 1.0,
                       x_range: tuple[float, float] = (-3.0, 3.0)) -> SteepnessExplorer:
    r"""A live explorer of :math:`\sigma'(kx)` for ``shapes``, starting at steepness ``k``.

    Display the returned object as the last expression of a cell; drive it from code with
    ``explorer.slider.value = 3.0``.
    """
    return SteepnessExplorer(shapes, k, x_range=x_range)
