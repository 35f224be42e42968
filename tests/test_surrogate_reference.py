"""Our surrogates against independent re-implementations of SpikingJelly's formulas.

The reference formulas below are written from the published table of SpikingJelly's surrogates
(the torch path of SpikingJelly 2.x), as plain numpy expressions, independently of
``sgcourse.surrogate``. With equal *explicit* hyper-parameters our backward pass must give the
reference σ′, and ``spiking=False`` the reference primitive σ, up to float64 rounding.

Deliberate differences (documented in ``sgcourse.surrogate``), and how they are tested here:

* PiecewiseLeakyReLU: σ′ = 1/(2w) inside the window, the slope of σ, as in SpikingJelly 2.x's
  torch path (SpikingJelly 0.0.0.0.14 and its CuPy kernels use 1/w, inconsistent with σ).
* LogTailedReLU: the primitive is finite for x ≤ 0 (0.0.0.0.14 returns NaN there); we compare
  with the 2.x formula, which is finite.
* S2NN: SpikingJelly's primitive is β·ln(|x + 1| + 1e-5) + ½ for x ≥ 0; ours has no 1e-5, so it
  is compared with the formula without the epsilon, and within 1e-5 of SpikingJelly's.
* SuperSpike and FakeNumericalGradient: SpikingJelly has no primitive. Ours must be the
  antiderivative of the reference σ′ with σ(0) = ½, checked against a numerical integral.
* Five defaults differ (peak σ′ = 1 for ours); every check here passes hyper-parameters
  explicitly, including SpikingJelly's defaults.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from sgcourse import surrogate

Array = np.ndarray
SQRT_PI = math.sqrt(math.pi)


def _logistic(z: Array) -> Array:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # = 1/(1 + e^{-z}) without overflow warnings


def _sgn(x: Array) -> Array:
    return np.where(x >= 0, 1.0, -1.0)  # sgn(0) = +1


_erfc = np.vectorize(math.erfc)


@dataclass(frozen=True)
class Reference:
    """SpikingJelly's σ′ and (where it has a consistent one) σ, plus hyper-parameters to test."""

    derivative: Callable[..., Array]
    primitive: Callable[..., Array] | None
    cases: tuple[tuple[float, ...], ...]
    sj_defaults: dict[str, float]


def _pq_primitive(x: Array, a: float) -> Array:
    inner = -0.5 * a * a * x * np.abs(x) + a * x + 0.5
    return np.where(x < -1 / a, 0.0, np.where(x > 1 / a, 1.0, inner))


def _pe_primitive(x: Array, a: float) -> Array:
    with np.errstate(over="ignore"):
        return np.where(x < 0, 0.5 * np.exp(a * np.minimum(x, 0)),
                        1 - 0.5 * np.exp(-a * np.maximum(x, 0)))


def _plr_primitive(x: Array, w: float, c: float) -> Array:
    return np.where(x < -w, c * x + c * w, np.where(x > w, c * x - c * w + 1, x / (2 * w) + 0.5))


def _sq_primitive(x: Array, n: int, t: float) -> Array:
    omega = 2 * math.pi / t
    terms = [np.sin((2 * i - 1) * omega * x) / (2 * i - 1) for i in range(1, int(n))]
    return 0.5 + (2 / math.pi) * np.sum(terms, axis=0)


def _sq_derivative(x: Array, n: int, t: float) -> Array:
    omega = 2 * math.pi / t
    return (4 / t) * np.sum([np.cos((2 * i - 1) * omega * x) for i in range(1, int(n))], axis=0)


def _s2nn_primitive(x: Array, a: float, b: float) -> Array:
    # SpikingJelly: b * ln(|x + 1| + 1e-5) + 1/2 for x >= 0. Ours drops the 1e-5 (see above).
    return np.where(x < 0, _logistic(a * x), b * np.log(np.abs(np.maximum(x, 0) + 1)) + 0.5)


def _s2nn_derivative(x: Array, a: float, b: float) -> Array:
    s = _logistic(a * x)
    return np.where(x < 0, a * s * (1 - s), b / (np.abs(x) + 1))


def _qps_primitive(x: Array, a: float) -> Array:
    return np.where(x >= 0, 1 - 0.5 * (1 + 2 * np.abs(x) / (a - 1)) ** (1 - a),
                    0.5 * (1 + 2 * np.abs(x) / (a - 1)) ** (1 - a))


