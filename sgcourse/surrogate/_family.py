"""The surrogate family, each declared once: hyper-parameters, σ, σ′, LaTeX and kinks.

All expressions are plain torch operations in forms that stay finite for large ``|x|`` in
float16/bfloat16: ``torch.sigmoid`` instead of ``1/(1+exp(-αx))``, every branch of a
``torch.where`` evaluated on inputs that keep it finite (so autograd through the primitive never
multiplies a zero mask by an infinite local gradient), and the periodic SquarewaveFourierSeries
reduced modulo its period in at least float32 first. Hyper-parameters may be floats or tensors.

Each declaration also carries the σ′ of the Triton kernels (``triton_derivative``: float32
Triton statements assigning ``y`` from ``x``, ``ax`` = |x| and the hyper-parameters ``p0``,
``p1``, ``n_terms``; see :class:`~sgcourse.surrogate.SurrogateSpec`) and, for Sigmoid, an
in-place σ′ for the fused backward (``derivative_into``).
"""

from __future__ import annotations

import functools
import math

import torch

from sgcourse._checks import GREATER_THAN_ONE, NONNEGATIVE, POSITIVE, Domain
from sgcourse.surrogate._spec import HyperParameter, SurrogateSpec

Tensor = torch.Tensor
SQRT_PI = math.sqrt(math.pi)
INTEGER_AT_LEAST_TWO = Domain("an integer >= 2", lambda v: v >= 2, integer=True)


def _alpha(default: float, doc: str = "steepness: larger alpha gives a narrower, taller σ′",
           domain: Domain = POSITIVE, reference: float | None = None) -> HyperParameter:
    return HyperParameter("alpha", default, domain, doc, reference)


def _sign(x: Tensor) -> Tensor:
    """sgn(x) with sgn(0) = +1."""
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


def _sigmoid_grad(x: Tensor, alpha: float | Tensor) -> Tensor:
    s = torch.sigmoid(alpha * x)
    return alpha * s * (1 - s)


def _is_power_of_two(value: float) -> bool:
    return math.isfinite(value) and value > 0.0 and math.frexp(value)[0] == 0.5


@functools.lru_cache(maxsize=64)
def _sigmoid_scalars(alpha: float, shift: float, dtype: torch.dtype, device: torch.device
                     ) -> tuple[Tensor, Tensor]:
    """0-dim tensors −α·shift and α (read only), made once per configuration."""
    return (torch.full((), -alpha * shift, dtype=dtype, device=device),
            torch.full((), alpha, dtype=dtype, device=device))


def _sigmoid_grad_into(h: Tensor, shift: float, out: Tensor, alpha: float) -> Tensor:
    r""":func:`_sigmoid_grad` of ``h − shift`` computed in ``out``, bitwise the same.

    The same operations run in place instead of allocating five temporaries. When α is a power
    of two, α ≥ 1 and :math:`\alpha\,\text{shift}` is finite, scaling by α is exact, so
    :math:`\alpha(h - \text{shift})` is computed as :math:`\alpha h - \alpha\,\text{shift}` in
    one pass and ``α * s * (1 - s)`` as one ``sigmoid_backward`` kernel (``α (1 - s) s``): three
    passes instead of six, the same bits.
    """
    if _is_power_of_two(alpha) and alpha >= 1.0 and math.isfinite(alpha * shift):
        neg_shift, alpha_t = _sigmoid_scalars(alpha, shift, h.dtype, h.device)
        s = torch.add(neg_shift, h, alpha=alpha, out=out).sigmoid_()
        return torch.ops.aten.sigmoid_backward.grad_input(alpha_t, s, grad_input=s)
    s = torch.sub(h, shift, out=out).mul_(alpha).sigmoid_()
    one_minus_s = torch.rsub(s, 1)
    return s.mul_(alpha).mul_(one_minus_s)


def _soft_sign_primitive(x: Tensor, alpha: float | Tensor) -> Tensor:
    r""":math:`\tfrac12(z/(1 + |z|) + 1)`, :math:`z = \alpha x`, finite for infinite ``z``.

    Where :math:`|z| > 1` it is computed as :math:`\operatorname{sgn}(z)(1 - 1/(1 + |z|))`,
    which gives ±1 (not inf/inf = NaN) when :math:`\alpha x` overflows in float16.
    """
    z = alpha * x
    inner = z.clamp(-1, 1)
    q = torch.where(z.abs() <= 1, inner / (1 + inner.abs()), _sign(z) * (1 - 1 / (1 + z.abs())))
    return 0.5 * (q + 1)


