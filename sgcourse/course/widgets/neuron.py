r"""A live explorer of one leaky integrate-and-fire neuron, and the traces it draws.

:func:`lif_trace` runs a single :class:`sgcourse.neuron.LIFNode` (``step_mode='m'``,
``store_v_seq=True``) over a fixed input current and returns, for every step :math:`t`, the input
:math:`X[t]`, the charged potential :math:`H[t]`, the spike :math:`S[t]` and the post-reset
potential :math:`V[t]` (``v_seq``). :math:`H` is not stored by the neuron; it is recomputed from
``v_seq`` with the charge equation (``decay_input=True``, :math:`V_r` = ``v_reset`` or 0):

.. math::

    H[t] = V[t-1] + \frac{X[t] - (V[t-1] - V_r)}{\tau}, \qquad V[-1] = V_r.

:func:`neuron_explorer` shows these traces and redraws them while sliders for :math:`\tau`,
:math:`V_{th}` and the input amplitude are dragged, or the reset is switched between hard and
soft. It draws like :func:`sgcourse.course.widgets.alpha_explorer`, with the same renderer
(:class:`~sgcourse.course.widgets.render.BlittedFigure`, blitting over a cached background) and
the same coarse y-ranges (:func:`~sgcourse.course.widgets.render.y_limits`): one persistent
matplotlib figure, rendered to PNG bytes on each change and assigned to an
``ipywidgets.Image``. It needs only ipywidgets, adds no cell outputs (strict ``nbval`` passes),
and the same state always gives the same bytes.

``import sgcourse`` does not import this module; matplotlib is imported when an explorer is built.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from sgcourse._checks import POSITIVE, check_int, check_real
from sgcourse.course.widgets.render import BlittedFigure, LiveFigure, y_limits
from sgcourse.neuron import LIFNode

__all__ = ["INPUTS", "RESETS", "NeuronExplorer", "fixed_input", "lif_trace", "neuron_explorer",
           "plot_lif_traces"]

INPUTS: tuple[str, ...] = ("step", "noisy")
"""Input currents of :func:`fixed_input`."""

RESETS: tuple[str, ...] = ("hard", "soft")
"""Reset modes: ``'hard'`` (to ``v_reset = 0``) or ``'soft'`` (subtract :math:`V_{th}`)."""

#: When the step current switches on, in steps.
STEP_ONSET = 10
#: Slider ranges ``(min, max, step)``; every value in them is admissible for a LIF neuron.
SLIDER_RANGES: dict[str, tuple[float, float, float]] = {
    "tau": (1.5, 20.0, 0.5),
    "v_threshold": (0.2, 2.0, 0.05),
    "amplitude": (0.0, 3.0, 0.05),
}
SLIDER_LABELS = {"tau": "τ (tau)", "v_threshold": "V_th", "amplitude": "input X"}


def fixed_input(amplitude: float, time_steps: int = 100, kind: str = "step",
                seed: int = 0) -> torch.Tensor:
    r"""The explorer's input current, ``[T]`` float32.

    ``'step'``: 0 before step :data:`STEP_ONSET`, then ``amplitude``. ``'noisy'``: the same step
    times :math:`1 + 0.5\,\xi_t` with :math:`\xi_t \sim \mathcal N(0, 1)` drawn from ``seed``
    (fixed, so moving a slider never re-draws the noise).
    """
    amplitude = check_real("amplitude", amplitude)
    time_steps = check_int("time_steps", time_steps, 2)
    seed = check_int("seed", seed, 0)
    if kind not in INPUTS:
        raise ValueError(f"kind must be one of {INPUTS}, got {kind!r}")
    current = torch.zeros(time_steps)
    current[STEP_ONSET:] = amplitude
    if kind == "noisy":
        noise = torch.randn(time_steps, generator=torch.Generator().manual_seed(seed))
        current = current * (1.0 + 0.5 * noise)
    return current


def _check_reset(reset: object) -> str:
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
    return str(reset)


def lif_trace(x: torch.Tensor, tau: float = 5.0, v_threshold: float = 1.0,
              reset: str = "hard") -> dict[str, np.ndarray]:
    r"""Run one ``LIFNode(step_mode='m', store_v_seq=True)`` over the input ``x`` ``[T]``.

    Returns float64 NumPy arrays ``"t"``, ``"x"`` (the input), ``"h"`` (:math:`H[t]`, recomputed
    from ``v_seq``, see the module docstring), ``"spike"`` (:math:`S[t]`) and ``"v"``
    (``v_seq``: :math:`V[t]` after the reset). ``reset`` is ``'hard'`` (``v_reset=0``) or
    ``'soft'`` (``v_reset=None``).
    """
    reset = _check_reset(reset)
    if not isinstance(x, torch.Tensor) or x.dim() != 1 or len(x) < 1:
        raise ValueError(f"x must be a 1-D tensor [T], got {x!r}")
    node = LIFNode(tau=tau, v_threshold=v_threshold, v_reset=0.0 if reset == "hard" else None,
                   step_mode="m", store_v_seq=True)
    with torch.no_grad():
        spike = node(x.double().view(-1, 1)).view(-1)
        v = node.v_seq.view(-1)
    v_prev = torch.cat([torch.zeros(1, dtype=v.dtype), v[:-1]])  # V[-1] = V_r = 0 either way
    h = v_prev + (x.double() - v_prev) / node.tau
    return {"t": np.arange(len(x), dtype=np.float64), "x": x.double().numpy(),
            "h": h.numpy(), "spike": spike.numpy(), "v": v.numpy()}


def plot_lif_traces(traces: dict[str, dict[str, np.ndarray]], v_threshold: float = 1.0) -> Any:
    """One panel per trace of :func:`lif_trace` (titled by its key): H, V, threshold, spikes.

    Returns the matplotlib Figure (made with ``pyplot``, so a notebook shows it inline).
    """
    if not isinstance(traces, dict) or not traces:
        raise ValueError("traces must be a non-empty dict {title: lif_trace(...)}")
    v_threshold = check_real("v_threshold", v_threshold)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(traces), 1, figsize=(7.4, 2.3 * len(traces)), sharex=True,
                             squeeze=False)
    for ax, (title, trace) in zip(axes[:, 0], traces.items(), strict=True):
        fired = trace["spike"] > 0
        ax.plot(trace["t"], trace["h"], "--", color="tab:orange", linewidth=1.0,
                label="$H[t]$ charged")
        ax.plot(trace["t"], trace["v"], color="tab:blue", linewidth=1.8,
                label="$V[t]$ = v_seq")
        ax.axhline(v_threshold, color="tab:red", linestyle=":", linewidth=1.5, label="$V_{th}$")
        ax.plot(trace["t"][fired], trace["h"][fired], linestyle="none", marker="|",
                markersize=12, color="black", label="spike")
        ax.set_title(f"{title}: {int(fired.sum())} spikes", fontsize="medium")
        ax.set_ylabel("potential")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    axes[-1, 0].set_xlabel("time step $t$")
    fig.subplots_adjust(left=0.1, right=0.78, hspace=0.45)
    return fig


class NeuronExplorer(LiveFigure, widgets.VBox):
    r"""Live view of one LIF neuron: sliders for τ, :math:`V_{th}`, the input, a reset toggle.

    An ``ipywidgets.VBox``: build it with :func:`neuron_explorer` and display it as the last
    expression of a cell. Attributes for code and tests:

    ``sliders``
        dict of ``ipywidgets.FloatSlider`` (``continuous_update=True``): ``"tau"``,
        ``"v_threshold"`` and ``"amplitude"``.
    ``reset``
        ``ipywidgets.ToggleButtons`` with options ``'hard'`` and ``'soft'``.
    ``image``
        ``ipywidgets.Image`` holding the PNG of the current figure.
    ``trace``
        the arrays last drawn (see :func:`lif_trace`); ``spike_count`` the number of spikes.
    ``redraw_count`` / ``last_redraw_seconds``
        how many times the figure was redrawn, and how long the last redraw took.
    """

    def __init__(self, tau: float = 5.0, v_threshold: float = 1.0, amplitude: float = 1.5,
                 reset: str = "hard", kind: str = "step", time_steps: int = 100, seed: int = 0,
                 figsize: tuple[float, float] = (7.4, 4.2), dpi: int = 90) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        values = {"tau": check_real("tau", tau, POSITIVE),
                  "v_threshold": check_real("v_threshold", v_threshold, POSITIVE),
                  "amplitude": check_real("amplitude", amplitude)}
        for name, value in values.items():
            low, high, _ = SLIDER_RANGES[name]
            if not low <= value <= high:
                raise ValueError(f"{name} must lie in the slider range [{low:g}, {high:g}], "
                                 f"got {value:g}")
        reset = _check_reset(reset)
        if kind not in INPUTS:
            raise ValueError(f"kind must be one of {INPUTS}, got {kind!r}")
        self.kind = kind
        self.time_steps = check_int("time_steps", time_steps, 2)
        self.seed = check_int("seed", seed, 0)
        if not isinstance(figsize, tuple | list) or len(figsize) != 2:
            raise TypeError(f"figsize must be a pair (width, height) in inches, got {figsize!r}")
        size = (check_real("figsize[0]", figsize[0], POSITIVE),
                check_real("figsize[1]", figsize[1], POSITIVE))
        self.dpi = check_int("dpi", dpi, minimum=10)

        # The figure: membrane potentials on top, the input current below (fixed y-range).
        self.figure = Figure(figsize=size, dpi=self.dpi)
        self.figure.subplots_adjust(left=0.09, right=0.8, bottom=0.12, top=0.9, hspace=0.15)
        FigureCanvasAgg(self.figure)
        grid = self.figure.add_gridspec(2, 1, height_ratios=(3, 1))
        self._ax = self.figure.add_subplot(grid[0])
        self._ax_input = self.figure.add_subplot(grid[1], sharex=self._ax)
        t = np.arange(self.time_steps)
        nan = np.full(self.time_steps, np.nan)
        self._h_line, = self._ax.plot(t, nan, color="tab:orange", linewidth=1.0,
                                      linestyle="--", label="$H[t]$ charged")
        self._v_line, = self._ax.plot(t, nan, color="tab:blue", linewidth=1.8,
                                      label="$V[t]$ reset")
        self._threshold_line = self._ax.axhline(1.0, color="tab:red", linestyle=":",
                                                linewidth=1.5, label="$V_{th}$")
        self._spike_marks, = self._ax.plot([], [], linestyle="none", marker="|",
                                           markersize=12, color="black", label="spike")
        self._ax.set_ylabel("membrane potential")
        self._ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        self._ax.tick_params(labelbottom=False)
        self._ax.set_xlim(0, self.time_steps - 1)
        self._input_line, = self._ax_input.step(t, nan, where="mid", color="tab:green")
        high = SLIDER_RANGES["amplitude"][1] * (2.5 if kind == "noisy" else 1.1)
        self._ax_input.set_ylim(-0.1 * high if kind == "step" else -high / 2.5, high)
        self._ax_input.set_ylabel("input $X[t]$")
        self._ax_input.set_xlabel("time step $t$")
        self._renderer = BlittedFigure(
            self.figure, self._ax, (self._h_line, self._v_line, self._threshold_line,
                                    self._spike_marks, self._input_line, self._ax.title))

        self.sliders = {
            name: widgets.FloatSlider(value=values[name], min=SLIDER_RANGES[name][0],
                                      max=SLIDER_RANGES[name][1], step=SLIDER_RANGES[name][2],
                                      description=SLIDER_LABELS[name], continuous_update=True,
                                      readout_format=".2f")
            for name in ("tau", "v_threshold", "amplitude")}
        self.reset = widgets.ToggleButtons(options=list(RESETS), value=reset,
                                           description="reset")
        self.image = widgets.Image(format="png")
        super().__init__([
            widgets.HBox([self.sliders["tau"], self.sliders["v_threshold"]]),
            widgets.HBox([self.sliders["amplitude"], self.reset]),
            self.image,
        ])
        for slider in self.sliders.values():
            slider.observe(self._on_change, names="value")
        self.reset.observe(self._on_change, names="value")
        self.redraw()



    def update_figure(self) -> None:
        """Rerun the neuron for the current controls and update the traces."""
        tau = self.sliders["tau"].value
        v_threshold = self.sliders["v_threshold"].value
        x = fixed_input(self.sliders["amplitude"].value, self.time_steps, self.kind, self.seed)
        trace = lif_trace(x, tau, v_threshold, self.reset.value)
        self.trace = trace
        self.spike_count = int(trace["spike"].sum())
        self._h_line.set_ydata(trace["h"])
        self._v_line.set_ydata(trace["v"])
        self._threshold_line.set_ydata([v_threshold, v_threshold])
        fired = trace["spike"] > 0
        self._spike_marks.set_data(trace["t"][fired], trace["h"][fired])
        self._input_line.set_ydata(trace["x"])
        self._ax.set_ylim(*y_limits(trace["h"], trace["v"], np.array([v_threshold])))
        self._ax.set_title(f"LIF, τ = {tau:.2f}, $V_{{th}}$ = {v_threshold:.2f}, "
                           f"{self.reset.value} reset: {self.spike_count} spikes in "
                           f"{self.time_steps} steps", fontsize="medium")


def neuron_explorer(tau: float = 5.0, v_threshold: float = 1.0, amplitude: float = 1.5,
                    reset: str = "hard", kind: str = "step", time_steps: int = 100,
                    seed: int = 0) -> NeuronExplorer:
    r"""A live explorer of one LIF neuron's :math:`H[t]`, :math:`V[t]` and spikes.

    The neuron is ``LIFNode(tau, v_threshold=..., v_reset=0 or None, step_mode='m',
    store_v_seq=True)``, driven by :func:`fixed_input` (``kind`` ``'step'`` or ``'noisy'``,
    ``seed`` fixing the noise) for ``time_steps`` steps. The arguments are the starting values of
    the controls; the sliders cover τ in [1.5, 20], :math:`V_{th}` in [0.2, 2] and the input
    amplitude in [0, 3]. Display the returned object in a notebook cell; drive it from code with
    ``explorer.sliders["tau"].value = 10.0`` or ``explorer.reset.value = "soft"``.
    """
    return NeuronExplorer(tau, v_threshold, amplitude, reset=reset, kind=kind,
                          time_steps=time_steps, seed=seed)