def _fng_derivative(x: Array, a: float) -> Array:
    with np.errstate(divide="ignore"):
        return np.minimum(1 / np.abs(x), a)  # 1/0 = inf, so σ′(0) = α


def _ltr_primitive(x: Array, a: float) -> Array:
    return np.where(x <= 0, a * x, np.where(x <= 1, x, np.log(np.maximum(x, 1)) + 1))


def _ltr_derivative(x: Array, a: float) -> Array:
    return np.where(x <= 0, a, np.where(x <= 1, 1.0, 1 / np.maximum(x, 1)))


REFERENCES: dict[str, Reference] = {
    "sigmoid": Reference(
        derivative=lambda x, a: a * _logistic(a * x) * (1 - _logistic(a * x)),
        primitive=lambda x, a: _logistic(a * x),
        cases=((4.0,), (5.0,), (0.7,)), sj_defaults={"alpha": 4.0}),
    "atan": Reference(
        derivative=lambda x, a: (a / 2) / (1 + (math.pi / 2 * a * x) ** 2),
        primitive=lambda x, a: np.arctan(math.pi / 2 * a * x) / math.pi + 0.5,
        cases=((2.0,), (3.5,)), sj_defaults={"alpha": 2.0}),
    "piecewise_quadratic": Reference(
        derivative=lambda x, a: np.where(np.abs(x) > 1 / a, 0.0, -a * a * np.abs(x) + a),
        primitive=_pq_primitive,
        cases=((1.0,), (2.5,)), sj_defaults={"alpha": 1.0}),
    "piecewise_exp": Reference(
        derivative=lambda x, a: (a / 2) * np.exp(-a * np.abs(x)),
        primitive=_pe_primitive,
        cases=((1.0,), (2.0,), (3.0,)), sj_defaults={"alpha": 1.0}),
    "soft_sign": Reference(
        derivative=lambda x, a: 1 / (2 * a * (1 / a + np.abs(x)) ** 2),
        primitive=lambda x, a: 0.5 * (a * x / (1 + np.abs(a * x)) + 1),
        cases=((2.0,), (0.5,)), sj_defaults={"alpha": 2.0}),
    "super_spike": Reference(
        derivative=lambda x, a: a / (1 + np.abs(x)) ** 2,
        primitive=None,
        cases=((1.0,), (2.0,)), sj_defaults={"alpha": 1.0}),
    "erf": Reference(
        derivative=lambda x, a: (a / SQRT_PI) * np.exp(-(a * x) ** 2),
        primitive=lambda x, a: 0.5 * _erfc(-a * x),
        cases=((2.0,), (SQRT_PI,), (0.8,)), sj_defaults={"alpha": 2.0}),
    "nonzero_sign_log_abs": Reference(
        derivative=lambda x, a: 1 / (1 / a + np.abs(x)),
        primitive=lambda x, a: _sgn(x) * np.log(1 + a * np.abs(x)),
        cases=((1.0,), (3.0,)), sj_defaults={"alpha": 1.0}),
    "piecewise_leaky_relu": Reference(
        # SpikingJelly 2.x torch path: 1/(2w) for |x| < w (strict), c for |x| >= w.
        derivative=lambda x, w, c: np.where(np.abs(x) < w, 1 / (2 * w), c),
        primitive=_plr_primitive,
        cases=((1.0, 0.01), (0.5, 0.01), (0.3, 0.2)), sj_defaults={"w": 1.0, "c": 0.01}),
    "squarewave_fourier_series": Reference(
        derivative=_sq_derivative,
        primitive=_sq_primitive,
        cases=((2, 8.0), (2, 4.0), (5, 3.0)), sj_defaults={"n": 2, "T_period": 8.0}),
    "s2nn": Reference(
        derivative=_s2nn_derivative,
        primitive=_s2nn_primitive,
        cases=((4.0, 1.0), (2.0, 0.5)), sj_defaults={"alpha": 4.0, "beta": 1.0}),
    "q_pseudo_spike": Reference(
        derivative=lambda x, a: (1 + 2 * np.abs(x) / (a - 1)) ** (-a),
        primitive=_qps_primitive,
        cases=((2.0,), (1.5,), (4.0,)), sj_defaults={"alpha": 2.0}),
    "leaky_k_relu": Reference(
        derivative=lambda x, leak, k: np.where(x >= 0, k, leak),
        primitive=lambda x, leak, k: np.where(x >= 0, k * x, leak * x),
        cases=((0.0, 1.0), (0.1, 2.0)), sj_defaults={"leak": 0.0, "k": 1.0}),
    "fake_numerical_gradient": Reference(
        derivative=_fng_derivative,
        primitive=None,
        cases=((0.3,), (1.0,)), sj_defaults={"alpha": 0.3}),
    "log_tailed_relu": Reference(
        derivative=_ltr_derivative,
        primitive=_ltr_primitive,
        cases=((0.0,), (0.1,)), sj_defaults={"alpha": 0.0}),
    "rect": Reference(
        derivative=lambda x, a: a * (np.abs(x) < 0.5 / a),
        primitive=lambda x, a: np.clip(a * x + 0.5, 0, 1),
        cases=((1.0,), (2.0,)), sj_defaults={"alpha": 1.0}),
    "deterministic_pass": Reference(
        derivative=lambda x: np.ones_like(x), primitive=lambda x: x.copy(),
        cases=((),), sj_defaults={}),
    "poisson_pass": Reference(
        derivative=lambda x: np.ones_like(x), primitive=lambda x: x.copy(),
        cases=((),), sj_defaults={}),
}

