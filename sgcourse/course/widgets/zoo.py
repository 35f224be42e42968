r"""A live explorer of the neuron zoo: pick a neuron, drag its parameters, see its spikes and f–I.

:func:`zoo_explorer` shows, for the neuron chosen in a dropdown (IF, LIF, parametric LIF, QIF,
EIF, CUBA-LIF, Izhikevich), its membrane potential :math:`V[t]` (``v_seq``) and spikes for a
constant input switched on at a fixed time (left), and its f–I curve, the firing rate against the
constant input, with a marker at the current input (right). The sliders are that neuron's
parameters and its input; switching the neuron switches the sliders. The computations are
:mod:`sgcourse.course.zoo`'s.

It draws like the other explorers: one persistent matplotlib figure per neuron (built on first
use), rendered by :class:`~sgcourse.course.widgets.render.BlittedFigure` to PNG bytes assigned to
an ``ipywidgets.Image``; the same state always gives the same bytes, and no cell output is added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from sgcourse._checks import check_int
from sgcourse.course import zoo
from sgcourse.course.widgets.render import BlittedFigure, LiveFigure, y_limits

__all__ = ["KINDS", "SLIDERS", "SliderSpec", "ZooExplorer", "zoo_explorer"]


@dataclass(frozen=True)
class SliderSpec:
    """One slider: the parameter's name, label, ``(min, max, step)`` and starting value."""

    name: str
    label: str
    low: float
    high: float
    step: float
    value: float


def _input(low: float, high: float, step: float, value: float, label: str = "input X"
           ) -> SliderSpec:
    return SliderSpec("x", label, low, high, step, value)


_TAU = SliderSpec("tau", "τ (tau)", 1.5, 20.0, 0.5, 5.0)
_V_TH = SliderSpec("v_threshold", "V_th", 0.2, 2.0, 0.05, 1.0)

SLIDERS: dict[str, tuple[SliderSpec, ...]] = {
    "if": (_V_TH, _input(-0.5, 3.0, 0.05, 0.3)),
    "lif": (_TAU, _V_TH, _input(-0.5, 3.0, 0.05, 1.5)),
    "plif": (SliderSpec("init_tau", "initial τ", 1.5, 20.0, 0.5, 5.0), _V_TH,
             _input(-0.5, 3.0, 0.05, 1.5)),
    "qif": (SliderSpec("tau", "τ (tau)", 1.5, 10.0, 0.5, 2.0),
            SliderSpec("v_c", "v_c", 0.1, 0.95, 0.05, 0.8),
            SliderSpec("a0", "a0", 0.2, 3.0, 0.1, 1.0), _input(-0.5, 3.0, 0.05, 0.3)),
    "eif": (SliderSpec("tau", "τ (tau)", 1.5, 10.0, 0.5, 2.0),
            SliderSpec("delta_T", "Δ_T", 0.05, 1.0, 0.05, 0.2),
            SliderSpec("theta_rh", "θ_rh", 0.1, 0.95, 0.05, 0.8), _input(-0.5, 3.0, 0.05, 0.7)),
    "cuba": (SliderSpec("c_decay", "current decay", 0.0, 0.95, 0.05, 0.5),
             SliderSpec("v_decay", "membrane decay", 0.0, 0.95, 0.05, 0.75),
             _input(-0.2, 1.0, 0.01, 0.1)),
    "izhikevich": (SliderSpec("a", "a", 0.01, 0.2, 0.01, 0.02),
                   SliderSpec("b", "b", 0.1, 0.3, 0.01, 0.2),
                   SliderSpec("c", "c (mV)", -70.0, -40.0, 1.0, -65.0),
                   SliderSpec("d", "d", 0.5, 10.0, 0.5, 8.0),
                   _input(0.0, 20.0, 0.5, 10.0, "current I")),
}
"""The sliders of each neuron; their ranges hold only admissible values."""

KINDS: dict[str, str] = {**zoo.NEURONS, "izhikevich": "Izhikevich"}
"""Dropdown entries: short name → display name."""

TIME_STEPS = 100           # one-variable neurons and CUBA: steps shown
ONSET = 10                 # the input switches on at this step
FI_POINTS = 41             # inputs on the f–I curve
IZH_DURATION_MS, IZH_ONSET_MS, IZH_DT = 400.0, 50.0, 0.5


