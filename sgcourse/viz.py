r"""Plots for the lessons: a surrogate against the Heaviside step, a gallery, gradient products.

A surrogate replaces the derivative of the Heaviside step :math:`\Theta` by the derivative
:math:`\sigma'` of a smooth step-like :math:`\sigma`. :func:`plot_surrogate` draws the three curves
:math:`\Theta(x)`, :math:`\sigma(x)` and :math:`\sigma'(x)` side by side (the figure of the seed
document, there for ``Sigmoid(alpha=5)``); :func:`plot_gallery` draws every registered surrogate
at its defaults; :func:`plot_gradient_products` shows why the default peak
:math:`\max_x \sigma'(x) = 1` matters: across :math:`L` layers (or :math:`T` time steps) the
backward pass multiplies :math:`L` factors :math:`\sigma'(u_l)`, so at threshold the gradient scales
like :math:`\sigma'(0)^L`.

The pure helpers :func:`surrogate_curves`, :func:`peak_derivative` and :func:`chain_gradient` return
numbers, not figures, so that notebooks and tests can assert on them.

``matplotlib`` is imported inside the plotting functions, so ``import sgcourse.viz`` stays light.
The plotting functions return the :class:`~matplotlib.figure.Figure` and never call ``plt.show()``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from sgcourse import surrogate as _surrogate
from sgcourse._checks import POSITIVE, check_int, check_real

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

__all__ = [
    "GALLERY_XLABEL",
    "GALLERY_YLABEL",
    "chain_gradient",
    "check_x_range",
    "describe",
    "draw_surrogate",
    "gradient_products",
    "peak_derivative",
    "plot_gallery",
    "plot_gradient_products",
    "plot_raster",
    "plot_surrogate",
    "resolve_surrogate",
    "spike_coordinates",
    "surrogate_curves",
]

#: Colours of the three curves (matplotlib's default cycle, fixed so every plot agrees).
HEAVISIDE_STYLE = {"color": "tab:gray", "linestyle": "--", "linewidth": 1.5}
PRIMITIVE_STYLE = {"color": "tab:blue", "linewidth": 2.0}
DERIVATIVE_STYLE = {"color": "tab:orange", "linewidth": 2.0}


def resolve_surrogate(sg: object, name: str = "sg") -> _surrogate.Surrogate:
    """Return a surrogate module: ``sg`` itself, or ``surrogate.get(sg)`` for a name.

    Raises :class:`TypeError` naming ``name`` for anything else; an unknown name raises the
    registry's :class:`ValueError` listing the available surrogates.
    """
    if isinstance(sg, _surrogate.Surrogate):
        return sg
    if isinstance(sg, str):
        return _surrogate.get(sg)
    raise TypeError(f"{name} must be a surrogate module (e.g. surrogate.Sigmoid()) or a surrogate "
                    f"name (str), got {type(sg).__name__}")


def describe(sg: _surrogate.Surrogate) -> str:
    """``ClassName(h1=v1, h2=v2)``: the surrogate and its current hyper-parameters."""
    values = ", ".join(f"{name}={_format_number(getattr(sg, name))}" for name in sg.spec.names)
    return f"{sg.spec.class_name}({values})"


def _format_number(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def check_x_range(x_range: object) -> tuple[float, float]:
    """Return ``x_range`` as ``(x_min, x_max)`` floats with ``x_min < x_max``, or raise."""
    if not isinstance(x_range, Sequence) or isinstance(x_range, str) or len(x_range) != 2:
        raise TypeError(f"x_range must be a pair (x_min, x_max), got {x_range!r}")
    low = check_real("x_range[0]", x_range[0])
    high = check_real("x_range[1]", x_range[1])
    if not low < high:
        raise ValueError(f"x_range must satisfy x_min < x_max, got ({low}, {high})")
    return low, high


def surrogate_curves(sg: object, x_range: Sequence[float] = (-3.0, 3.0),
                     num: int = 601) -> dict[str, np.ndarray]:
    r"""Sample :math:`\Theta(x)`, :math:`\sigma(x)` and :math:`\sigma'(x)` on ``num`` points.

    Returns a dict of float64 NumPy arrays with keys ``"x"``, ``"heaviside"``, ``"primitive"``
    and ``"derivative"``. ``sg`` is a surrogate module or a name (then the defaults are used).
    """
    sg = resolve_surrogate(sg)
    low, high = check_x_range(x_range)
    num = check_int("num", num, minimum=2)
    x = torch.linspace(low, high, num, dtype=torch.float64)
    with torch.no_grad():
        return {
            "x": x.numpy(),
            "heaviside": _surrogate.heaviside(x).numpy(),
            "primitive": sg.primitive(x).numpy(),
            "derivative": sg.derivative(x).numpy(),
        }


def peak_derivative(sg: object, x_range: Sequence[float] = (-3.0, 3.0),
                    num: int = 6001) -> float:
    r"""The largest :math:`\sigma'(x)` on ``num`` grid points in ``x_range``, plus the threshold.

    The point :math:`x = 0` (the threshold, where every bump-shaped surrogate peaks) is always
    included when it lies in ``x_range``, so the peak of those surrogates is exact.
    """
    sg = resolve_surrogate(sg)
    low, high = check_x_range(x_range)
    num = check_int("num", num, minimum=2)
    x = torch.linspace(low, high, num, dtype=torch.float64)
    if low <= 0.0 <= high:
        x = torch.cat([x, torch.zeros(1, dtype=torch.float64)])
    with torch.no_grad():
        return float(sg.derivative(x).max())


def chain_gradient(sg: object, depth: int, x: float = 0.0) -> float:
    r"""The gradient through ``depth`` spiking units in a chain, each with membrane at ``x``.

    Unit :math:`l` fires :math:`s_l = \Theta(u_l)` with :math:`u_{l+1} = x + (s_l - \bar s_l)`,
    where :math:`\bar s_l` is :math:`s_l` detached: the forward value of every membrane is exactly
    ``x`` while the backward pass sees :math:`\partial u_{l+1}/\partial s_l = 1`. Autograd then
    returns

    .. math::

        \frac{\partial s_L}{\partial u_1} = \prod_{l=1}^{L} \sigma'(u_l) = \sigma'(x)^L,

    the factor that a surrogate contributes to a gradient over :math:`L` layers or time steps
    (the weights aside). At the threshold ``x = 0`` this is the peak of σ′ to the power ``depth``.
    """
    sg = resolve_surrogate(sg)
    depth = check_int("depth", depth, minimum=1)
    x = check_real("x", x)
    if not sg.spiking:
        raise ValueError("sg must be in spiking mode (sg.spiking=True) to chain Θ forward passes")
    start = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    membrane = start
    for _ in range(depth):
        spike = sg(membrane)
        membrane = x + (spike - spike.detach())
    (grad,) = torch.autograd.grad(spike, start)
    return float(grad)


def gradient_products(peaks: Sequence[float], max_depth: int) -> np.ndarray:
    r"""Table of :math:`p^L` for each peak :math:`p` (rows) and :math:`L = 1, \dots,` ``max_depth``.

    The closed form of :func:`chain_gradient` at threshold: shape ``(len(peaks), max_depth)``.
    """
    if isinstance(peaks, str) or not isinstance(peaks, Sequence) or len(peaks) == 0:
        raise TypeError(f"peaks must be a non-empty sequence of positive numbers, got {peaks!r}")
    values = [check_real(f"peaks[{i}]", p, POSITIVE) for i, p in enumerate(peaks)]
    max_depth = check_int("max_depth", max_depth, minimum=1)
    depths = np.arange(1, max_depth + 1, dtype=np.float64)
    return np.asarray(values, dtype=np.float64)[:, None] ** depths[None, :]


def _check_ax(ax: object) -> Axes | None:
    if ax is None:
        return None
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax


def draw_surrogate(ax: Axes, sg: _surrogate.Surrogate, x_range: Sequence[float] = (-3.0, 3.0),
                   num: int = 601, heaviside: bool = True,
                   legend: bool = True) -> dict[str, Line2D]:
    """Draw Θ (optional), σ and σ′ of ``sg`` into ``ax``; return the Line2D objects by key.

    The keys are ``"heaviside"`` (if drawn), ``"primitive"`` and ``"derivative"``. Used by
    :func:`plot_surrogate`, :func:`plot_gallery` and the live explorer of
    :mod:`sgcourse.course.widgets`, which updates the lines in place.
    """
    curves = surrogate_curves(sg, x_range, num)
    x = curves["x"]
    lines = {}
    if heaviside:
        (lines["heaviside"],) = ax.plot(x, curves["heaviside"], label=r"$\Theta(x)$",
                                        **HEAVISIDE_STYLE)
    (lines["primitive"],) = ax.plot(x, curves["primitive"], label=r"$\sigma(x)$",
                                    **PRIMITIVE_STYLE)
    (lines["derivative"],) = ax.plot(x, curves["derivative"], label=r"$\sigma'(x)$",
                                     **DERIVATIVE_STYLE)
    ax.axhline(0.0, color="black", linewidth=0.5)
    ax.axvline(0.0, color="black", linewidth=0.5)
    ax.set_xlim(x[0], x[-1])
    ax.grid(True, alpha=0.3)
    if legend:
        ax.legend(loc="upper left", fontsize="small")
    return lines


def plot_surrogate(sg: object = "sigmoid", x_range: Sequence[float] = (-3.0, 3.0),
                   ax: Axes | None = None, num: int = 601) -> Figure:
    r"""The seed figure: Heaviside :math:`\Theta`, surrogate :math:`\sigma` and its derivative.

    ``sg`` is a surrogate module (its current hyper-parameters are used) or a name (defaults).
    The title names the class and its hyper-parameters, e.g. ``Sigmoid(alpha=5)``. Draws into
    ``ax`` if given, else into a new figure; returns the figure.

    Example::

        plot_surrogate(surrogate.Sigmoid(alpha=5.));
    """
    sg = resolve_surrogate(sg)
    ax = _check_ax(ax)
    if ax is None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.0))
    else:
        fig = ax.figure
    draw_surrogate(ax, sg, x_range, num)
    ax.set_xlabel("$x$ (membrane potential minus threshold)")
    ax.set_ylabel(r"$\Theta(x)$, $\sigma(x)$, $\sigma'(x)$ (dimensionless)")
    ax.set_title(describe(sg))
    return fig


GALLERY_XLABEL = r"$x = H - V_{\mathrm{th}}$ (membrane potential minus threshold)"
GALLERY_YLABEL = r"$\sigma(x)$ and $\sigma'(x)$ (dimensionless)"


def plot_gallery(names: Sequence[str] | None = None, x_range: Sequence[float] = (-3.0, 3.0),
                 ncols: int = 4, panel_size: Sequence[float] = (3.2, 2.4),
                 num: int = 401,
                 title: str = "Surrogates at their defaults: the shape of σ′ differs, "
                              "its peak is 1") -> Figure:
    r"""A grid with one panel per surrogate (defaults): :math:`\sigma` and :math:`\sigma'`.

    ``names`` defaults to every registered surrogate (``surrogate.available()``); each panel's
    title is the class name. Unused cells of the grid are removed, so the figure has exactly
    ``len(names)`` axes. One legend, one x label (:data:`GALLERY_XLABEL`) and one y label
    (:data:`GALLERY_YLABEL`) for the figure, whose title is ``title``.
    """
    if names is None:
        names = _surrogate.available()
    if isinstance(names, str) or not isinstance(names, Sequence) or len(names) == 0:
        raise TypeError(f"names must be a non-empty sequence of surrogate names or None, "
                        f"got {names!r}")
    modules = [resolve_surrogate(name, f"names[{i}]") for i, name in enumerate(names)]
    ncols = check_int("ncols", ncols, minimum=1)
    if isinstance(panel_size, str) or not isinstance(panel_size, Sequence) or len(panel_size) != 2:
        raise TypeError(f"panel_size must be a pair (width, height) in inches, got {panel_size!r}")
    width = check_real("panel_size[0]", panel_size[0], POSITIVE)
    height = check_real("panel_size[1]", panel_size[1], POSITIVE)
    check_x_range(x_range)
    if not isinstance(title, str):
        raise TypeError(f"title must be a str, got {type(title).__name__}")

    import matplotlib.pyplot as plt

    ncols = min(ncols, len(modules))
    nrows = math.ceil(len(modules) / ncols)
    # 0.7 inch for the x label and the legend, 0.35 for the title
    fig_width, fig_height = width * ncols + 0.3, height * nrows + 1.05
    fig, axes = plt.subplots(nrows, ncols, figsize=(fig_width, fig_height), squeeze=False)
    # Fixed margins in inches: a layout engine would cost several extra draws of 18 panels.
    fig.subplots_adjust(left=0.7 / fig_width, right=1 - 0.1 / fig_width,
                        bottom=1.05 / fig_height, top=1 - 0.65 / fig_height,
                        hspace=0.55, wspace=0.3)
    fig.supxlabel(GALLERY_XLABEL, y=0.45 / fig_height, va="center")
    fig.supylabel(GALLERY_YLABEL, x=0.15 / fig_width, ha="center")
    fig.suptitle(title, y=1 - 0.2 / fig_height, va="center")
    flat = list(axes.flat)
    for ax, sg in zip(flat, modules, strict=False):
        lines = draw_surrogate(ax, sg, x_range, num, heaviside=False, legend=False)
        ax.set_title(sg.spec.class_name, fontsize="medium")
    for ax in flat[len(modules):]:
        ax.remove()
    fig.legend(handles=[lines["primitive"], lines["derivative"]], loc="lower center", ncols=2,
               frameon=False)
    return fig


def plot_gradient_products(peaks: Sequence[float] = (0.5, 1.0, 2.0), max_depth: int = 20,
                           ax: Axes | None = None) -> Figure:
    r"""Log-scale plot of :math:`p^L` against depth :math:`L` for each peak :math:`p` of σ′.

    A peak below 1 makes the surrogate factor vanish geometrically, above 1 explode; the default
    peak 1 keeps it at 1 for any depth.
    """
    table = gradient_products(peaks, max_depth)
    ax = _check_ax(ax)
    if ax is None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.0))
    else:
        fig = ax.figure
    depths = np.arange(1, table.shape[1] + 1)
    for peak, row in zip(peaks, table, strict=True):
        ax.semilogy(depths, row, marker="o", markersize=3, label=f"peak $p = {float(peak):g}$")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("number of layers or time steps $L$")
    ax.set_ylabel(r"surrogate factor $p^L$")
    ax.set_title("Product of surrogate gradients at threshold")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return fig


def spike_coordinates(spikes: object) -> tuple[np.ndarray, np.ndarray]:
    """The ``(times, neurons)`` of every spike in a spike train ``[T, K]`` (0/1 values).

    Entry ``spikes[t, k] != 0`` is a spike of neuron ``k`` at step ``t``. Raises
    :class:`ValueError` for another shape or for values other than 0 and 1.
    """
    if not isinstance(spikes, torch.Tensor):
        raise TypeError(f"spikes must be a torch.Tensor [T, K], got {type(spikes).__name__}")
    if spikes.dim() != 2:
        raise ValueError(f"spikes must have shape [T, K] (time steps, neurons) for one sample, "
                         f"got {tuple(spikes.shape)}")
    values = spikes.detach().cpu()
    if not bool(((values == 0) | (values == 1)).all()):
        raise ValueError("spikes must hold only 0 and 1 (a spike train), got other values")
    times, neurons = values.nonzero(as_tuple=True)
    return times.numpy(), neurons.numpy()


def plot_raster(spikes: object, ax: Axes | None = None, title: str | None = None,
                label: str = "spike", color: str = "black") -> Figure:
    r"""Spike raster of one sample: a mark at :math:`(t, k)` for each spike :math:`S_k[t] = 1`.

    ``spikes`` is ``[T, K]`` (time steps, neurons), e.g. ``layer_output[:, n]`` of a multi-step
    network. The x axis is the time step :math:`t = 0, \dots, T-1`, the y axis the neuron index;
    ``label`` is the legend entry and the default title counts the spikes. Draws into ``ax`` if
    given, else into a new figure; returns the figure.
    """
    times, neurons = spike_coordinates(spikes)
    steps, count = spikes.shape  # type: ignore[union-attr]
    ax = _check_ax(ax)
    if ax is None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.0, 3.6))
    else:
        fig = ax.figure
    ax.scatter(times, neurons, marker="|", s=60, linewidths=1.5, color=color, label=label)
    ax.set_xlim(-0.5, steps - 0.5)
    ax.set_ylim(-0.5, count - 0.5)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("time step $t$ (steps)")
    ax.set_ylabel("neuron index $k$")
    ax.set_title(title if title is not None else
                 f"{len(times)} spikes of {count} neurons in {steps} steps")
    ax.legend(loc="upper right", fontsize="small")
    return fig