CASES = [pytest.param(name, params, id=f"{name}{list(params)}")
         for name, ref in REFERENCES.items() for params in ref.cases]
WITH_PRIMITIVE = [c for c in CASES if REFERENCES[c.values[0]].primitive is not None]
WITHOUT_PRIMITIVE = [c for c in CASES if REFERENCES[c.values[0]].primitive is None]


def _grid(params: tuple[float, ...]) -> Array:
    """A float64 grid over [-8, 8] plus zero and every edge a reference formula switches at."""
    edges = [0.0, 1.0, -1.0]
    for p in params:
        edges += [p, -p, 0.5 / p, -0.5 / p, 1 / p, -1 / p] if p > 0 else []
    return np.unique(np.concatenate([np.linspace(-8, 8, 1601) + 1 / 331, np.array(edges)]))


def _ours_backward(name: str, x: Array, params: tuple[float, ...]) -> list[Array]:
    grads = []
    for call in (surrogate.module_class(name)(*params),
                 lambda t: surrogate.function(name).apply(t, *params)):
        t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        call(t).sum().backward()
        grads.append(t.grad.numpy())
    return grads


def _ours_primitive(name: str, x: Array, params: tuple[float, ...]) -> Array:
    module = surrogate.module_class(name)(*params, spiking=False)
    return module(torch.tensor(x, dtype=torch.float64)).numpy()


def test_every_surrogate_has_a_reference() -> None:
    assert set(REFERENCES) == set(surrogate.available())


@pytest.mark.parametrize(("name", "params"), CASES)
def test_backward_equals_reference_derivative(name: str, params: tuple[float, ...]) -> None:
    x = _grid(params)
    expected = REFERENCES[name].derivative(x, *params)
    for grad in _ours_backward(name, x, params):
        np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("name", "params"), WITH_PRIMITIVE)
