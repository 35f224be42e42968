r"""A live explorer of how far back in time the gradient reaches (lesson 08): the BPTT horizon.

A layer of a few LIF neurons without recurrent connections (``sgcourse.neuron.LIFNode``: hard
reset to :math:`V_{reset} = 0`, :math:`V_{th} = 1`, the sigmoid surrogate of lesson 02) runs
for :math:`T` steps on a fixed, seeded input: neuron :math:`i` gets the constant drive
:math:`d_i` plus uniform noise in :math:`[-\eta, \eta]`, the same for every redraw. With the
notation of lesson 03 (:math:`H[t]` charged, :math:`V[t]` after reset, :math:`S[t]` spikes),

.. math::

    H[t] = \Bigl(1 - \frac{1}{\tau}\Bigr) V[t-1] + \frac{1}{\tau} X[t], \qquad
    S[t] = \Theta\bigl(H[t] - V_{th}\bigr), \qquad V[t] = \bigl(1 - S[t]\bigr) H[t] .

:func:`horizon_explorer` plots, against the input step :math:`t`, the magnitude of

.. math::

    G[t] = \frac{\partial H[T-1]}{\partial X[t]}
         = \frac{1}{\tau} \prod_{j=t}^{T-2} \Bigl(1 - \frac{1}{\tau}\Bigr) r[j], \qquad
    r[j] = \frac{\partial V[j]}{\partial H[j]} =
    \begin{cases} 1 - S[j] - H[j]\, g[j] & \texttt{detach\_reset=False} \\
                  1 - S[j] & \texttt{detach\_reset=True} \end{cases}

(:math:`g[j] = \sigma'(H[j] - V_{th})`), for each neuron, computed by autograd at every redraw.
:math:`H[T-1]` is the charged potential at the last step, the quantity a read-out of the last
step's spike :math:`S[T-1]` differentiates through (lesson 08's task reads out only the last
step), so :math:`|G[t]|` is how much learning signal from the end reaches the input :math:`T-1-t`
steps back *through the membrane*. For a neuron that never fires, with ``detach_reset=True``,
:math:`r[j] = 1` and :math:`G[t] = \frac{1}{\tau}(1 - \frac{1}{\tau})^{T-1-t}`, the closed form
of lesson 03, drawn dashed as the envelope. A spike cuts the product to exactly 0 with
``detach_reset=True`` and scales it by :math:`|H[j] g[j]|` without. With the membrane's past
detached (lesson 08's ``'detached'`` control; in a layer without recurrent weights the membrane
is the only carrier of memory) :math:`G[t] = 0` for every :math:`t < T-1`.

The **horizon** is the number of steps back :math:`k = T-1-t` at which :math:`|G|` first falls to
1 % of its value at the last step, :math:`|G[T-1]| = 1/\tau`; for the envelope
:math:`k^* = \lceil \ln 0.01 / \ln(1 - 1/\tau) \rceil` (7 steps at :math:`\tau = 2`, 35 at
:math:`\tau = 8`).

Drawn like the other explorers (:mod:`sgcourse.course.widgets.render`): a persistent figure,
rendered to PNG bytes into an ``ipywidgets.Image``; the same state gives the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np
import torch

from sgcourse import neuron
from sgcourse._checks import NONNEGATIVE, REAL, check_bool, check_int, check_real
from sgcourse.course.widgets.render import BlittedFigure, LiveFigure

__all__ = [
    "DEFAULT_DRIVES",
    "LEVEL",
    "TAU_RANGE",
    "HorizonExplorer",
    "envelope",
    "envelope_horizon",
    "fixed_input",
    "horizon_explorer",
    "horizons",
    "last_step_gradients",
]

DEFAULT_DRIVES: tuple[float, ...] = (0.5, 1.2, 2.0)
"""Constant drives of the default neurons: never fires, fires sometimes, fires often."""

TAU_RANGE: tuple[float, float, float] = (1.1, 20.0, 0.1)
"""The τ slider's (min, max, step)."""

LEVEL = 0.01
"""The horizon is where the gradient falls to this fraction of its value at the last step."""

_Y_LIMITS = (1e-6, 2.0)
_MAX_NEURONS = 6
_MAX_STEPS = 32


