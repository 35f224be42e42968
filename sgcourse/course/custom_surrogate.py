r"""A surrogate written from scratch, the smooth twin that ``gradcheck`` can test, and a triangle.

Lesson 04 reads this module. It writes by hand what :mod:`sgcourse.surrogate` derives from a
declaration:

- :class:`ArcTanSpike`, a ``torch.autograd.Function`` with forward :math:`\Theta(x)` and backward
  :math:`g \cdot \sigma'(x)` for the arc-tangent surrogate

  .. math::

      \sigma(x) = \frac{1}{\pi}\arctan\Bigl(\frac{\pi}{2}\alpha x\Bigr) + \frac12, \qquad
      \sigma'(x) = \frac{\alpha/2}{1 + (\frac{\pi}{2}\alpha x)^2},

  in the ``setup_context`` style (``forward`` does not see ``ctx``; ``setup_context`` saves what
  ``backward`` needs), and :class:`ArcTanSurrogate`, the ``nn.Module`` a neuron takes as its
  ``surrogate_function``;
- :func:`smooth_twin`, which pairs a primitive σ with a hand-written σ′ in a Function whose
  forward is σ (not Θ): ``torch.autograd.gradcheck`` compares that backward with finite
  differences of σ, which it cannot do for Θ;
- :data:`TRIANGLE`, the declaration (:class:`~sgcourse.surrogate.SurrogateSpec`) of the triangle
  surrogate :math:`\sigma'(x) = \max(0,\ 1 - |x|/w)/w` (peak :math:`1/w`, 1 at the default
  :math:`w = 1`), ready for :func:`sgcourse.surrogate.register`. It is
  ``PiecewiseQuadratic(alpha=1/w)`` under another parametrisation.
"""

from __future__ import annotations

import inspect
import math
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from sgcourse._checks import POSITIVE, check_real
from sgcourse.surrogate import HyperParameter, SurrogateSpec

__all__ = ["TRIANGLE", "ArcTanSpike", "ArcTanSurrogate", "arctan_derivative",
           "arctan_primitive", "measured_gradient", "plot_measured_derivative", "smooth_twin",
           "triangle_declaration_source", "triangle_derivative", "triangle_primitive"]


def arctan_primitive(x: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    r""":math:`\sigma(x) = \arctan(\frac{\pi}{2}\alpha x)/\pi + \frac12`, rising from 0 to 1."""
    return torch.atan(0.5 * math.pi * alpha * x) / math.pi + 0.5


def arctan_derivative(x: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    r""":math:`\sigma'(x) = (\alpha/2) / (1 + (\frac{\pi}{2}\alpha x)^2)`, peak :math:`\alpha/2`."""
    return (0.5 * alpha) / (1 + (0.5 * math.pi * alpha * x) ** 2)


class ArcTanSpike(torch.autograd.Function):
    r"""Spike with the arc-tangent surrogate: ``ArcTanSpike.apply(x, alpha)``.

    forward: :math:`\Theta(x)` (1 where :math:`x \ge 0`, in the dtype of ``x``);
    backward: ``grad_output`` times :math:`\sigma'(x)`, nothing for ``alpha`` (a plain float).
    """

    @staticmethod
    def forward(x: torch.Tensor, alpha: float) -> torch.Tensor:
        return (x >= 0).to(x.dtype)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[torch.Tensor, float], output: torch.Tensor
                      ) -> None:
        x, alpha = inputs
        ctx.save_for_backward(x)          # tensors go through save_for_backward
        ctx.alpha = alpha                 # plain Python values can be stored on ctx

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, None]:
        (x,) = ctx.saved_tensors
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_output * arctan_derivative(x, ctx.alpha)   # the chain rule
        return grad_x, None               # one entry per input of forward: None for alpha


