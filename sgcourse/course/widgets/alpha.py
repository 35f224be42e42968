r"""Interactive widgets for the lessons: a live explorer of a surrogate's shape.

:func:`alpha_explorer` shows :math:`\Theta(x)`, :math:`\sigma(x)` and :math:`\sigma'(x)` of a
surrogate and redraws them while a slider for its shape hyper-parameter (``alpha`` for most
surrogates) is dragged. A dropdown switches between all registered surrogates.

How it draws: one persistent matplotlib :class:`~matplotlib.figure.Figure`, built with the
object-oriented API (never registered with ``pyplot``, so the inline backend never shows a stray
copy), is rendered to PNG bytes on each change and assigned to an ``ipywidgets.Image``. This is
smooth in JupyterLab (no re-layout, no flicker), needs only ipywidgets, and produces no extra
cell outputs, so notebooks that contain the explorer pass strict ``nbval``. The same state always
gives the same bytes, which is what the tests and the lesson's self-check rely on.

Redraws use blitting: the static part of the figure (axes, ticks, grid, Θ, legend) is drawn
once per y-range and cached; a redraw restores it and draws only σ, σ′ and the title, which
keeps a redraw well under the 50–100 ms that a continuously updating slider can afford.

``import sgcourse`` does not import this module (nor ipywidgets); ``matplotlib`` is imported when
an explorer is built.
"""

from __future__ import annotations

import math
from typing import Any

import ipywidgets as widgets

from sgcourse import surrogate as _surrogate
from sgcourse._checks import POSITIVE, check_int, check_real
from sgcourse.course.widgets.render import BlittedFigure, LiveFigure, y_limits
from sgcourse.surrogate import HyperParameter
from sgcourse.viz import (
    check_x_range,
    describe,
    draw_surrogate,
    peak_derivative,
    resolve_surrogate,
    surrogate_curves,
)

__all__ = ["AlphaExplorer", "alpha_explorer", "slider_range"]

def _nice_step(high: float) -> float:
    """A round step giving 50 to 500 positions between 0 and ``high``."""
    return 10.0 ** math.floor(math.log10(high)) / 50.0


def slider_range(hparam: HyperParameter) -> tuple[float, float, float]:
    r"""``(min, max, step)`` of the slider for one hyper-parameter, from its default and domain.

    * integer hyper-parameters (``n`` of the Fourier series): 2 to :math:`\max(8, 4d)`, step 1;
    * default :math:`d = 0` (``leak``, LogTailedReLU's ``alpha``): 0 to 1, step 0.01;
    * otherwise one step to :math:`4d` (rounded up to a step), with a round step; for
      :math:`\alpha > 1` (QPseudoSpike) the minimum is one step above 1.

    The default always lies inside the range, and every value in it is admissible.
    """
    default = float(hparam.default)
    domain = hparam.domain
    if domain.integer:
        low, high, step = 2.0, float(max(8, math.ceil(4 * default))), 1.0
    elif default == 0.0:
        low, high, step = 0.0, 1.0, 0.01
    else:
        step = _nice_step(4 * default)
        high = math.ceil(4 * default / step) * step
        multiple = 1
        while not domain.contains(round(multiple * step, 10)):
            multiple += 1
        low = multiple * step
    if not (domain.contains(low) and low <= default <= high):  # pragma: no cover - invariant
        raise RuntimeError(f"no slider range for hyper-parameter {hparam.name!r}")
    return round(low, 10), round(high, 10), step