def _squarewave_phase(x: Tensor, T_period: float | Tensor) -> Tensor:
    r"""``x`` modulo the period (``fmod`` is exact), in float32 at least.

    σ and σ′ of SquarewaveFourierSeries have period ``T_period``. Without the reduction, the
    phase :math:`(2i - 1)\,2\pi x/T` of a large float16 ``x`` overflows (cos(inf) = NaN) or
    loses every significant bit (a σ′ of the wrong sign).
    """
    return torch.fmod(x.to(torch.promote_types(x.dtype, torch.float32)), T_period)


def _squarewave_primitive(x: Tensor, n: int, T_period: float | Tensor) -> Tensor:
    phase = _squarewave_phase(x, T_period)
    total = 0.5 + (2 / math.pi) * sum(
        torch.sin((2 * i - 1) * (2 * math.pi / T_period) * phase) / (2 * i - 1)
        for i in range(1, int(n)))
    return total.to(x.dtype)


def _squarewave_derivative(x: Tensor, n: int, T_period: float | Tensor) -> Tensor:
    phase = _squarewave_phase(x, T_period)
    total = (4 / T_period) * sum(
        torch.cos((2 * i - 1) * (2 * math.pi / T_period) * phase) for i in range(1, int(n)))
    return total.to(x.dtype)


PIECEWISE_QUADRATIC = SurrogateSpec(
    name="piecewise_quadratic",
    class_name="PiecewiseQuadratic",
    hparams=(_alpha(1.0),),
    primitive=lambda x, alpha: (
        lambda z: -0.5 * alpha**2 * z * z.abs() + alpha * z + 0.5
    )(torch.clamp(x, -1 / alpha, 1 / alpha)),
    derivative=lambda x, alpha: torch.clamp(alpha - alpha**2 * x.abs(), min=0),
    primitive_tex=(r"\begin{cases} 0, & x < -1/\alpha \\ -\tfrac12\alpha^2 x|x| + \alpha x + "
                   r"\tfrac12, & |x| \le 1/\alpha \\ 1, & x > 1/\alpha \end{cases}"),
    derivative_tex=r"\max(0,\ \alpha - \alpha^2 |x|)",
    summary="Piecewise quadratic surrogate: a triangular σ′ of height α and half-width 1/α.",
    triton_derivative="y = tl.maximum(p0 - p0 * p0 * ax, 0.0)",
)

PIECEWISE_EXP = SurrogateSpec(
    name="piecewise_exp",
    class_name="PiecewiseExp",
    hparams=(_alpha(2.0, reference=1.0),),
    primitive=lambda x, alpha: (lambda e: torch.where(x < 0, e, 1 - e))(
        0.5 * torch.exp(-alpha * x.abs())),
    derivative=lambda x, alpha: 0.5 * alpha * torch.exp(-alpha * x.abs()),
    primitive_tex=(r"\begin{cases} \tfrac12 e^{\alpha x}, & x < 0 \\ 1 - \tfrac12 e^{-\alpha x},"
                   r" & x \ge 0 \end{cases}"),
    derivative_tex=r"\tfrac{\alpha}{2} e^{-\alpha |x|}",
    summary="Piecewise exponential surrogate: a Laplace-shaped σ′ with peak α/2.",
    triton_derivative="y = 0.5 * p0 * tl.exp(-p0 * ax)",
)

SIGMOID = SurrogateSpec(
    name="sigmoid",
    class_name="Sigmoid",
    hparams=(_alpha(4.0),),
    primitive=lambda x, alpha: torch.sigmoid(alpha * x),
    derivative=_sigmoid_grad,
    derivative_into=_sigmoid_grad_into,
    primitive_tex=r"\frac{1}{1 + e^{-\alpha x}}",
    derivative_tex=r"\alpha\, \mathrm{sgm}(\alpha x)\,\bigl(1 - \mathrm{sgm}(\alpha x)\bigr)",
    summary="Sigmoid surrogate: σ′ is the logistic density, peak α/4 at x = 0.",
    triton_derivative="s = 1.0 / (1.0 + tl.exp(-p0 * x))\ny = p0 * s * (1.0 - s)",
)