def fixed_input(time_steps: int, drives: Sequence[float] = DEFAULT_DRIVES, noise: float = 0.1,
                seed: int = 0) -> torch.Tensor:
    r"""The input :math:`X[t]_i = d_i + \eta (2 U_{t,i} - 1)`, ``[T, M]`` float64, with
    :math:`U` uniform in :math:`[0, 1)` from a generator seeded with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    uniform = torch.rand(time_steps, len(drives), generator=generator, dtype=torch.float64)
    return torch.tensor(list(drives), dtype=torch.float64) + noise * (2.0 * uniform - 1.0)


def last_step_gradients(x_seq: torch.Tensor, tau: float, detach_reset: bool = False,
                        detach_past: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``(spikes, G)`` for ``x_seq`` ``[T, M]``: the spikes :math:`S[t]` and
    :math:`G[t] = \partial H[T-1] / \partial X[t]` per neuron, both ``[T, M]``, by autograd.

    The neurons are ``LIFNode(tau=tau, detach_reset=detach_reset)`` stepped from
    :math:`V[-1] = 0`; with ``detach_past`` the membrane :math:`V[t-1]` enters each step as a
    constant for autograd (the same forward pass). Neurons are independent, so the gradient of
    :math:`\sum_i H[T-1]_i` is each neuron's own.
    """
    node = neuron.LIFNode(tau=tau, detach_reset=detach_reset)
    x = x_seq.detach().clone().requires_grad_(True)
    v = torch.zeros_like(x[0])
    spikes = []
    for frame in x.unbind(0):
        if detach_past:
            v = v.detach()
        h = node.neuronal_charge(frame, v)
        spike = node.neuronal_fire(h)
        v = node.neuronal_reset(h, spike)
        spikes.append(spike.detach())
    (grad,) = torch.autograd.grad(h.sum(), x)
    return torch.stack(spikes), grad


def envelope(tau: float, time_steps: int) -> torch.Tensor:
    r""":math:`\frac{1}{\tau}(1 - \frac{1}{\tau})^{T-1-t}` for :math:`t = 0, \dots, T-1`: the
    gradient of a neuron that never fires, with ``detach_reset=True``."""
    lag = torch.arange(time_steps - 1, -1, -1, dtype=torch.float64)
    return (1.0 / tau) * (1.0 - 1.0 / tau) ** lag


def envelope_horizon(tau: float, level: float = LEVEL) -> int:
    r"""The smallest :math:`k` with :math:`(1 - 1/\tau)^k \le` ``level``:
    :math:`\lceil \ln(\text{level}) / \ln(1 - 1/\tau) \rceil`."""
    return math.ceil(math.log(level) / math.log(1.0 - 1.0 / tau))


def horizons(grad: torch.Tensor, level: float = LEVEL) -> list[int | None]:
    r"""Per neuron (column of ``grad`` ``[T, M]``), the smallest :math:`k \ge 1` with
    :math:`|G[T-1-k]| \le` ``level`` :math:`\cdot |G[T-1]|`; ``None`` if no :math:`k < T` does."""
    magnitude = grad.abs()
    result: list[int | None] = []
    for column in magnitude.unbind(1):
        below = (column.flip(0)[1:] <= level * column[-1]).nonzero()
        result.append(int(below[0]) + 1 if below.numel() else None)
    return result


