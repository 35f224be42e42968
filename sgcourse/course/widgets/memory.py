r"""A live explorer of the memory BPTT keeps for backward (lesson 09): bytes against :math:`T`.

A multi-step LIF layer on an input ``[T, N, M]`` (time steps, batch, neurons) keeps, between the
forward and the backward pass, :math:`k` tensors of shape ``[N, M]`` per time step
(:mod:`sgcourse.course.profiling`):

.. math::

    \mathrm{Saved}(T) = k \cdot T \cdot N \cdot M \cdot b ,

with :math:`b` bytes per saved element. :func:`memory_explorer` draws :math:`\mathrm{Saved}(T)`
in MiB for the ``'torch'`` and ``'fused'`` backends against :math:`T = 1 \dots 1024` (both axes
logarithmic, so each line is straight with slope 1 and its height is set by
:math:`k \cdot N \cdot M \cdot b`), with a dotted memory budget (1 GiB by default). Controls:
the batch :math:`N` (1 … 256) and the number of neurons :math:`M` (16 … 4096), both powers of
two, and the reset (hard, hard with ``detach_reset=True``, soft). The title reports the saved MiB
at :math:`T = 128` and, per backend, the largest :math:`T` whose saved bytes fit the budget,
:math:`\lfloor \text{budget} / (k N M b) \rfloor`.

:math:`k` and :math:`b` are **measured**, not assumed: for each reset option (when it is first
shown) :func:`measure_slope` runs :func:`sgcourse.course.profiling.lif_saved_bytes` once per
backend on a tiny input and divides the counted bytes by :math:`T N M`; :math:`b` is the element
size of the saved tensors (float32 input: 4 bytes). The curves are then the exact integers
:math:`k T N M b` (the lesson shows the count is exactly linear), so a redraw allocates no large
tensor. The y-range is fixed and covers every slider setting, so the renderer's cached background
(:class:`~sgcourse.course.widgets.render.BlittedFigure`) is drawn once; the same state gives the
same PNG bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import numpy as np

from sgcourse._checks import POSITIVE, check_int, check_real
from sgcourse.course import profiling
from sgcourse.course.widgets.render import BlittedFigure, LiveFigure

__all__ = [
    "BACKENDS",
    "BATCH_OPTIONS",
    "NEURON_OPTIONS",
    "RESETS",
    "MemoryExplorer",
    "Slope",
    "measure_slope",
    "memory_explorer",
]

BACKENDS: tuple[str, ...] = ("torch", "fused")
"""The backends drawn (both run on CPU; ``'triton'`` saves what ``'fused'`` saves, on CUDA)."""

RESETS: dict[str, dict[str, Any]] = {
    "hard": {"v_reset": 0.0, "detach_reset": False},
    "hard, detach_reset": {"v_reset": 0.0, "detach_reset": True},
    "soft": {"v_reset": None, "detach_reset": False},
}
"""The reset options of the dropdown and the ``LIFNode`` arguments each stands for."""

BATCH_OPTIONS: tuple[int, ...] = tuple(2**i for i in range(9))          # 1 … 256
NEURON_OPTIONS: tuple[int, ...] = tuple(2**i for i in range(4, 13))     # 16 … 4096
T_MAX = 1024
T_REPORT = 128
_PROBE = (4, 2, 3)  # (T, N, M) of the measurement of k: tiny, and T N M not a power of two
_Y_LIMITS_MIB = (2.0**-15, 2.0**15)  # below 1·1·1·16·4 B = 2**-14 MiB, above 3·1024·256·4096·4 B
_Y_TICKS = {2.0**-10: "1 KiB", 2.0**-5: "32 KiB", 1.0: "1 MiB", 2.0**5: "32 MiB",
            2.0**10: "1 GiB", 2.0**15: "32 GiB"}
_COLORS = {"torch": "tab:blue", "fused": "tab:orange"}
_STYLES = {"torch": "-", "fused": "--"}  # dashed on top: equal lines stay visible


@dataclass(frozen=True)
class Slope:
    """What one backend saves per time step, per sample and per neuron (measured).

    Attributes:
        k: saved tensors of shape ``[N, M]`` per time step.
        element_size: bytes per saved element :math:`b` (of the saved tensors' dtype).
    """

    k: int
    element_size: int

    @property
    def bytes_per_element_step(self) -> int:
        r""":math:`k \cdot b`: bytes saved per time step, sample and neuron."""
        return self.k * self.element_size


def measure_slope(backend: str, reset: str) -> Slope:
    r"""Measure :math:`k` and :math:`b` of ``backend`` for ``reset`` (a key of :data:`RESETS`).

    Runs :func:`sgcourse.course.profiling.lif_saved_bytes` on a float32 input of the tiny shape
    ``[4, 2, 3]`` and returns ``bytes // (T N M b)`` with :math:`b` the element size of the saved
    tensors; a count that is not a whole number of ``[N, M]`` tensors per step raises
    :class:`RuntimeError` (the closed form would not hold).
    """
    reset = _check_reset(reset)
    time_steps, batch, neurons = _PROBE
    saved = profiling.lif_saved_bytes(backend, time_steps, batch, neurons, **RESETS[reset])
    sizes = {dtype.itemsize for dtype in saved.dtypes}
    if len(sizes) != 1:
        raise RuntimeError(f"backend {backend!r} ({reset} reset) saved tensors of several element "
                           f"sizes {sorted(sizes)}: the bytes are not k·T·N·M·b")
    element_size = sizes.pop()
    per_step = time_steps * batch * neurons * element_size
    k, remainder = divmod(saved.nbytes, per_step)
    if remainder or k < 1:
        raise RuntimeError(f"backend {backend!r} ({reset} reset) saved {saved.nbytes} bytes for "
                           f"T N M = {time_steps}·{batch}·{neurons}: not a whole number of "
                           f"[N, M] tensors per step")
    return Slope(k, element_size)


def _check_reset(reset: object) -> str:
    if not isinstance(reset, str):
        raise TypeError(f"reset must be one of {list(RESETS)}, got {type(reset).__name__} "
                        f"{reset!r}")
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {list(RESETS)}, got {reset!r}")
    return reset


def _check_option(name: str, value: object, options: tuple[int, ...]) -> int:
    value = check_int(name, value, options[0], options[-1])
    if value not in options:
        raise ValueError(f"{name} must be a power of two in [{options[0]}, {options[-1]}] (the "
                         f"slider's values), got {value}")
    return value


def _format_mib(nbytes: int) -> str:
    mib = nbytes / 2**20
    return f"{mib:.3g} MiB" if mib < 1 else f"{mib:,.2f} MiB"


class MemoryExplorer(LiveFigure, widgets.VBox):
    r"""Saved-for-backward MiB against :math:`T` for ``'torch'`` and ``'fused'``, live.

    Build it with :func:`memory_explorer`. Attributes: ``batch_slider`` and ``neuron_slider``
    (``SelectionSlider`` over powers of two), ``reset_dropdown`` (``Dropdown`` over
    :data:`RESETS`), ``image`` (``ipywidgets.Image``), ``budget_bytes``, ``time_steps`` (the
    plotted :math:`T`, 1 … 1024), ``redraw_count`` and ``last_redraw_seconds``.
    """

    def __init__(self, batch: int = 32, neurons: int = 256, reset: str = "hard",
                 budget_gib: float = 1.0, figsize: tuple[float, float] = (7.4, 3.9),
                 dpi: int = 90) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import NullLocator

        batch = _check_option("batch", batch, BATCH_OPTIONS)
        neurons = _check_option("neurons", neurons, NEURON_OPTIONS)
        reset = _check_reset(reset)
        budget_gib = check_real("budget_gib", budget_gib, POSITIVE)
        self.budget_gib = budget_gib
        self.budget_bytes = math.floor(budget_gib * 2**30)
        self.time_steps = np.arange(1, T_MAX + 1, dtype=np.int64)
        self._slopes: dict[str, dict[str, Slope]] = {}

        self.figure = Figure(figsize=figsize, dpi=dpi)
        self.figure.subplots_adjust(left=0.11, right=0.72, bottom=0.14, top=0.84)
        FigureCanvasAgg(self.figure)
        ax = self._ax = self.figure.add_subplot()
        nan = np.full(self.time_steps.shape, np.nan)
        self._lines = {backend: ax.plot(self.time_steps, nan, color=_COLORS[backend],
                                        linestyle=_STYLES[backend], linewidth=2,
                                        label=f"backend='{backend}'")[0]
                       for backend in BACKENDS}
        self._limits = {backend: ax.plot([], [], linestyle="none", marker="o", markersize=6,
                                         color=_COLORS[backend])[0]
                        for backend in BACKENDS}
        ax.axhline(self.budget_bytes / 2**20, color="black", linestyle=":",
                   label=f"budget {budget_gib:g} GiB")
        ax.plot([], [], linestyle="none", marker="o", markersize=6, color="grey",
                label="largest $T$ within the budget\n"
                      "(not drawn beyond $T$ = 1024:\nsee the title)")
        ax.axvline(T_REPORT, color="grey", linestyle="--", linewidth=0.8,
                   label=f"$T = {T_REPORT}$")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_xlim(1, T_MAX)
        ax.set_ylim(*_Y_LIMITS_MIB)
        ax.set_xticks([1, 4, 16, 64, 256, 1024], ["1", "4", "16", "64", "256", "1024"])
        ax.set_yticks(list(_Y_TICKS), list(_Y_TICKS.values()))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("time steps $T$")
        ax.set_ylabel("saved for backward")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        ax.set_title(" ")
        self._renderer = BlittedFigure(
            self.figure, ax, (*self._lines.values(), *self._limits.values(), ax.title))

        slider_style = {"description_width": "initial"}
        self.batch_slider = widgets.SelectionSlider(
            options=list(BATCH_OPTIONS), value=batch, description="batch N",
            continuous_update=True, style=slider_style)
        self.neuron_slider = widgets.SelectionSlider(
            options=list(NEURON_OPTIONS), value=neurons, description="neurons M",
            continuous_update=True, style=slider_style)
        self.reset_dropdown = widgets.Dropdown(options=list(RESETS), value=reset,
                                               description="reset", style=slider_style)
        self.image = widgets.Image(format="png")
        super().__init__([widgets.HBox([self.batch_slider, self.neuron_slider,
                                        self.reset_dropdown]), self.image])
        for control in (self.batch_slider, self.neuron_slider, self.reset_dropdown):
            control.observe(self._on_change, names="value")
        self.redraw()

    @property
    def batch(self) -> int:
        """The current batch :math:`N`."""
        return int(self.batch_slider.value)

    @property
    def neurons(self) -> int:
        """The current number of neurons :math:`M`."""
        return int(self.neuron_slider.value)

    @property
    def reset(self) -> str:
        """The current reset option (a key of :data:`RESETS`)."""
        return str(self.reset_dropdown.value)

    def slopes(self) -> dict[str, Slope]:
        """The measured :class:`Slope` per backend for the current reset (measured once per
        reset option, then cached)."""
        reset = self.reset
        if reset not in self._slopes:
            self._slopes[reset] = {backend: measure_slope(backend, reset) for backend in BACKENDS}
        return self._slopes[reset]

    def saved_bytes(self, backend: str, time_steps: int) -> int:
        r""":math:`k T N M b` for ``backend`` at the current settings (an exact integer)."""
        slope = self.slopes()[backend]
        return slope.bytes_per_element_step * int(time_steps) * self.batch * self.neurons

    def largest_fitting_t(self, backend: str) -> int:
        r"""The largest :math:`T` with :math:`k T N M b` within the budget (0 if none)."""
        per_step = self.slopes()[backend].bytes_per_element_step * self.batch * self.neurons
        return self.budget_bytes // per_step

    def curves(self) -> dict[str, np.ndarray]:
        r"""Saved bytes at :math:`T = 1 \dots 1024`, per backend (int64 arrays)."""
        return {backend: self.saved_bytes(backend, 1) * self.time_steps for backend in BACKENDS}

    def update_figure(self) -> None:
        """Redraw the lines, the budget crossings and the title for the current controls."""
        for backend, saved in self.curves().items():
            self._lines[backend].set_ydata(saved / 2**20)
            self._limits[backend].set_data([self.largest_fitting_t(backend)],
                                           [self.budget_bytes / 2**20])
        at_t = ", ".join(f"'{b}' {_format_mib(self.saved_bytes(b, T_REPORT))}" for b in BACKENDS)
        fits = ", ".join(f"'{b}' {self.largest_fitting_t(b):,}" for b in BACKENDS)
        self._ax.set_title(
            f"LIF layer, batch {self.batch}, {self.neurons} neurons, reset: {self.reset}\n"
            f"saved at $T = {T_REPORT}$: {at_t}\n"
            f"largest $T$ within {self.budget_gib:g} GiB: {fits}", fontsize="small")


def memory_explorer(batch: int = 32, neurons: int = 256, reset: str = "hard",
                    budget_gib: float = 1.0) -> MemoryExplorer:
    r"""A live plot of the bytes a LIF layer saves for backward against :math:`T` (module
    docstring), starting at batch ``batch``, ``neurons`` neurons (powers of two, 1 … 256 and
    16 … 4096), the reset ``reset`` (a key of :data:`RESETS`) and a budget of ``budget_gib`` GiB.

    Display the returned object as the last expression of a cell; drive it from code with
    ``explorer.batch_slider.value = 256`` or ``explorer.reset_dropdown.value = "soft"``.
    """
    return MemoryExplorer(batch, neurons, reset, budget_gib)