def test_primitive_equals_reference(name: str, params: tuple[float, ...]) -> None:
    x = _grid(params)
    primitive = REFERENCES[name].primitive
    assert primitive is not None
    np.testing.assert_allclose(_ours_primitive(name, x, params), primitive(x, *params),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("params", REFERENCES["s2nn"].cases)
def test_s2nn_primitive_within_epsilon_of_spikingjelly(params: tuple[float, float]) -> None:
    alpha, beta = params
    x = _grid(params)
    spikingjelly = np.where(x < 0, _logistic(alpha * x), beta * np.log(np.abs(x + 1) + 1e-5) + 0.5)
    ours = _ours_primitive("s2nn", x, params)
    # |ln(u + 1e-5) - ln(u)| <= 1e-5/u with u = x + 1 >= 1 on the right branch
    assert np.max(np.abs(ours - spikingjelly)) <= beta * 1e-5
    assert np.max(np.abs(ours - spikingjelly)) > 0  # the difference is real, not hidden


@pytest.mark.parametrize(("name", "params"), WITHOUT_PRIMITIVE)
def test_primitive_is_antiderivative_of_reference(name: str, params: tuple[float, ...]) -> None:
    """Where SpikingJelly has no primitive: σ(x) = ½ + ∫₀ˣ σ′, by the trapezoid rule."""
    derivative = REFERENCES[name].derivative
    for side in (1.0, -1.0):
        t = side * np.linspace(0, 6, 600_001)
        g = derivative(t, *params)
        integral = np.concatenate([[0.0], np.cumsum((g[1:] + g[:-1]) / 2 * np.diff(t))])
        sample = slice(None, None, 5000)
        np.testing.assert_allclose(_ours_primitive(name, t[sample], params),
                                   0.5 + integral[sample], rtol=0, atol=1e-8)


def test_spikingjelly_defaults() -> None:
    """Our ``reference_default`` (or our default, where equal) is SpikingJelly's default."""
    for name, ref in REFERENCES.items():
        spec = surrogate.spec(name)
        theirs = {h.name: h.default if h.reference_default is None else h.reference_default
                  for h in spec.hparams}
        assert theirs == ref.sj_defaults, name


def test_spikingjelly_defaults_have_the_documented_peaks() -> None:
    """At SpikingJelly's defaults, the five changed surrogates have the peaks in its table."""
    x = np.concatenate([np.linspace(-10, 10, 2_000_001), [0.0]])
    documented = {
        "piecewise_exp": 0.5,
        "erf": 2 / SQRT_PI,
        "piecewise_leaky_relu": 0.5,
        "squarewave_fourier_series": 0.5,
        "fake_numerical_gradient": 0.3,
    }
    changed = {s for s in surrogate.available()
               if any(h.reference_default is not None for h in surrogate.spec(s).hparams)}
    assert changed == set(documented)
    for name, peak in documented.items():
        params = tuple(REFERENCES[name].sj_defaults.values())
        grad = _ours_backward(name, x, params)[0]
        assert abs(grad.max() - peak) < 1e-9, name
    # SquarewaveFourierSeries(n=2, T_period=8): σ′ turns negative, min -0.5 (at x = ±4)
    grad = _ours_backward("squarewave_fourier_series", np.array([-4.0, 4.0]), (2, 8.0))[0]
    np.testing.assert_allclose(grad, [-0.5, -0.5], rtol=0, atol=1e-12)


def test_piecewise_leaky_relu_is_not_the_v14_formula() -> None:
    """SpikingJelly 0.0.0.0.14 used 1/w inside the window; ours is half that, the slope of σ."""
    w, c = 0.8, 0.01
    x = np.linspace(-0.7, 0.7, 15)
    grad = _ours_backward("piecewise_leaky_relu", x, (w, c))[0]
    np.testing.assert_allclose(grad, np.full_like(x, 1 / (2 * w)), rtol=1e-12)
    assert not np.allclose(grad, 1 / w)


# --------------------------------------------------------------------------- the seed's example

SEED_X = [-0.1303, 0.4976, 0.3364, 0.4296, 0.2779, 0.4580, 0.4447, 0.2466]
SEED_Y = [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
SEED_GRAD = [0.9351, 0.4231, 0.6557, 0.5158, 0.7451, 0.4759, 0.4943, 0.7913]
# x was printed rounded to 4 decimals, so the true x is within 5e-5 of SEED_X. The gradient is
# σ′(x) = α s(1 - s), whose slope |σ″| is at most α²/(6√3) ≈ 1.54 for α = 4; that moves σ′ by up
# to 1.54 · 5e-5 ≈ 7.7e-5. The printed gradient is itself rounded (another 5e-5): 1.3e-4 in all.
SEED_ATOL = 1.3e-4


@pytest.mark.parametrize("api", ["module", "functional"])
def test_seed_example(api: str) -> None:
    x = torch.tensor(SEED_X, requires_grad=True)
    if api == "module":
        y = surrogate.Sigmoid(alpha=4.0)(x)
    else:
        y = surrogate.sigmoid.apply(x, 4.0)
    assert SEED_ATOL >= 4.0**2 / (6 * math.sqrt(3)) * 5e-5 + 5e-5
    assert "sigmoid" in type(y.grad_fn).__name__.lower()
    torch.testing.assert_close(y.detach(), torch.tensor(SEED_Y), rtol=0, atol=0)
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor(SEED_GRAD), rtol=0, atol=SEED_ATOL)