SOFT_SIGN = SurrogateSpec(
    name="soft_sign",
    class_name="SoftSign",
    hparams=(_alpha(2.0),),
    primitive=_soft_sign_primitive,
    derivative=lambda x, alpha: alpha / (2 * (1 + alpha * x.abs()) ** 2),
    primitive_tex=r"\tfrac12\Bigl(\frac{\alpha x}{1 + |\alpha x|} + 1\Bigr)",
    derivative_tex=r"\frac{\alpha}{2(1 + \alpha |x|)^2}",
    summary="Soft-sign surrogate: σ′ with polynomial tails, peak α/2.",
    triton_derivative="d = 1.0 + p0 * ax\ny = p0 / (2.0 * d * d)",
)

SUPER_SPIKE = SurrogateSpec(
    name="super_spike",
    class_name="SuperSpike",
    hparams=(_alpha(1.0, doc="height of σ′ (its peak)"),),
    primitive=lambda x, alpha: 0.5 + alpha * x / (1 + x.abs()),
    derivative=lambda x, alpha: alpha / (1 + x.abs()) ** 2,
    primitive_tex=r"\tfrac12 + \frac{\alpha x}{1 + |x|}",
    derivative_tex=r"\frac{\alpha}{(1 + |x|)^2}",
    summary="SuperSpike surrogate (Zenke & Ganguli 2018): the fast-sigmoid derivative.",
    note=("SpikingJelly defines no primitive for SuperSpike; ours is the exact antiderivative "
          "of σ′ with σ(0) = 1/2 (it rises from 1/2 − α to 1/2 + α)."),
    triton_derivative="d = 1.0 + ax\ny = p0 / (d * d)",
)

ATAN = SurrogateSpec(
    name="atan",
    class_name="ATan",
    hparams=(_alpha(2.0),),
    primitive=lambda x, alpha: torch.atan(0.5 * math.pi * alpha * x) / math.pi + 0.5,
    derivative=lambda x, alpha: (0.5 * alpha) / (1 + (0.5 * math.pi * alpha * x) ** 2),
    primitive_tex=r"\frac{1}{\pi}\arctan\Bigl(\frac{\pi}{2}\alpha x\Bigr) + \frac12",
    derivative_tex=r"\frac{\alpha/2}{1 + (\frac{\pi}{2}\alpha x)^2}",
    summary="Arc-tangent surrogate: a Cauchy-shaped σ′ with peak α/2.",
    triton_derivative=("z = 1.5707963267948966 * p0 * x  # π/2\n"
                       "y = (0.5 * p0) / (1.0 + z * z)"),
)

NONZERO_SIGN_LOG_ABS = SurrogateSpec(
    name="nonzero_sign_log_abs",
    class_name="NonzeroSignLogAbs",
    hparams=(_alpha(1.0),),
    primitive=lambda x, alpha: _sign(x) * torch.log1p(alpha * x.abs()),
    derivative=lambda x, alpha: alpha / (1 + alpha * x.abs()),
    primitive_tex=r"\operatorname{sgn}(x)\,\ln(1 + \alpha|x|),\ \operatorname{sgn}(0) = 1",
    derivative_tex=r"\frac{1}{1/\alpha + |x|}",
    summary="Nonzero-sign log-abs surrogate: σ′ = 1/(1/α + |x|), peak α; σ is unbounded.",
    triton_derivative="y = p0 / (1.0 + p0 * ax)",
)

ERF = SurrogateSpec(
    name="erf",
    class_name="Erf",
    hparams=(_alpha(SQRT_PI, reference=2.0),),
    primitive=lambda x, alpha: 0.5 * torch.erfc(-alpha * x),
    derivative=lambda x, alpha: (alpha / SQRT_PI) * torch.exp(-((alpha * x) ** 2)),
    primitive_tex=r"\tfrac12 \operatorname{erfc}(-\alpha x)",
    derivative_tex=r"\frac{\alpha}{\sqrt\pi} e^{-\alpha^2 x^2}",
    summary="Gaussian-error-function surrogate: a Gaussian σ′ with peak α/√π.",
    triton_derivative="z = p0 * x\ny = (p0 * 0.5641895835477563) * tl.exp(-(z * z))  # 1/√π",
)

