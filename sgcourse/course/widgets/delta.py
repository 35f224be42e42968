r"""A live explorer of the Dirac delta as the limit of difference quotients (lesson 01).

The derivative of the Heaviside step :math:`\Theta` is the Dirac delta :math:`\delta`. Lesson 01
shows it through the centred difference quotient of :math:`\Theta` with step :math:`\varepsilon`,

.. math::

    \delta_\varepsilon(x) = \frac{\Theta(x + \varepsilon/2) - \Theta(x - \varepsilon/2)}
    {\varepsilon} = \begin{cases} 1/\varepsilon, & -\varepsilon/2 \le x < \varepsilon/2 \\
    0, & \text{otherwise,} \end{cases}

a box of width :math:`\varepsilon`, height :math:`1/\varepsilon` and area 1. :func:`delta_explorer`
draws it, computed with :func:`sgcourse.surrogate.heaviside` on a float64 grid, and redraws while a
slider for :math:`\varepsilon` (0.02 to 2, logarithmic) is dragged. A label reports the width, the
height and the area summed on the grid: the area stays 1 while the height grows without bound.
The limit :math:`\varepsilon \to 0` is :math:`\delta`: infinitely tall at 0 and zero at every other
:math:`x`, so it gives no usable gradient.

For contrast (lesson 02), the figure also draws the derivative of a smooth step, the sigmoid
surrogate :math:`\sigma(x) = s(\alpha x)` with the logistic function :math:`s`,

.. math::

    \sigma'(x) = \alpha\, s(\alpha x)\,\bigl(1 - s(\alpha x)\bigr), \qquad
    \alpha = 4/\varepsilon ,

whose peak :math:`\alpha/4` equals the box's height. Its area on the plotted range
:math:`[a, b]` is :math:`s(\alpha b) - s(\alpha a)` (1 on the whole line), but unlike the box it is
non-zero at every :math:`x`.

Drawn like the other explorers (:mod:`sgcourse.course.widgets.render`): a persistent figure,
rendered to PNG bytes into an ``ipywidgets.Image``; the y-axis widens in coarse steps
(:func:`~sgcourse.course.widgets.render.y_limits`), and the same state gives the same bytes.
"""

from __future__ import annotations

import math

import ipywidgets as widgets
import torch

from sgcourse import surrogate
from sgcourse._checks import POSITIVE, check_real
from sgcourse.course.widgets.render import BlittedFigure, LiveFigure, y_limits
from sgcourse.viz import check_x_range

__all__ = ["EPS_RANGE", "GRID_POINTS", "DeltaExplorer", "delta_explorer", "difference_quotient",
           "same_height_sigmoid_slope"]

EPS_RANGE: tuple[float, float] = (0.02, 2.0)
"""The smallest and largest step :math:`\\varepsilon` the slider offers."""

GRID_POINTS = 40001
"""Points of the float64 grid on the plotted range (spacing 1e-4 on the default (-2, 2))."""

_MAX_SPAN = 10.0     # the grid must resolve the narrowest box: spacing <= 10 / 40000 = 2.5e-4
_LOG_STEP = 0.01     # slider step of log10(eps): 200 positions from 0.02 to 2


def difference_quotient(x: torch.Tensor, eps: float) -> torch.Tensor:
    r""":math:`\delta_\varepsilon(x) = (\Theta(x + \varepsilon/2) - \Theta(x - \varepsilon/2))
    / \varepsilon`, with :func:`sgcourse.surrogate.heaviside` (a box of height
    :math:`1/\varepsilon` on :math:`[-\varepsilon/2, \varepsilon/2)`)."""
    return (surrogate.heaviside(x + eps / 2) - surrogate.heaviside(x - eps / 2)) / eps


def same_height_sigmoid_slope(x: torch.Tensor, eps: float) -> torch.Tensor:
    r"""The sigmoid surrogate's :math:`\sigma'(x) = \alpha s(\alpha x)(1 - s(\alpha x))` at
    :math:`\alpha = 4/\varepsilon`: its peak :math:`\alpha/4 = 1/\varepsilon` is the box's
    height."""
    return surrogate.spec("sigmoid").derivative(x, 4.0 / eps)


def _slider_bounds() -> tuple[float, float]:
    """Exponents for a base-10 slider whose end values include :data:`EPS_RANGE` exactly.

    ``10 ** log10(0.02)`` is one rounding above 0.02, which the slider would clamp ``eps=0.02``
    to; the lower exponent is moved down by one float so that 0.02 stays 0.02.
    """
    low, high = (math.log10(v) for v in EPS_RANGE)
    while 10.0 ** low > EPS_RANGE[0]:
        low = math.nextafter(low, -math.inf)
    while 10.0 ** high < EPS_RANGE[1]:
        high = math.nextafter(high, math.inf)
    return low, high


