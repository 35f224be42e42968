r"""The neuron zoo of lesson 05: build each neuron, drive it with a constant input, measure it.

Every neuron of :mod:`sgcourse.neuron` charges, fires and resets (lesson 03's notation: input
:math:`X[t]`, charged potential :math:`H[t]`, spike :math:`S[t] = \Theta(H[t] - V_{th})`,
potential after the reset :math:`V[t]`); they differ in the charge. This module

- builds them by a short name with the lesson's parameters (:func:`make_neuron`,
  :data:`NEURONS`, :data:`DEFAULTS`);
- runs one neuron per input value over a constant (or step) input and returns the spike trains
  and ``v_seq`` (:func:`simulate`), firing rates (:func:`firing_rates`, the f–I curve) and
  inter-spike intervals (:func:`interspike_intervals`);
- gives the closed forms the lesson checks the simulation against: the IF neuron's rate
  :func:`if_rate` and the LIF neuron's rheobase and period (:func:`lif_rheobase`,
  :func:`lif_period`);
- maps the parameters :math:`(a, b, c, d)` of Izhikevich (2003, IEEE Trans. Neural Networks
  14(6)) to :class:`sgcourse.neuron.IzhikevichNode` (:func:`izhikevich_node`,
  :func:`izhikevich_input`) and runs his firing regimes (:data:`IZHIKEVICH_REGIMES`,
  :func:`izhikevich_run`).

Everything runs in float64 without gradients: these are measurements, not training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sgcourse import neuron
from sgcourse._checks import POSITIVE, check_int, check_real

__all__ = [
    "DEFAULTS",
    "IZHIKEVICH_REGIMES",
    "NEURONS",
    "IzhikevichRun",
    "Simulation",
    "firing_rates",
    "if_rate",
    "interspike_intervals",
    "izhikevich_input",
    "izhikevich_node",
    "izhikevich_run",
    "lif_period",
    "lif_rheobase",
    "make_neuron",
    "plot_fi_curves",
    "plot_izhikevich_runs",
    "plot_traces",
    "simulate",
]

NEURONS: dict[str, str] = {
    "if": "IF",
    "lif": "LIF",
    "plif": "parametric LIF",
    "qif": "QIF",
    "eif": "EIF",
    "cuba": "CUBA-LIF",
}
"""Short name → display name of the one-variable (and CUBA) neurons of the zoo."""

DEFAULTS: dict[str, dict[str, float]] = {
    "if": {"v_threshold": 1.0},
    "lif": {"tau": 5.0, "v_threshold": 1.0},
    "plif": {"init_tau": 5.0, "v_threshold": 1.0},
    "qif": {"tau": 2.0, "v_c": 0.8, "a0": 1.0, "v_threshold": 1.0},
    "eif": {"tau": 2.0, "delta_T": 0.2, "theta_rh": 0.8, "v_threshold": 1.0},
    "cuba": {"c_decay": 0.5, "v_decay": 0.75, "v_threshold": 0.5},
}
"""The lesson's parameters of each neuron (hard reset; the library's defaults otherwise)."""

_CLASSES = {"if": neuron.IFNode, "lif": neuron.LIFNode, "plif": neuron.ParametricLIFNode,
            "qif": neuron.QIFNode, "eif": neuron.EIFNode, "cuba": neuron.CUBALIFNode}


def _check_kind(kind: object) -> str:
    if kind not in NEURONS:
        raise ValueError(f"kind must be one of {tuple(NEURONS)}, got {kind!r}")
    return str(kind)


def make_neuron(kind: str, **params: Any) -> neuron.BaseNode:
    """The neuron ``kind`` (see :data:`NEURONS`) with :data:`DEFAULTS` overridden by ``params``.

    Multi-step mode, ``store_v_seq=True``; other keyword arguments go to the neuron's class
    (which validates them).
    """
    kind = _check_kind(kind)
    arguments = {**DEFAULTS[kind], **params}
    return _CLASSES[kind](step_mode="m", store_v_seq=True, **arguments)


@dataclass(frozen=True)
class Simulation:
    """Spike trains ``spikes`` and post-reset potentials ``v`` (``v_seq``), both ``[T, N]``."""

    spikes: torch.Tensor
    v: torch.Tensor

    @property
    def spike_counts(self) -> torch.Tensor:
        """Spikes per neuron, ``[N]``."""
        return self.spikes.sum(dim=0)


def _as_inputs(x_values: object) -> torch.Tensor:
    x = torch.as_tensor(x_values, dtype=torch.float64)
    if x.dim() == 0:
        x = x.view(1)
    if x.dim() != 1 or len(x) == 0 or not torch.isfinite(x).all():
        raise ValueError(f"x_values must be a non-empty 1-D sequence of finite numbers, got "
                         f"{x_values!r}")
    return x


def simulate(node: neuron.BaseNode, x_values: object, time_steps: int, onset: int = 0,
             v_init: float | None = None) -> Simulation:
    r"""Run ``node`` (multi-step, fresh state) on ``N`` constant inputs at once.

    Neuron ``n`` gets :math:`X[t] = 0` for :math:`t <` ``onset`` and ``x_values[n]`` from then
    on, for ``time_steps`` steps, in float64 without gradients. ``v_init`` sets the starting
    potential (default: the neuron's reset value).
    """
    x = _as_inputs(x_values)
    time_steps = check_int("time_steps", time_steps, 1)
    onset = check_int("onset", onset, 0)
    if onset >= time_steps:
        raise ValueError(f"onset must be smaller than time_steps={time_steps}, got {onset}")
    if node.step_mode != "m" or not node.store_v_seq:
        raise ValueError("node must be in multi-step mode with store_v_seq=True (make_neuron "
                         "builds it so)")
    x_seq = x.view(1, -1).repeat(time_steps, 1)
    x_seq[:onset] = 0.0
    node.reset()
    if v_init is not None:
        node.v = torch.full_like(x, check_real("v_init", v_init))
    with torch.no_grad():
        spikes = node(x_seq)
        v = node.v_seq.clone()
    node.reset()
    return Simulation(spikes, v)


def firing_rates(kind: str, x_values: object, time_steps: int = 400, warmup: int = 100,
                 **params: Any) -> torch.Tensor:
    r"""The f–I curve: spikes per step of neuron ``kind`` for each constant input in ``x_values``.

    Counted over steps ``warmup`` … ``time_steps − 1`` (the first ``warmup`` steps, the
    transient from rest, are left out). ``params`` override :data:`DEFAULTS`.
    """
    time_steps = check_int("time_steps", time_steps, 2)
    warmup = check_int("warmup", warmup, 0)
    if warmup >= time_steps:
        raise ValueError(f"warmup must be smaller than time_steps={time_steps}, got {warmup}")
    run = simulate(make_neuron(kind, **params), x_values, time_steps)
    return run.spikes[warmup:].sum(dim=0) / (time_steps - warmup)


def interspike_intervals(spike_train: torch.Tensor) -> torch.Tensor:
    """The steps between consecutive spikes of one spike train ``[T]`` (empty if < 2 spikes)."""
    if not isinstance(spike_train, torch.Tensor) or spike_train.dim() != 1:
        raise ValueError("spike_train must be a 1-D tensor [T]")
    times = spike_train.nonzero().view(-1)
    return times[1:] - times[:-1]


def if_rate(x: float, v_threshold: float = 1.0) -> float:
    r"""Closed-form firing rate (spikes per step) of an IF neuron, hard reset to 0.

    :math:`H[t] = V[t-1] + X`: from 0, the potential is :math:`kX` after :math:`k` steps, so a
    spike comes every :math:`n = \lceil V_{th}/X \rceil` steps and the rate is :math:`1/n` for
    :math:`X > 0` (0 for :math:`X \le 0`). (In floating point, when :math:`V_{th}/X` is an
    integer the sum :math:`X + \dots + X` may fall one rounding error short of :math:`V_{th}`.)
    """
    x = check_real("x", x)
    v_threshold = check_real("v_threshold", v_threshold, POSITIVE)
    return 0.0 if x <= 0 else 1.0 / math.ceil(v_threshold / x)


def lif_rheobase(tau: float, v_threshold: float = 1.0, decay_input: bool = True) -> float:
    r"""The LIF rheobase: the neuron (hard reset to 0) fires for constant :math:`X` above it.

    From rest, :math:`V` approaches :math:`V_\infty = X` (``decay_input=True``) or
    :math:`\tau X` (``decay_input=False``) without reaching it, so it fires iff
    :math:`V_\infty > V_{th}`: rheobase :math:`V_{th}` or :math:`V_{th}/\tau`.
    """
    tau = check_real("tau", tau, POSITIVE)
    v_threshold = check_real("v_threshold", v_threshold, POSITIVE)
    return v_threshold if decay_input else v_threshold / tau


def lif_period(x: float, tau: float, v_threshold: float = 1.0) -> float:
    r"""Steps between spikes of a LIF neuron (``decay_input=True``, hard reset to 0) at input X.

    :math:`V[k] = X\bigl(1 - (1 - 1/\tau)^k\bigr)` after :math:`k` steps from 0; the first
    :math:`k` with :math:`V[k] \ge V_{th}` is
    :math:`\lceil \ln(1 - V_{th}/X) / \ln(1 - 1/\tau) \rceil`; ``inf`` at or below the rheobase.
    """
    x = check_real("x", x)
    tau = check_real("tau", tau, POSITIVE)
    v_threshold = check_real("v_threshold", v_threshold, POSITIVE)
    if x <= v_threshold:
        return math.inf
    return float(math.ceil(math.log(1 - v_threshold / x) / math.log(1 - 1 / tau) - 1e-9))


# --- Izhikevich -------------------------------------------------------------------------------

IZHIKEVICH_REGIMES: dict[str, tuple[float, float, float, float]] = {
    "regular spiking": (0.02, 0.2, -65.0, 8.0),
    "intrinsically bursting": (0.02, 0.2, -55.0, 4.0),
    "chattering": (0.02, 0.2, -50.0, 2.0),
    "fast spiking": (0.1, 0.2, -65.0, 2.0),
}
"""Izhikevich's (2003) parameters :math:`(a, b, c, d)` of four cortical firing regimes."""

#: Roots of :math:`0.04v^2 + 5v + 140 = 0.04(v - v_{rest})(v - v_c)`, in mV.
_DISCRIMINANT = math.sqrt(125.0**2 - 4 * 3500.0)
IZHIKEVICH_V_REST = (-125.0 - _DISCRIMINANT) / 2   # ≈ -82.66 mV, the stable root
IZHIKEVICH_V_C = (-125.0 + _DISCRIMINANT) / 2      # ≈ -42.34 mV, the unstable root


def izhikevich_node(a: float, b: float, c: float, d: float, dt: float = 0.5,
                    tau: float = 2.0) -> neuron.IzhikevichNode:
    r"""An :class:`~sgcourse.neuron.IzhikevichNode` running Izhikevich's model, steps of ``dt`` ms.

    Izhikevich (2003): :math:`\dot v = 0.04v^2 + 5v + 140 - u + I`,
    :math:`\dot u = a(bv - u)`, and at :math:`v \ge 30` mV: :math:`v \leftarrow c`,
    :math:`u \leftarrow u + d`. Write :math:`0.04v^2 + 5v + 140 = 0.04(v - v_{rest})(v - v_c)`
    and the adaptation as :math:`W = \tau\,dt\,(u - b\,v_{rest})`; one Euler step of ``dt`` is then
    the node's charge with

    .. math::

        a_0 = 0.04\,\tau\,dt, \quad \tau_w = \frac{1}{a\,dt}, \quad a_{node} = \tau\,dt\,b, \quad
        b_{node} = \tau\,dt\,d, \quad V_{th} = 30, \quad V_{reset} = c,

    and the input :math:`X = \tau\,dt\,(I - b\,v_{rest})` (:func:`izhikevich_input`). One
    difference remains: the node updates :math:`W` from the charged :math:`H[t]`, Izhikevich's
    Euler step from :math:`v[t-1]` (a semi-implicit step; the regimes are the same).
    """
    a = check_real("a", a, POSITIVE)
    b, c, d = check_real("b", b), check_real("c", c), check_real("d", d)
    dt = check_real("dt", dt, POSITIVE)
    tau = check_real("tau", tau, POSITIVE)
    return neuron.IzhikevichNode(
        tau=tau, v_c=IZHIKEVICH_V_C, a0=0.04 * tau * dt, v_threshold=30.0, v_reset=c,
        v_rest=IZHIKEVICH_V_REST, w_rest=tau * dt * b * (-65.0 - IZHIKEVICH_V_REST),
        tau_w=1.0 / (a * dt), a=tau * dt * b, b=tau * dt * d, step_mode="m", store_v_seq=True)


def izhikevich_input(current: float, b: float, dt: float = 0.5, tau: float = 2.0) -> float:
    r"""The node's input :math:`X = \tau\,dt\,(I - b\,v_{rest})` for Izhikevich's current I."""
    return tau * dt * (check_real("current", current) - check_real("b", b) * IZHIKEVICH_V_REST)


@dataclass(frozen=True)
class IzhikevichRun:
    """One Izhikevich neuron driven by a current step: times in ms, potential in mV."""

    t_ms: np.ndarray
    v_mv: np.ndarray          # v_seq, with each spike drawn up to 30 mV
    current: np.ndarray       # Izhikevich's I(t)
    spike_times_ms: np.ndarray

    @property
    def isi_ms(self) -> np.ndarray:
        """Inter-spike intervals in ms."""
        return np.diff(self.spike_times_ms)

    def burst_sizes(self, max_isi_ms: float = 10.0) -> list[int]:
        """Spikes per burst, in order: a burst is a run of spikes less than ``max_isi_ms`` apart.

        A lone spike counts as a burst of 1; no spikes give ``[]``.
        """
        max_isi_ms = check_real("max_isi_ms", max_isi_ms, POSITIVE)
        if len(self.spike_times_ms) == 0:
            return []
        breaks = np.flatnonzero(self.isi_ms >= max_isi_ms)    # a burst ends before each break
        edges = np.concatenate(([-1], breaks, [len(self.spike_times_ms) - 1]))
        return np.diff(edges).astype(int).tolist()


def izhikevich_run(regime: str | tuple[float, float, float, float], current: float = 10.0,
                   duration_ms: float = 600.0, onset_ms: float = 50.0, dt: float = 0.5
                   ) -> IzhikevichRun:
    r"""Run one Izhikevich neuron from rest (:math:`v = -65` mV) with a current step.

    ``regime`` is a key of :data:`IZHIKEVICH_REGIMES` or :math:`(a, b, c, d)`; the current is 0
    before ``onset_ms`` and ``current`` after (Izhikevich's units).
    """
    if isinstance(regime, str):
        if regime not in IZHIKEVICH_REGIMES:
            raise ValueError(f"regime must be one of {tuple(IZHIKEVICH_REGIMES)} or (a, b, c, d),"
                             f" got {regime!r}")
        regime = IZHIKEVICH_REGIMES[regime]
    if not isinstance(regime, tuple | list) or len(regime) != 4:
        raise ValueError(f"regime must be a name or (a, b, c, d), got {regime!r}")
    a, b, c, d = regime
    dt = check_real("dt", dt, POSITIVE)
    steps = round(check_real("duration_ms", duration_ms, POSITIVE) / dt)
    onset = round(check_real("onset_ms", onset_ms) / dt)
    if not 0 <= onset < steps:
        raise ValueError(f"onset_ms must lie in [0, duration_ms), got {onset_ms}")
    current_t = np.zeros(steps)
    current_t[onset:] = check_real("current", current)
    x_seq = torch.tensor([izhikevich_input(i, b, dt) for i in current_t],
                         dtype=torch.float64).view(-1, 1)
    node = izhikevich_node(a, b, c, d, dt)
    node.v = torch.full((1,), -65.0, dtype=torch.float64)
    with torch.no_grad():
        spikes = node(x_seq).view(-1).numpy()
        v = node.v_seq.view(-1).numpy().copy()
    fired = spikes > 0
    v[fired] = 30.0   # draw the spike's peak, as in Izhikevich's figures
    t_ms = np.arange(steps) * dt
    return IzhikevichRun(t_ms, v, current_t, t_ms[fired])


# --- figures ----------------------------------------------------------------------------------


def plot_fi_curves(x_values: object, curves: dict[str, torch.Tensor],
                   rheobases: dict[str, float] | None = None) -> Any:
    """f–I curves (rate in spikes per step against the constant input), one line per neuron.

    ``curves`` maps a label to the rates on ``x_values``; ``rheobases`` (same labels, optional)
    are marked with a dotted vertical line in the curve's colour. Returns the Figure (pyplot).
    """
    import matplotlib.pyplot as plt

    x = _as_inputs(x_values).numpy()
    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must be a non-empty dict {label: rates}")
    fig, ax = plt.subplots(figsize=(9.0, 4.2))
    drawn: list[np.ndarray] = []
    for label, rates in curves.items():
        y = torch.as_tensor(rates).numpy()
        same = any(np.array_equal(y, earlier) for earlier in drawn)   # dashed: visible on top
        line, = ax.plot(x, y, linewidth=1.6, linestyle="--" if same else "-",
                        label=f"{label} (same as above)" if same else label)
        drawn.append(y)
        if rheobases and label in rheobases:
            ax.axvline(rheobases[label], color=line.get_color(), linestyle=":", linewidth=1.2)
    if rheobases and any(label in rheobases for label in curves):
        ax.plot([], [], color="gray", linestyle=":", linewidth=1.2,   # one entry for all of them
                label="rheobase (dotted, in the\ncurve's colour)")
    ax.set_xlabel("constant input $X$ (per step)")
    ax.set_ylabel("firing rate (spikes per step)")
    ax.set_title("f–I curves: each neuron is silent below its rheobase (dotted), then fires "
                 "faster with more input", fontsize="medium")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_traces(traces: dict[str, tuple[np.ndarray, np.ndarray]], v_threshold: float,
                title: str, spikes: dict[str, np.ndarray] | None = None) -> Any:
    """Membrane potentials ``V[t]`` against time, one line per label, and the threshold.

    ``V[t]`` is the potential after the reset, so a spike step shows the reset value, not a
    crossing: ``spikes`` (same labels, ``S[t]`` as 0/1 arrays, optional) marks each spike with a
    triangle on the threshold line in the trace's colour.
    """
    import matplotlib.pyplot as plt

    if not isinstance(traces, dict) or not traces:
        raise ValueError("traces must be a non-empty dict {label: (t, v)}")
    v_threshold = check_real("v_threshold", v_threshold)
    fig, ax = plt.subplots(figsize=(9.0, 3.8))
    for label, (t, v) in traces.items():
        line, = ax.plot(t, v, marker=".", markersize=4, linewidth=1.2, label=label)
        if spikes is not None and label in spikes:
            fired = np.asarray(spikes[label]) > 0
            ax.plot(np.asarray(t)[fired], np.full(int(fired.sum()), v_threshold),
                    linestyle="none", marker="v", markersize=7, color=line.get_color(),
                    label=f"{label}: spike $S[t] = 1$")
    ax.axhline(v_threshold, color="tab:red", linestyle=":", label="$V_{th}$")
    ax.set_xlabel("time step $t$")
    ax.set_ylabel("membrane potential $V[t]$ (after the reset)")
    ax.set_title(title, fontsize="medium")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_izhikevich_runs(runs: dict[str, IzhikevichRun]) -> Any:
    """One panel per :class:`IzhikevichRun`: the potential in mV and the current step."""
    import matplotlib.pyplot as plt

    if not isinstance(runs, dict) or not runs:
        raise ValueError("runs must be a non-empty dict {label: IzhikevichRun}")
    fig, axes = plt.subplots(len(runs), 1, figsize=(7.4, 1.9 * len(runs)), sharex=True,
                             squeeze=False)
    for ax, (label, run) in zip(axes[:, 0], runs.items(), strict=True):
        ax.plot(run.t_ms, run.v_mv, color="tab:blue", linewidth=1.0, label="$v$ (mV)")
        ax.plot(run.t_ms, run.current * 3 - 95, color="tab:green", linewidth=1.0,
                label="current $I$, drawn as $3I - 95$\n(0 at −95 mV, 10 at −65 mV)")
        isi = run.isi_ms
        ax.set_title(f"{label}: {len(run.spike_times_ms)} spikes, inter-spike intervals "
                     f"{isi.min():.1f}–{isi.max():.1f} ms", fontsize="small")
        ax.set_ylabel("$v$ (mV)")
        ax.set_ylim(-100, 40)
        ax.legend(loc="center right", fontsize="x-small")
    axes[-1, 0].set_xlabel("time (ms)")
    fig.suptitle("Izhikevich (2003) regimes in IzhikevichNode, current step I = 10 at 50 ms",
                 fontsize="medium")
    fig.tight_layout()
    return fig