PIECEWISE_LEAKY_RELU = SurrogateSpec(
    name="piecewise_leaky_relu",
    class_name="PiecewiseLeakyReLU",
    hparams=(
        HyperParameter("w", 0.5, POSITIVE, "half-width of the window where σ′ = 1/(2w)", 1.0),
        HyperParameter("c", 0.01, NONNEGATIVE, "slope of σ outside the window"),
    ),
    primitive=lambda x, w, c: torch.where(
        x < -w, c * (x + w), torch.where(x > w, c * (x - w) + 1, x / (2 * w) + 0.5)),
    derivative=lambda x, w, c: c + (1 / (2 * w) - c) * (x.abs() < w).to(x.dtype),
    primitive_tex=(r"\begin{cases} c(x + w), & x < -w \\ \frac{x}{2w} + \frac12, & |x| \le w \\ "
                   r"c(x - w) + 1, & x > w \end{cases}"),
    derivative_tex=r"\begin{cases} \frac{1}{2w}, & |x| < w \\ c, & |x| \ge w \end{cases}",
    summary="Piecewise leaky-ReLU surrogate: σ′ = 1/(2w) inside the window, c outside.",
    kinks=lambda w, c: (-w, w),
    note=("σ′ is the exact slope of σ (1/(2w), as in SpikingJelly 2.x's torch path; v0.0.0.0.14 "
          "and its CUDA kernels use 1/w). Our default w = 0.5 makes the peak 1."),
    triton_derivative="y = p1 + (0.5 / p0 - p1) * tl.where(ax < p0, 1.0, 0.0)",
)

SQUAREWAVE_FOURIER_SERIES = SurrogateSpec(
    name="squarewave_fourier_series",
    class_name="SquarewaveFourierSeries",
    hparams=(
        HyperParameter("n", 2, INTEGER_AT_LEAST_TWO, "number of terms plus one (n − 1 sines)"),
        HyperParameter("T_period", 4.0, POSITIVE, "period of the square wave", 8.0),
    ),
    primitive=_squarewave_primitive,
    derivative=_squarewave_derivative,
    primitive_tex=(r"\frac12 + \frac{2}{\pi}\sum_{i=1}^{n-1}\frac{\sin((2i-1)\omega x)}{2i-1},"
                   r"\ \omega = \frac{2\pi}{T}"),
    derivative_tex=r"\frac{4}{T}\sum_{i=1}^{n-1}\cos((2i-1)\omega x)",
    summary=("Square-wave Fourier-series surrogate: a truncated Fourier series of a square wave; "
             "σ′ is periodic and negative in places, peak 4(n − 1)/T."),
    triton_derivative=("omega = 6.283185307179586 / p0  # 2π/T\n"
                       "acc = x * 0.0\n"
                       "for i in range(1, n_terms):\n"
                       "    acc += tl.cos((2.0 * i - 1.0) * omega * x)\n"
                       "y = (4.0 / p0) * acc"),
)

S2NN = SurrogateSpec(
    name="s2nn",
    class_name="S2NN",
    hparams=(
        _alpha(4.0, doc="steepness of the sigmoid branch (x < 0): σ′(0⁻) = α/4"),
        HyperParameter("beta", 1.0, POSITIVE, "scale of the logarithmic branch (x ≥ 0)"),
    ),
    primitive=lambda x, alpha, beta: torch.where(
        x < 0, torch.sigmoid(alpha * x), beta * torch.log1p(x.clamp(min=0)) + 0.5),
    derivative=lambda x, alpha, beta: torch.where(
        x < 0, _sigmoid_grad(x, alpha), beta / (x.clamp(min=0) + 1)),
    primitive_tex=(r"\begin{cases} \mathrm{sgm}(\alpha x), & x < 0 \\ \beta\ln(x + 1) + \tfrac12, "
                   r"& x \ge 0 \end{cases}"),
    derivative_tex=(r"\begin{cases} \alpha\,\mathrm{sgm}(\alpha x)(1 - \mathrm{sgm}(\alpha x)), "
                    r"& x < 0 \\ \frac{\beta}{x + 1}, & x \ge 0 \end{cases}"),
    summary="S2NN surrogate (Suetake et al. 2023): sigmoid on the left, a log tail on the right.",
    kinks=lambda alpha, beta: (0.0,),
    note=("SpikingJelly's primitive adds 1e-5 inside the logarithm, so its slope differs from σ′ "
          "by about 1e-5; ours is exactly ln(x + 1), consistent with σ′."),
    triton_derivative=("s = 1.0 / (1.0 + tl.exp(-p0 * x))\n"
                       "y = tl.where(x < 0.0, p0 * s * (1.0 - s),\n"
                       "             p1 / (tl.maximum(x, 0.0) + 1.0))"),
)