class AlphaExplorer(LiveFigure, widgets.VBox):
    """Live view of one surrogate: a dropdown, a slider, a peak read-out and the figure.

    An ``ipywidgets.VBox``: build it with :func:`alpha_explorer` and display it as the last
    expression of a cell. Attributes for code and tests:

    ``dropdown``
        ``ipywidgets.Dropdown`` over every registered surrogate (label: class name, value: name).
    ``slider``
        ``ipywidgets.FloatSlider`` (``continuous_update=True``) for the first hyper-parameter;
        its description is that hyper-parameter's name and its range follows
        :func:`slider_range`; disabled for surrogates without hyper-parameters.
    ``image``
        ``ipywidgets.Image`` holding the PNG of the current figure.
    ``peak_label``
        ``ipywidgets.Label`` with the current peak of σ′ (see :func:`sgcourse.viz.peak_derivative`).
    ``formula``
        ``ipywidgets.HTMLMath`` with the current σ′ formula.
    ``surrogate``
        the current surrogate module (its hyper-parameter follows the slider).
    ``redraw_count`` / ``last_redraw_seconds``
        how many times the figure was redrawn, and how long the last redraw took.
    """

    def __init__(self, sg: object = "sigmoid", value: float | None = None,
                 x_range: tuple[float, float] = (-3.0, 3.0),
                 figsize: tuple[float, float] = (6.6, 3.4), dpi: int = 90,
                 num: int = 601) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        start = resolve_surrogate(sg, "surrogate")
        self.x_range = check_x_range(x_range)
        self.num = check_int("num", num, minimum=2)
        self.dpi = check_int("dpi", dpi, minimum=10)
        if not isinstance(figsize, tuple | list) or len(figsize) != 2:
            raise TypeError(f"figsize must be a pair (width, height) in inches, got {figsize!r}")
        size = (check_real("figsize[0]", figsize[0], POSITIVE),
                check_real("figsize[1]", figsize[1], POSITIVE))

        self._configuring = False
        # A copy, so that the slider never changes a module the caller still uses elsewhere.
        self.surrogate: _surrogate.Surrogate = _surrogate.get(
            start.spec.name, **dict(zip(start.spec.names, start.hparams, strict=True)))

        # Fixed margins (no layout engine, which would draw every frame twice); the legend sits
        # right of the axes, so the curves drawn on top of the cached background never cover it.
        self.figure = Figure(figsize=size, dpi=self.dpi)
        self.figure.subplots_adjust(left=0.09, right=0.82, bottom=0.15, top=0.9)
        FigureCanvasAgg(self.figure)
        self._ax = self.figure.add_subplot()
        self._lines = draw_surrogate(self._ax, self.surrogate, self.x_range, self.num,
                                     legend=False)
        self._ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        self._ax.set_xlabel("$x$ (membrane potential minus threshold)")
        self._ax.set_title(describe(self.surrogate))
        self._renderer = BlittedFigure(
            self.figure, self._ax, (self._lines["primitive"], self._lines["derivative"],
                                    self._ax.title))

        self.dropdown = widgets.Dropdown(
            options=[(_surrogate.spec(name).class_name, name) for name in _surrogate.available()],
            value=self.surrogate.spec.name, description="surrogate")
        self.slider = widgets.FloatSlider(continuous_update=True, readout_format=".2f")
        self.peak_label = widgets.Label()
        self.formula = widgets.HTMLMath(layout=widgets.Layout(margin="0 0 0 2em"))
        self.image = widgets.Image(format="png")
        super().__init__([
            widgets.HBox([self.dropdown, self.slider]),
            widgets.HBox([self.peak_label, self.formula]),
            self.image,
        ])

        self._configure_slider(value)
        self.slider.observe(self._on_slider, names="value")
        self.dropdown.observe(self._on_dropdown, names="value")
        self.redraw()

    # -- the controlled hyper-parameter --------------------------------------------------------
    @property
    def hparam(self) -> HyperParameter | None:
        """The hyper-parameter the slider controls (the first one), or None if there is none."""
        hparams = self.surrogate.spec.hparams
        return hparams[0] if hparams else None

    def _configure_slider(self, value: float | None = None) -> None:
        """Fit the slider to the current surrogate's first hyper-parameter, without redrawing."""
        hparam = self.hparam
        self._configuring = True
        try:
            with self.slider.hold_trait_notifications():
                if hparam is None:
                    if value is not None:
                        raise TypeError(f"{self.surrogate.spec.class_name} has no "
                                        f"hyper-parameter, so alpha must be None")
                    self.slider.description = "(none)"
                    self.slider.disabled = True
                    return
                current = hparam.validate(value if value is not None
                                          else getattr(self.surrogate, hparam.name))
                low, high, step = slider_range(hparam)
                low, high = min(low, current), max(high, current)
                # Order matters: ipywidgets refuses min > max at every assignment.
                self.slider.max = max(high, self.slider.max)
                self.slider.min = low
                self.slider.max = high
                self.slider.step = step
                self.slider.value = current
                self.slider.description = hparam.name
                self.slider.readout_format = ".0f" if hparam.domain.integer else ".2f"
                self.slider.disabled = False
                setattr(self.surrogate, hparam.name, current)
        finally:
            self._configuring = False

    # -- events --------------------------------------------------------------------------------
    def _on_slider(self, change: dict[str, Any]) -> None:
        if self._configuring or self.hparam is None:
            return
        setattr(self.surrogate, self.hparam.name, change["new"])
        self.redraw()

    def _on_dropdown(self, change: dict[str, Any]) -> None:
        self.surrogate = _surrogate.get(change["new"])
        self._configure_slider()
        self.redraw()

    # -- drawing -------------------------------------------------------------------------------

    def update_figure(self) -> None:
        """Recompute σ and σ′ for the current hyper-parameters and update the curves and labels."""
        curves = surrogate_curves(self.surrogate, self.x_range, self.num)
        self._lines["primitive"].set_ydata(curves["primitive"])
        self._lines["derivative"].set_ydata(curves["derivative"])
        self._ax.set_ylim(*y_limits(curves["primitive"], curves["derivative"]))
        self._ax.set_title(describe(self.surrogate))
        peak = peak_derivative(self.surrogate, self.x_range)
        low_x, high_x = self.x_range
        self.peak_label.value = f"peak of σ′ on [{low_x:g}, {high_x:g}]: {peak:.4f}"
        self.formula.value = rf"$\sigma'(x) = {self.surrogate.spec.derivative_tex}$"


def alpha_explorer(surrogate: object = "sigmoid", alpha: float | None = None,
                   x_range: tuple[float, float] = (-3.0, 3.0),
                   figsize: tuple[float, float] = (6.6, 3.4), dpi: int = 90) -> AlphaExplorer:
    r"""A live explorer of :math:`\sigma` and :math:`\sigma'` for a surrogate and its ``alpha``.

    ``surrogate`` is a name (``"sigmoid"``, ``"ATan"``...) or a module (a copy is used, starting
    from its hyper-parameters). ``alpha`` is the starting value of the slider, which controls the
    surrogate's first hyper-parameter (``alpha`` for most; ``w``, ``n`` or ``leak`` for some);
    None keeps the current value. Display the returned object in a notebook cell; drive it from
    code with ``explorer.slider.value = 8.0`` or ``explorer.dropdown.value = "atan"``.
    """
    return AlphaExplorer(surrogate, alpha, x_range=x_range, figsize=figsize, dpi=dpi)