class HorizonExplorer(LiveFigure, widgets.VBox):
    r"""Live view of :math:`|\partial H[T-1]/\partial X[t]|` for a few LIF neurons (module
    docstring): a slider for :math:`\tau`, checkboxes for ``detach_reset`` and for detaching the
    membrane's past, a label with the horizons and the figure. Build it with
    :func:`horizon_explorer`.

    Attributes: ``slider`` (``FloatSlider`` for :math:`\tau`), ``detach_reset_box`` and
    ``detach_past_box`` (``Checkbox``), ``image`` (``ipywidgets.Image``), ``horizon_label``
    (``ipywidgets.Label``), ``x_seq`` (the fixed input ``[T, M]``), ``drives``, ``spikes`` and
    ``gradients`` (of the last redraw, ``[T, M]``), ``redraw_count`` and
    ``last_redraw_seconds``.
    """

    def __init__(self, tau: float = 2.0, time_steps: int = 16, detach_reset: bool = False,
                 detach_past: bool = False, drives: Sequence[float] = DEFAULT_DRIVES,
                 noise: float = 0.1, seed: int = 0,
                 figsize: tuple[float, float] = (7.6, 4.6), dpi: int = 90) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D

        low, high, step = TAU_RANGE
        tau = check_real("tau", tau, REAL)
        if not low <= tau <= high:
            raise ValueError(f"tau must lie in [{low}, {high}] (the slider's range), got {tau}")
        self.time_steps = check_int("time_steps", time_steps, 2, _MAX_STEPS)
        detach_reset = check_bool("detach_reset", detach_reset)
        detach_past = check_bool("detach_past", detach_past)
        if isinstance(drives, str | bytes) or not isinstance(drives, Sequence):
            raise TypeError(f"drives must be a sequence of numbers, got {type(drives).__name__}")
        if not 1 <= len(drives) <= _MAX_NEURONS:
            raise ValueError(f"drives must hold 1 to {_MAX_NEURONS} numbers, got {len(drives)}")
        self.drives = tuple(check_real(f"drives[{i}]", d, REAL) for i, d in enumerate(drives))
        self.noise = check_real("noise", noise, NONNEGATIVE)
        self.seed = check_int("seed", seed, 0)
        self.x_seq = fixed_input(self.time_steps, self.drives, self.noise, self.seed)
        steps = np.arange(self.time_steps)

        self.figure = Figure(figsize=figsize, dpi=dpi)
        self.figure.subplots_adjust(left=0.1, right=0.68, bottom=0.12, top=0.9, hspace=0.08)
        FigureCanvasAgg(self.figure)
        grid = self.figure.add_gridspec(2, 1, height_ratios=(1, 3.2))
        self._raster = self.figure.add_subplot(grid[0])
        self._ax = self.figure.add_subplot(grid[1], sharex=self._raster)
        colors = [f"C{i}" for i in range(len(self.drives))]
        names = [f"input {d:g}" for d in self.drives]
        self._lines = [self._ax.plot(steps, np.full(self.time_steps, np.nan), marker="o",
                                     markersize=3.5, color=color, label=name)[0]
                       for color, name in zip(colors, names, strict=True)]
        self._zeros = [self._ax.plot([], [], linestyle="none", marker="v", markersize=4,
                                     color=color)[0] for color in colors]
        self._spike_marks = [self._raster.plot([], [], linestyle="none", marker="|",
                                               markersize=9, markeredgewidth=2, color=color)[0]
                             for color in colors]
        envelope_label = r"envelope $\frac{1}{\tau}(1-\frac{1}{\tau})^{T-1-t}$"
        self._envelope, = self._ax.plot(steps, np.full(self.time_steps, np.nan), "k--",
                                        linewidth=1.2, label=envelope_label)
        self._level, = self._ax.plot([-0.5, self.time_steps - 0.5], [np.nan, np.nan],
                                     color="grey", linestyle=":",
                                     label=r"1 % of the value at the last step ($0.01/\tau$)")
        self._ax.set_yscale("log")
        self._ax.set_ylim(*_Y_LIMITS)
        self._ax.set_xlim(-0.5, self.time_steps - 0.5)
        self._ax.set_xlabel(f"input step $t$ (the gradient is taken at the last step, "
                            f"$T-1 = {self.time_steps - 1}$)")
        self._ax.set_ylabel(r"$|\partial H[T-1] / \partial X[t]|$")
        self._ax.grid(True, alpha=0.3)
        handles = [*self._lines, self._envelope, self._level,
                   Line2D([], [], linestyle="none", marker="v", color="grey",
                          label="exactly 0 (drawn at the bottom)"),
                   Line2D([], [], linestyle="none", marker="|", markersize=9,
                          markeredgewidth=2, color="grey", label="spike $S[t] = 1$ (top)")]
        self._ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.3),
                        fontsize="small")
        self._raster.set_ylim(len(self.drives) - 0.5, -0.5)
        self._raster.set_yticks(range(len(self.drives)), [f"{d:g}" for d in self.drives],
                                fontsize="small")
        self._raster.set_ylabel("input", fontsize="small")
        self._raster.tick_params(labelbottom=False)
        self._raster.grid(True, axis="x", alpha=0.3)
        self._title = self.figure.text(0.02, 0.96, " ", fontsize="medium")
        self._renderer = BlittedFigure(
            self.figure, self._ax, (*self._lines, *self._zeros, *self._spike_marks,
                                    self._envelope, self._level, self._title))

        self.slider = widgets.FloatSlider(value=tau, min=low, max=high, step=step,
                                          description="τ (time constant)", readout_format=".1f",
                                          continuous_update=True,
                                          style={"description_width": "initial"})
        self.detach_reset_box = widgets.Checkbox(value=detach_reset, description="detach_reset",
                                                 indent=False)
        self.detach_past_box = widgets.Checkbox(
            value=detach_past, description="detach the membrane's past ('detached')",
            indent=False)
        self.horizon_label = widgets.Label()
        self.image = widgets.Image(format="png")
        super().__init__([widgets.HBox([self.slider, self.detach_reset_box,
                                        self.detach_past_box]),
                          self.horizon_label, self.image])
        for control in (self.slider, self.detach_reset_box, self.detach_past_box):
            control.observe(self._on_change, names="value")
        self.redraw()

    @property
    def tau(self) -> float:
        """The current membrane time constant."""
        return float(self.slider.value)

    def compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        r"""``(spikes, G)`` for the current controls (:func:`last_step_gradients`)."""
        return last_step_gradients(self.x_seq, self.tau, self.detach_reset_box.value,
                                   self.detach_past_box.value)

    def update_figure(self) -> None:
        """Recompute the gradients for the current controls; update the curves and labels."""
        tau, low = self.tau, _Y_LIMITS[0]
        self.spikes, self.gradients = self.compute()
        magnitude = self.gradients.abs().numpy()
        for index, (line, zeros, marks) in enumerate(
                zip(self._lines, self._zeros, self._spike_marks, strict=True)):
            column = magnitude[:, index]
            line.set_ydata(np.where(column > 0, column, np.nan))
            zero_steps = np.flatnonzero(column == 0)
            zeros.set_data(zero_steps, np.full(len(zero_steps), low * 1.5 * 1.8 ** index))
            fired = np.flatnonzero(self.spikes[:, index].numpy() > 0)
            marks.set_data(fired, np.full(len(fired), index))
        self._envelope.set_ydata(envelope(tau, self.time_steps).numpy())
        self._level.set_ydata([LEVEL / tau, LEVEL / tau])
        window = self.time_steps - 1
        k_star = envelope_horizon(tau)
        beyond = "" if k_star <= window else f" (beyond the {window}-step window)"
        if self.detach_past_box.value:
            title = (f"τ = {tau:.1f}, past detached: 0 for every input before the last step "
                     f"(the envelope reaches 1 % at {k_star})")
        else:
            title = f"τ = {tau:.1f}: the envelope falls to 1 % after {k_star} steps back{beyond}"
        self._title.set_text(title)
        found = ", ".join(f"{d:g}: {k if k is not None else f'> {window}'}"
                          for d, k in zip(self.drives, horizons(self.gradients), strict=True))
        self.horizon_label.value = (f"Steps back until |∂H[T−1]/∂X[t]| ≤ 1 % of its value at "
                                    f"the last step, per drive: {found}; envelope: {k_star}")


def horizon_explorer(tau: float = 2.0, time_steps: int = 16, detach_reset: bool = False,
                     detach_past: bool = False, drives: Sequence[float] = DEFAULT_DRIVES,
                     noise: float = 0.1, seed: int = 0) -> HorizonExplorer:
    r"""A live plot of :math:`|\partial H[T-1]/\partial X[t]|` against :math:`t` for LIF neurons
    with the given constant ``drives`` (plus seeded uniform noise of amplitude ``noise``),
    starting at ``tau``; see the module docstring.

    Display the returned object as the last expression of a cell; drive it from code with
    ``explorer.slider.value = 8.0`` or ``explorer.detach_reset_box.value = True``.
    """
    return HorizonExplorer(tau, time_steps, detach_reset, detach_past, drives, noise, seed)