Q_PSEUDO_SPIKE = SurrogateSpec(
    name="q_pseudo_spike",
    class_name="QPseudoSpike",
    hparams=(_alpha(2.0, doc="tail heaviness: smaller alpha gives heavier tails",
                    domain=GREATER_THAN_ONE),),
    primitive=lambda x, alpha: (
        lambda t: torch.where(x >= 0, 1 - t, t)
    )(0.5 * (1 + 2 * x.abs() / (alpha - 1)) ** (1 - alpha)),
    derivative=lambda x, alpha: (1 + 2 * x.abs() / (alpha - 1)) ** (-alpha),
    primitive_tex=(r"\begin{cases} \frac12\bigl(1 - \frac{2x}{\alpha-1}\bigr)^{1-\alpha}, & x < 0 "
                   r"\\ 1 - \frac12\bigl(1 + \frac{2x}{\alpha-1}\bigr)^{1-\alpha}, & x \ge 0 "
                   r"\end{cases}"),
    derivative_tex=r"\Bigl(1 + \frac{2|x|}{\alpha - 1}\Bigr)^{-\alpha}",
    summary="q-PseudoSpike surrogate (Sun et al. 2022): tunable heavy tails, peak 1 for any α > 1.",
    triton_derivative="y = tl.exp2(-p0 * tl.log2(1.0 + 2.0 * ax / (p0 - 1.0)))",
)

LEAKY_K_RELU = SurrogateSpec(
    name="leaky_k_relu",
    class_name="LeakyKReLU",
    hparams=(
        HyperParameter("leak", 0.0, NONNEGATIVE, "gradient for x < 0"),
        HyperParameter("k", 1.0, POSITIVE, "gradient for x ≥ 0"),
    ),
    primitive=lambda x, leak, k: torch.where(x >= 0, k * x, leak * x),
    derivative=lambda x, leak, k: leak + (k - leak) * (x >= 0).to(x.dtype),
    primitive_tex=r"\begin{cases} \text{leak}\cdot x, & x < 0 \\ k x, & x \ge 0 \end{cases}",
    derivative_tex=r"\begin{cases} \text{leak}, & x < 0 \\ k, & x \ge 0 \end{cases}",
    summary="Leaky k-ReLU surrogate: a constant σ′ = k for x ≥ 0 and leak below (not a bump).",
    kinks=lambda leak, k: (0.0,),
    triton_derivative="y = p0 + (p1 - p0) * tl.where(x >= 0.0, 1.0, 0.0)",
)

FAKE_NUMERICAL_GRADIENT = SurrogateSpec(
    name="fake_numerical_gradient",
    class_name="FakeNumericalGradient",
    hparams=(_alpha(1.0, doc="cap on σ′ (its peak); σ′ = 1/|x| beyond |x| = 1/α", reference=0.3),),
    primitive=lambda x, alpha: 0.5 + _sign(x) * (
        torch.clamp(alpha * x.abs(), max=1) + torch.log(torch.clamp(alpha * x.abs(), min=1))),
    derivative=lambda x, alpha: torch.minimum(1 / x.abs(), alpha * torch.ones_like(x)),
    primitive_tex=(r"\tfrac12 + \operatorname{sgn}(x)\bigl(\min(\alpha|x|, 1) + "
                   r"\ln\max(\alpha|x|, 1)\bigr)"),
    derivative_tex=r"\min\bigl(\tfrac{1}{|x|},\ \alpha\bigr)",
    summary=("Fake numerical gradient surrogate (Yang et al. 2024): the slope of the secant from "
             "the threshold, 1/|x|, capped at α."),
    note=("SpikingJelly defines no primitive and no spiking flag for it; ours is the exact "
          "antiderivative of σ′ with σ(0) = 1/2."),
    triton_derivative="y = tl.minimum(1.0 / ax, p0)",
)