class _Panel:
    """The figure of one neuron kind: trace (left), f–I curve (right); built once."""

    def __init__(self, kind: str, figsize: tuple[float, float], dpi: int) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.kind = kind
        izh = kind == "izhikevich"
        self.figure = Figure(figsize=figsize, dpi=dpi)
        FigureCanvasAgg(self.figure)
        self.figure.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.84, wspace=0.28)
        grid = self.figure.add_gridspec(1, 2, width_ratios=(1.6, 1))
        self.ax = self.figure.add_subplot(grid[0])
        self.ax_fi = self.figure.add_subplot(grid[1])
        n = int(IZH_DURATION_MS / IZH_DT) if izh else TIME_STEPS
        self.t = np.arange(n) * (IZH_DT if izh else 1.0)
        nan = np.full(n, np.nan)
        self.v_line, = self.ax.plot(self.t, nan, color="tab:blue", linewidth=1.4,
                                    label="$V[t]$ (v_seq)")
        self.threshold = self.ax.axhline(30.0 if izh else 1.0, color="tab:red", linestyle=":",
                                         linewidth=1.4, label="$V_{th}$")
        self.spike_marks, = self.ax.plot([], [], linestyle="none", marker="|", markersize=12,
                                         color="black", label="spike")
        self.ax.axvline(IZH_ONSET_MS if izh else ONSET, color="tab:green", linewidth=1.0,
                        linestyle="--", label="input on")
        self.ax.set_xlim(self.t[0], self.t[-1])
        self.ax.set_xlabel("time (ms)" if izh else "time step $t$")
        self.ax.set_ylabel("membrane potential (mV)" if izh else "membrane potential")
        self.ax.legend(loc="lower right", fontsize="x-small", ncol=4 if izh else 2)
        if izh:
            self.ax.set_ylim(-115.0, 40.0)  # room below the trace for the legend
        low, high = SLIDERS[kind][-1].low, SLIDERS[kind][-1].high
        self.fi_x = np.linspace(low, high, FI_POINTS)
        self.fi_line, = self.ax_fi.plot(self.fi_x, np.full(FI_POINTS, np.nan), color="tab:purple",
                                        label="f–I curve")
        self.fi_marker, = self.ax_fi.plot([], [], "o", color="black", label="current input")
        self.ax_fi.set_xlim(low, high)
        self.ax_fi.set_ylim(0.0, 250.0 if izh else 1.05)
        self.ax_fi.set_xlabel("constant input current I" if izh else "constant input $X$")
        self.ax_fi.set_ylabel("rate (spikes/s)" if izh else "rate (spikes per step)")
        self.ax_fi.set_title("firing rate vs input", fontsize="small")
        self.ax_fi.legend(loc="upper left", fontsize="x-small")
        self.ax_fi.grid(alpha=0.3)
        self.renderer = BlittedFigure(
            self.figure, self.ax, (self.v_line, self.threshold, self.spike_marks, self.fi_line,
                                   self.fi_marker, self.ax.title))