class ArcTanSurrogate(nn.Module):
    r"""The ``nn.Module`` form of :class:`ArcTanSpike`, for ``LIFNode(surrogate_function=...)``.

    Written from scratch (it is not a registry :class:`~sgcourse.surrogate.Surrogate`), so a
    neuron using it runs the per-step ``'torch'`` backend.
    """

    def __init__(self, alpha: float = 2.0) -> None:
        super().__init__()
        self.alpha = check_real("alpha", alpha, POSITIVE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ArcTanSpike.apply(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


def smooth_twin(primitive: Callable[..., torch.Tensor], derivative: Callable[..., torch.Tensor]
                ) -> type[torch.autograd.Function]:
    r"""A Function with forward ``primitive(x, *params)`` and backward ``g * derivative(x, ...)``.

    ``torch.autograd.gradcheck(twin.apply, (x, *params))`` on float64 ``x`` then tests that the
    hand-written σ′ is the derivative of σ: it compares the backward with central finite
    differences of the forward. (On the spiking Function it cannot: the finite differences of Θ
    are 0 away from the step and huge across it.)
    """
    if not (callable(primitive) and callable(derivative)):
        raise TypeError("primitive and derivative must be callables f(x, *params) -> tensor")

    def forward(x: torch.Tensor, *params: Any) -> torch.Tensor:
        return primitive(x, *params)

    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x, *params = inputs
        ctx.save_for_backward(x)
        ctx.params = params

    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (x,) = ctx.saved_tensors
        return (grad_output * derivative(x, *ctx.params), *([None] * len(ctx.params)))

    return type("SmoothTwin", (torch.autograd.Function,), {
        "forward": staticmethod(forward), "setup_context": staticmethod(setup_context),
        "backward": staticmethod(backward), "__module__": __name__})


def triangle_primitive(x: torch.Tensor, width: float | torch.Tensor) -> torch.Tensor:
    """σ(x) = 0 for x < −w, 1/2 + x/w − x|x|/(2w²) for |x| ≤ w, 1 for x > w: the integral of σ′."""
    z = torch.clamp(x, -width, width)      # σ is flat (0 or 1) outside the support
    return 0.5 + z / width - z * z.abs() / (2 * width * width)


def triangle_derivative(x: torch.Tensor, width: float | torch.Tensor) -> torch.Tensor:
    """σ′(x) = max(0, 1 − |x|/w) / w: a triangle of half-width w and peak 1/w."""
    return torch.clamp(1 - x.abs() / width, min=0) / width


TRIANGLE = SurrogateSpec(
    name="triangle",
    class_name="Triangle",
    hparams=(HyperParameter("width", 1.0, POSITIVE,
                            "half-width of the triangular σ′; its peak is 1/width"),),
    primitive=triangle_primitive,      # called as primitive(x, width): x, then the
    derivative=triangle_derivative,    # hyper-parameters in the order of hparams
    primitive_tex=(r"\begin{cases} 0, & x < -w \\ \tfrac12 + \tfrac{x}{w} - \tfrac{x|x|}{2w^2}, "
                   r"& |x| \le w \\ 1, & x > w \end{cases}"),
    derivative_tex=r"\tfrac{1}{w}\max\bigl(0,\ 1 - \tfrac{|x|}{w}\bigr)",
    summary=("Triangle surrogate (Esser et al. 2016; Bellec et al. 2018): a triangular σ′ of "
             "half-width w and peak 1/w; PiecewiseQuadratic with alpha = 1/w."),
)
"""The triangle surrogate's declaration, for :func:`sgcourse.surrogate.register`."""


def triangle_declaration_source() -> str:
    """The code that declares the triangle: σ, σ′ and :data:`TRIANGLE`, as written here."""
    text = inspect.getsource(sys.modules[__name__])
    start = text.index("def triangle_primitive(")
    end = text.index("\n)\n", text.index("TRIANGLE = SurrogateSpec(")) + len("\n)\n")
    return text[start:end]


def measured_gradient(spike: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``(spike(x), ∂ sum(spike(x)) / ∂x)``, both detached: what a backward pass delivers.

    With an incoming gradient of 1 at every entry, the gradient of ``x`` is σ′(x) itself.
    """
    if not callable(spike):
        raise TypeError(f"spike must be a callable, got {type(spike).__name__}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {type(x).__name__}")
    xi = x.detach().clone().requires_grad_(True)
    out = spike(xi)
    (grad,) = torch.autograd.grad(out.sum(), xi)
    return out.detach(), grad


def plot_measured_derivative(curves: dict[str, tuple[torch.Tensor, torch.Tensor]],
                             x: torch.Tensor, derivative: torch.Tensor, title: str) -> Any:
    r"""Spikes and measured gradients (markers) of each spike function against σ′ (line).

    ``curves`` maps a label to :func:`measured_gradient`'s ``(spikes, gradient)`` on ``x``;
    ``derivative`` is the formula σ′(x). Returns the matplotlib Figure (made with ``pyplot``).
    """
    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must be a non-empty dict {label: (spikes, gradient)}")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    xs = x.detach().double().numpy()
    ax.plot(xs, derivative.detach().double().numpy(), color="tab:blue", linewidth=3, alpha=0.4,
            label=r"formula $\sigma'(x)$")
    markers = ("o", "x", "+", "s")
    for (label, (_, grad)), marker in zip(curves.items(), markers, strict=False):
        ax.plot(xs, grad.double().numpy(), linestyle="none", marker=marker, markersize=5,
                label=f"{label}: gradient of $x$")
    first_spikes = next(iter(curves.values()))[0]
    ax.step(xs, first_spikes.double().numpy(), where="post", color="black", linewidth=1.2,
            label=r"forward output $\Theta(x)$")
    ax.set_xlabel(r"$x = H - V_{\mathrm{th}}$ (membrane potential minus threshold)")
    ax.set_ylabel("value (dimensionless)")
    ax.set_title(title, fontsize="medium")
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return fig