class DeltaExplorer(LiveFigure, widgets.VBox):
    r"""Live view of the box :math:`\delta_\varepsilon(x)` and of a sigmoid surrogate's
    :math:`\sigma'(x)` of the same height: a slider for :math:`\varepsilon`, a label and the figure.
    Build it with :func:`delta_explorer`.

    Attributes: ``slider`` (``FloatLogSlider`` for :math:`\varepsilon`, 0.02 to 2), ``label``
    (``ipywidgets.Label`` with width, height and areas), ``image`` (``ipywidgets.Image``), ``x``
    (the float64 grid), ``redraw_count`` and ``last_redraw_seconds``.
    """

    def __init__(self, eps: float = 0.5, x_range: tuple[float, float] = (-2.0, 2.0),
                 figsize: tuple[float, float] = (7.2, 3.4), dpi: int = 90) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        eps = check_real("eps", eps, POSITIVE)
        if not EPS_RANGE[0] <= eps <= EPS_RANGE[1]:
            raise ValueError(f"eps must lie in [{EPS_RANGE[0]:g}, {EPS_RANGE[1]:g}] (the slider's "
                             f"range), got {eps:g}")
        low, high = self.x_range = check_x_range(x_range)
        half_widest = EPS_RANGE[1] / 2
        if not (low <= -half_widest and high >= half_widest):
            raise ValueError(f"x_range must contain [{-half_widest:g}, {half_widest:g}], the "
                             f"widest box (eps = {EPS_RANGE[1]:g}), got ({low:g}, {high:g})")
        if high - low > _MAX_SPAN:
            raise ValueError(f"x_range must span at most {_MAX_SPAN:g} (so that the grid resolves "
                             f"the narrowest box, eps = {EPS_RANGE[0]:g}), got ({low:g}, {high:g})")
        self.x = torch.linspace(low, high, GRID_POINTS, dtype=torch.float64)
        x = self.x.numpy()

        self.figure = Figure(figsize=figsize, dpi=dpi)
        self.figure.subplots_adjust(left=0.09, right=0.66, bottom=0.15, top=0.9)
        FigureCanvasAgg(self.figure)
        ax = self._ax = self.figure.add_subplot()
        self._box_line, = ax.plot(x, x * 0.0, color="tab:blue", lw=1.8,
                                  label="difference quotient\n" r"$\delta_\varepsilon(x)$: a box")
        self._sigmoid_line, = ax.plot(x, x * 0.0, color="tab:orange", lw=1.4, linestyle="--",
                                      label="slope $\\sigma'(x)$ of a smooth step;\n"
                                            "its peak equals the box's\n"
                                            "height: $\\alpha = 4/\\varepsilon$ (lesson 02)")
        ax.set_xlim(low, high)
        ax.set_xlabel(r"$x = H - V_{th}$")
        ax.set_ylabel(r"slope of the step")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        ax.set_title(" ")
        self._renderer = BlittedFigure(self.figure, ax,
                                       (self._box_line, self._sigmoid_line, ax.title))

        slider_low, slider_high = _slider_bounds()
        self.slider = widgets.FloatLogSlider(value=eps, base=10.0, min=slider_low,
                                             max=slider_high, step=_LOG_STEP,
                                             description="ε (box width)", readout_format=".3g",
                                             continuous_update=True,
                                             style={"description_width": "initial"})
        self.label = widgets.Label()
        self.image = widgets.Image(format="png")
        super().__init__([widgets.HBox([self.slider]), self.label, self.image])
        self.slider.observe(self._on_change, names="value")
        self.redraw()

    @property
    def eps(self) -> float:
        """The current step :math:`\\varepsilon`."""
        return float(self.slider.value)

    def box(self) -> torch.Tensor:
        r""":math:`\delta_\varepsilon` on the grid ``self.x``."""
        return difference_quotient(self.x, self.eps)

    def sigmoid_slope(self) -> torch.Tensor:
        r""":math:`\sigma'(x)` at :math:`\alpha = 4/\varepsilon` on the grid ``self.x``."""
        return same_height_sigmoid_slope(self.x, self.eps)

    def box_area(self) -> float:
        r"""The box's area on the grid (trapezoid rule): within :math:`\Delta x/\varepsilon` of 1,
        since the box covers :math:`\varepsilon/\Delta x` grid points, give or take one."""
        return float(torch.trapezoid(self.box(), self.x))

    def sigmoid_area(self) -> float:
        r"""The area under :math:`\sigma'` on the grid (trapezoid rule); close to
        :math:`s(\alpha b) - s(\alpha a)` on the range :math:`[a, b]`."""
        return float(torch.trapezoid(self.sigmoid_slope(), self.x))

    def update_figure(self) -> None:
        """Recompute both curves for the slider's ``eps``; update them, the y-range and texts."""
        eps, box, slope = self.eps, self.box(), self.sigmoid_slope()
        self._box_line.set_ydata(box.numpy())
        self._sigmoid_line.set_ydata(slope.numpy())
        self._ax.set_ylim(*y_limits(box, slope))
        self._ax.set_title(rf"$\varepsilon = {eps:.3g}$: height $1/\varepsilon = {1 / eps:.3g}$, "
                           r"area 1 (shrink $\varepsilon$: taller, narrower)", fontsize="medium")
        self.label.value = (f"box: width ε = {eps:.3g}, height 1/ε = {1 / eps:.3g}, "
                            f"area ≈ {self.box_area():.2f} (summed on the plotted grid)  |  "
                            f"smooth step: α = 4/ε = {4 / eps:.3g}, peak {float(slope.max()):.3g},"
                            f" area on the plotted range ≈ {self.sigmoid_area():.2f} (its tails "
                            f"reach beyond it when ε is large)")


def delta_explorer(eps: float = 0.5,
                   x_range: tuple[float, float] = (-2.0, 2.0)) -> DeltaExplorer:
    r"""A live explorer of :math:`\delta_\varepsilon(x)` starting at step ``eps`` (module doc).

    ``eps`` must lie in [0.02, 2]; ``x_range`` must contain [-1, 1] (the widest box) and span at
    most 10. Display the returned object as the last expression of a cell; drive it from code with
    ``explorer.slider.value = 0.05``.
    """
    return DeltaExplorer(eps, x_range=x_range)
