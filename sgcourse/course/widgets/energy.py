r"""A live explorer of the energy of a spiking layer relative to its ANN twin (lesson 10).

For a dense layer, a spiking version does :math:`\nu F_{in} F_{out}` accumulates where the ANN
does :math:`F_{in} F_{out}` multiply-accumulates (:mod:`sgcourse.course.efficiency`), with
:math:`\nu` the spikes per neuron and sample. If every operation also pays :math:`E_{mem}` for
fetching its weight, the energy ratio is

.. math::

    \frac{E_{SNN}}{E_{ANN}} = \nu\,\frac{E_{AC} + E_{mem}}{E_{MAC} + E_{mem}},
    \qquad \text{break-even at} \quad \nu^* = \frac{E_{MAC} + E_{mem}}{E_{AC} + E_{mem}} .

:func:`energy_explorer` draws this line against :math:`\nu` with sliders for :math:`E_{MAC}`,
:math:`E_{AC}` and :math:`E_{mem}` (picojoules), and marks the :math:`\nu` of given networks.
It uses the course's :class:`~sgcourse.course.widgets.render.BlittedFigure` (same state, same
PNG bytes).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np

from sgcourse._checks import NONNEGATIVE, POSITIVE, check_real
from sgcourse.course.efficiency import E_AC_PJ, E_MAC_PJ
from sgcourse.course.widgets.render import BlittedFigure, LiveFigure

__all__ = ["SLIDER_RANGES", "EnergyExplorer", "break_even", "energy_explorer", "energy_ratio"]

#: (min, max, step) of each slider, in picojoules.
SLIDER_RANGES: dict[str, tuple[float, float, float]] = {
    "e_mac": (0.1, 10.0, 0.01),
    "e_ac": (0.01, 5.0, 0.01),
    "e_memory": (0.0, 20.0, 0.5),
}
_LABELS = {"e_mac": "E_MAC [pJ]", "e_ac": "E_AC [pJ]", "e_memory": "E_mem [pJ]"}
_Y_MAX = 3.0


def energy_ratio(nu: Any, e_mac: float, e_ac: float, e_memory: float = 0.0) -> Any:
    r""":math:`\nu (E_{AC} + E_{mem}) / (E_{MAC} + E_{mem})` (``nu`` a number or an array)."""
    return nu * (e_ac + e_memory) / (e_mac + e_memory)


def break_even(e_mac: float, e_ac: float, e_memory: float = 0.0) -> float:
    r"""The :math:`\nu^*` at which the spiking layer costs as much as the dense one."""
    return (e_mac + e_memory) / (e_ac + e_memory)


class EnergyExplorer(LiveFigure, widgets.VBox):
    r"""Sliders for :math:`E_{MAC}`, :math:`E_{AC}`, :math:`E_{mem}` and the energy-ratio plot.

    Attributes: ``sliders`` (dict of ``FloatSlider``: ``"e_mac"``, ``"e_ac"``, ``"e_memory"``),
    ``image`` (``ipywidgets.Image``), ``nu_star`` (the current break-even :math:`\nu^*`),
    ``redraw_count`` / ``last_redraw_seconds``.
    """

    def __init__(self, e_mac: float = E_MAC_PJ, e_ac: float = E_AC_PJ, e_memory: float = 0.0,
                 markers: dict[str, float] | None = None, nu_max: float = 6.0,
                 figsize: tuple[float, float] = (7.0, 3.6), dpi: int = 90) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        values = {"e_mac": check_real("e_mac", e_mac, POSITIVE),
                  "e_ac": check_real("e_ac", e_ac, POSITIVE),
                  "e_memory": check_real("e_memory", e_memory, NONNEGATIVE)}
        for name, value in values.items():
            low, high, _ = SLIDER_RANGES[name]
            if not low <= value <= high:
                raise ValueError(f"{name} must lie in the slider range [{low:g}, {high:g}], "
                                 f"got {value:g}")
        self.nu_max = check_real("nu_max", nu_max, POSITIVE)
        markers = dict(markers or {})
        for label, nu in markers.items():
            if not isinstance(label, str):
                raise TypeError(f"markers must map labels (str) to nu, got key {label!r}")
            check_real(f"markers[{label!r}]", nu, NONNEGATIVE)
        self.markers = {label: float(nu) for label, nu in markers.items()}

        self.figure = Figure(figsize=figsize, dpi=dpi)
        self.figure.subplots_adjust(left=0.09, right=0.66, bottom=0.15, top=0.88)
        FigureCanvasAgg(self.figure)
        ax = self._ax = self.figure.add_subplot()
        self._nu = np.linspace(0.0, self.nu_max, 241)
        ax.axhline(1.0, color="gray", linestyle=":", label="same energy as the ANN")
        self._line, = ax.plot(self._nu, np.full_like(self._nu, np.nan), color="tab:blue",
                              label=r"$E_{SNN}/E_{ANN}$")
        self._break_even = ax.axvline(np.nan, color="tab:red", linestyle="--",
                                      label=r"break-even $\nu^*$")
        self._points = [ax.plot([], [], linestyle="none", marker=marker, markersize=9,
                                label=label)[0]
                        for (label, _), marker in zip(self.markers.items(), "osD^v", strict=False)]
        ax.set_xlim(0.0, self.nu_max)
        ax.set_ylim(0.0, _Y_MAX)
        ax.set_xlabel(r"$\nu$, spikes per neuron and sample")
        ax.set_ylabel("energy, SNN / ANN layer")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        self._renderer = BlittedFigure(self.figure, ax,
                                       (self._line, self._break_even, *self._points, ax.title))

        self.sliders = {
            name: widgets.FloatSlider(value=values[name], min=SLIDER_RANGES[name][0],
                                      max=SLIDER_RANGES[name][1], step=SLIDER_RANGES[name][2],
                                      description=_LABELS[name], continuous_update=True,
                                      readout_format=".2f")
            for name in ("e_mac", "e_ac", "e_memory")}
        self.image = widgets.Image(format="png")
        super().__init__([widgets.HBox(list(self.sliders.values())), self.image])
        for slider in self.sliders.values():
            slider.observe(self._on_change, names="value")
        self.redraw()



    def update_figure(self) -> None:
        """Recompute the ratio for the current sliders and update the curve and markers."""
        e_mac, e_ac, e_memory = (self.sliders[n].value for n in ("e_mac", "e_ac", "e_memory"))
        self._line.set_ydata(energy_ratio(self._nu, e_mac, e_ac, e_memory))
        self.nu_star = break_even(e_mac, e_ac, e_memory)
        self._break_even.set_xdata([self.nu_star, self.nu_star])
        for point, nu in zip(self._points, self.markers.values(), strict=False):
            point.set_data([nu], [energy_ratio(nu, e_mac, e_ac, e_memory)])
        self._ax.set_title(f"break-even at ν* = {self.nu_star:.2f} spikes per neuron and sample",
                           fontsize="medium")


def energy_explorer(e_mac: float = E_MAC_PJ, e_ac: float = E_AC_PJ, e_memory: float = 0.0,
                    markers: dict[str, float] | None = None,
                    nu_max: float = 6.0) -> EnergyExplorer:
    r"""A live plot of :math:`E_{SNN}/E_{ANN}` against :math:`\nu` (module docstring).

    Starts at Horowitz's (2014) 45 nm figures (:math:`E_{MAC}` = 4.6 pJ, :math:`E_{AC}` = 0.9 pJ)
    without memory cost; ``markers`` maps a label to a network's :math:`\nu`, drawn on the line.
    """
    return EnergyExplorer(e_mac, e_ac, e_memory, markers, nu_max)