LOG_TAILED_RELU = SurrogateSpec(
    name="log_tailed_relu",
    class_name="LogTailedReLU",
    hparams=(_alpha(0.0, doc="gradient for x ≤ 0 (0: exactly zero gradient at threshold)",
                    domain=NONNEGATIVE),),
    primitive=lambda x, alpha: (alpha * x.clamp(max=0) + x.clamp(0, 1)
                                + torch.log(x.clamp(min=1))),
    derivative=lambda x, alpha: torch.where(
        x <= 0, alpha * torch.ones_like(x), 1 / x.clamp(min=1)),
    primitive_tex=(r"\begin{cases} \alpha x, & x \le 0 \\ x, & 0 < x \le 1 \\ \ln x + 1, & x > 1 "
                   r"\end{cases}"),
    derivative_tex=(r"\begin{cases} \alpha, & x \le 0 \\ 1, & 0 < x \le 1 \\ 1/x, & x > 1 "
                    r"\end{cases}"),
    summary="Log-tailed ReLU surrogate (Cai et al. 2017): ReLU-like with a logarithmic tail.",
    kinks=lambda alpha: (0.0, 1.0),
    note=("σ′(0) = α, which is 0 at the default: a membrane exactly at threshold gets no gradient. "
          "SpikingJelly 0.0.0.0.14's primitive returns NaN for x ≤ 0; ours is finite everywhere."),
    triton_derivative="y = tl.where(x <= 0.0, p0, 1.0 / tl.maximum(x, 1.0))",
)

RECT = SurrogateSpec(
    name="rect",
    class_name="Rect",
    hparams=(_alpha(1.0, doc="height of the rectangular σ′; its width is 1/α"),),
    primitive=lambda x, alpha: torch.clamp(alpha * x + 0.5, 0, 1),
    derivative=lambda x, alpha: alpha * (x.abs() < 0.5 / alpha).to(x.dtype),
    primitive_tex=r"\operatorname{clamp}(\alpha x + \tfrac12,\ 0,\ 1)",
    derivative_tex=r"\alpha\, \mathbb{1}\bigl[|x| < \tfrac{1}{2\alpha}\bigr]",
    summary="Rectangular surrogate: a box σ′ of height α and width 1/α.",
    kinks=lambda alpha: (-0.5 / alpha, 0.5 / alpha),
    triton_derivative="y = p0 * tl.where(ax < 0.5 / p0, 1.0, 0.0)",
)

DETERMINISTIC_PASS = SurrogateSpec(
    name="deterministic_pass",
    class_name="DeterministicPass",
    hparams=(),
    primitive=lambda x: x.clone(),
    derivative=lambda x: torch.ones_like(x),
    primitive_tex="x",
    derivative_tex="1",
    summary="Straight-through estimator: Θ(x) forward, the identity's gradient 1 backward.",
    triton_derivative="y = x * 0.0 + 1.0",
)

POISSON_PASS = SurrogateSpec(
    name="poisson_pass",
    class_name="PoissonPass",
    hparams=(),
    primitive=lambda x: x.clone(),
    derivative=lambda x: torch.ones_like(x),
    primitive_tex="x",
    derivative_tex="1",
    summary=("Stochastic straight-through estimator: the forward pass samples a spike with "
             "probability clamp(x, 0, 1) (Bernoulli); the backward pass passes the gradient "
             "as is."),
    forward="bernoulli",
)

FAMILY: tuple[SurrogateSpec, ...] = (
    # Order is the surrogate id used by fused kernels: append new surrogates at the end.
    SIGMOID,
    ATAN,
    PIECEWISE_QUADRATIC,
    PIECEWISE_EXP,
    SOFT_SIGN,
    SUPER_SPIKE,
    ERF,
    NONZERO_SIGN_LOG_ABS,
    PIECEWISE_LEAKY_RELU,
    SQUAREWAVE_FOURIER_SERIES,
    S2NN,
    Q_PSEUDO_SPIKE,
    LEAKY_K_RELU,
    FAKE_NUMERICAL_GRADIENT,
    LOG_TAILED_RELU,
    RECT,
    DETERMINISTIC_PASS,
    POISSON_PASS,
)