def _run_one_variable(kind: str, params: dict[str, float], x: float
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(v, spike mask, f–I rates, V_th) of a one-variable/CUBA neuron."""
    node = zoo.make_neuron(kind, **params)
    run = zoo.simulate(node, [x], TIME_STEPS, onset=ONSET)
    low, high = SLIDERS[kind][-1].low, SLIDERS[kind][-1].high
    rates = zoo.firing_rates(kind, np.linspace(low, high, FI_POINTS), **params)
    return (run.v[:, 0].numpy(), run.spikes[:, 0].numpy() > 0, rates.numpy(),
            float(node.v_threshold))


def _run_izhikevich(params: dict[str, float], current: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(v in mV, spike mask, f–I rates in Hz) of Izhikevich's neuron."""
    regime = (params["a"], params["b"], params["c"], params["d"])
    run = zoo.izhikevich_run(regime, current, IZH_DURATION_MS, IZH_ONSET_MS, IZH_DT)
    currents = np.linspace(SLIDERS["izhikevich"][-1].low, SLIDERS["izhikevich"][-1].high,
                           FI_POINTS)
    node = zoo.izhikevich_node(*regime, dt=IZH_DT)
    x = torch.tensor([zoo.izhikevich_input(i, params["b"], IZH_DT) for i in currents])
    steps = int(IZH_DURATION_MS / IZH_DT)
    sim = zoo.simulate(node, x, steps, v_init=-65.0)
    warmup = steps // 4
    rates = sim.spikes[warmup:].sum(dim=0) / ((steps - warmup) * IZH_DT / 1000.0)
    return run.v_mv, np.isin(run.t_ms, run.spike_times_ms), rates.numpy()


class ZooExplorer(LiveFigure, widgets.VBox):
    r"""Live view of one neuron of the zoo: a dropdown, the neuron's sliders, the picture.

    Attributes for code and tests: ``neuron`` (the ``Dropdown``), ``sliders`` (dict of the
    current neuron's ``FloatSlider``\ s, by parameter name; ``"x"`` is the input),
    ``all_sliders`` (every neuron's), ``image`` (``ipywidgets.Image``), ``spike_count``,
    ``redraw_count`` and ``last_redraw_seconds``.
    """

    def __init__(self, kind: str = "lif", figsize: tuple[float, float] = (9.0, 3.6),
                 dpi: int = 80) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {tuple(KINDS)}, got {kind!r}")
        if not isinstance(figsize, tuple | list) or len(figsize) != 2:
            raise TypeError(f"figsize must be a pair (width, height) in inches, got {figsize!r}")
        self._figsize = (float(figsize[0]), float(figsize[1]))
        self._dpi = check_int("dpi", dpi, minimum=10)
        self._panels: dict[str, _Panel] = {}
        self.spike_count = 0
        self.all_sliders = {
            k: {s.name: widgets.FloatSlider(value=s.value, min=s.low, max=s.high, step=s.step,
                                            description=s.label, continuous_update=True,
                                            readout_format=".2f")
                for s in specs}
            for k, specs in SLIDERS.items()}
        self.neuron = widgets.Dropdown(options=[(label, k) for k, label in KINDS.items()],
                                       value=kind, description="neuron")
        self.controls = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))
        self.image = widgets.Image(format="png")
        super().__init__([self.neuron, self.controls, self.image])
        for sliders in self.all_sliders.values():
            for slider in sliders.values():
                slider.observe(self._on_change, names="value")
        self.neuron.observe(self._on_neuron, names="value")
        self._show_controls()
        self.redraw()

    @property
    def sliders(self) -> dict[str, widgets.FloatSlider]:
        """The sliders of the neuron currently selected."""
        return self.all_sliders[self.neuron.value]

    def _show_controls(self) -> None:
        self.controls.children = tuple(self.sliders.values())

    def _on_neuron(self, change: dict[str, Any]) -> None:
        self._show_controls()
        self.redraw()

    def _on_change(self, change: dict[str, Any]) -> None:
        if change["owner"] in self.sliders.values():
            self.redraw()

    def _panel(self, kind: str) -> _Panel:
        if kind not in self._panels:
            self._panels[kind] = _Panel(kind, self._figsize, self._dpi)
        return self._panels[kind]

    def render_png(self) -> bytes:
        """The current figure as PNG bytes (same state, same bytes)."""
        return self._panel(self.neuron.value).renderer.png()

    def update_figure(self) -> None:
        """Rerun the selected neuron for the current sliders and update its panel."""
        kind = self.neuron.value
        panel = self._panel(kind)
        values = {name: slider.value for name, slider in self.sliders.items()}
        x = values.pop("x")
        if kind == "izhikevich":
            v, fired, rates = _run_izhikevich(values, x)
            v_threshold = 30.0
            marker_rate = float(np.interp(x, panel.fi_x, rates))
            unit = "spikes/s"
        else:
            v, fired, rates, v_threshold = _run_one_variable(kind, values, x)
            panel.ax.set_ylim(*y_limits(v, np.array([v_threshold])))
            marker_rate = float(np.interp(x, panel.fi_x, rates))
            unit = "spikes/step"
        self.spike_count = int(fired.sum())
        panel.v_line.set_ydata(v)
        panel.threshold.set_ydata([v_threshold, v_threshold])
        top = 30.0 if kind == "izhikevich" else v_threshold
        panel.spike_marks.set_data(panel.t[fired], np.full(int(fired.sum()), top))
        panel.fi_line.set_ydata(rates)
        panel.fi_marker.set_data([x], [marker_rate])
        settings = ", ".join(f"{s.label} = {self.sliders[s.name].value:.2f}"
                             for s in SLIDERS[kind])
        panel.ax.set_title(f"{KINDS[kind]}: {settings}\n{self.spike_count} spikes; rate on the "
                           f"f–I curve {marker_rate:.3g} {unit}", fontsize="small")


def zoo_explorer(kind: str = "lif") -> ZooExplorer:
    """A live explorer of the neuron zoo, starting on neuron ``kind`` (a key of :data:`KINDS`).

    Display the returned object as the last expression of a cell; drive it from code with
    ``explorer.neuron.value = "qif"`` or ``explorer.sliders["x"].value = 0.5``.
    """
    return ZooExplorer(kind)
