"""The contract every registered surrogate honours, driven by the registry.

Each test is parametrised over ``surrogate.available()``, so a surrogate added to the family is
tested automatically. What is checked:

* the forward pass is the Heaviside step Θ (or Bernoulli sampling for ``forward="bernoulli"``);
* the backward pass multiplies the incoming gradient by ``spec.derivative`` (σ′);
* σ′ is the derivative of the declared primitive σ (float64 finite differences, ``gradcheck``);
* the Module and the functional agree; defaults make the peak of σ′ equal to 1;
* invalid hyper-parameters and inputs are rejected with errors that name the argument;
* every floating dtype stays finite and keeps its dtype; pickle, deepcopy, ``state_dict``,
  ``repr``, ``torch.compile`` and ``vmap`` work.

Checks that take a ``device`` run on CPU and again on CUDA when it is available.
"""

from __future__ import annotations

import copy
import pickle
import random
import re
import zlib
from collections.abc import Callable

import pytest
import torch

from sgcourse import surrogate

NAMES = surrogate.available()
HEAVISIDE_NAMES = [n for n in NAMES if surrogate.spec(n).forward == "heaviside"]
BERNOULLI_NAMES = [n for n in NAMES if surrogate.spec(n).forward == "bernoulli"]
WITH_HPARAMS = [n for n in NAMES if surrogate.spec(n).hparams]
HPARAM_CASES = [(n, h.name) for n in NAMES for h in surrogate.spec(n).hparams]
FLOAT_DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                  reason="CUDA is not available")),
]
# Hyper-parameters for which 0 is a meaningful value (a zero leak or slope); every other
# hyper-parameter of the family scales or divides something and must be strictly positive.
ZERO_ALLOWED = {
    ("piecewise_leaky_relu", "c"), ("leaky_k_relu", "leak"), ("log_tailed_relu", "alpha"),
}


def defaults(name: str) -> tuple[float, ...]:
    return tuple(h.default for h in surrogate.spec(name).hparams)


def random_hparams(name: str, salt: int = 0) -> tuple[float, ...]:
    """Valid hyper-parameters that differ from the defaults, reproducible per surrogate."""
    rng = random.Random(zlib.crc32(name.encode()) + salt)
    values: list[float] = []
    for h in surrogate.spec(name).hparams:
        while True:
            if h.domain.integer:
                value: float = int(h.default) + rng.randint(1, 3)
            else:
                base = h.default if h.default > 0 else 0.25
                value = base * rng.uniform(0.5, 2.0)
            if h.domain.contains(value) and value != h.default:
                break
        values.append(value)
    return tuple(values)


def word(name: str) -> str:
    """A regex that finds ``name`` as a whole word in an error message."""
    return rf"\b{re.escape(name)}\b"


HPARAM_SETS = ["default", "random"]


def hparams_for(name: str, which: str) -> tuple[float, ...]:
    return defaults(name) if which == "default" else random_hparams(name)


def away_from_kinks(x: torch.Tensor, kinks: tuple[float, ...],
                    margin: float = 1e-3) -> torch.Tensor:
    keep = torch.ones_like(x, dtype=torch.bool)
    for k in kinks:
        keep &= (x - k).abs() > margin
    return x[keep]


def sample_x(device: str, dtype: torch.dtype = torch.float32, n: int = 64,
             seed: int = 0) -> torch.Tensor:
    """Random points plus exact zero and values just either side of it."""
    g = torch.Generator().manual_seed(seed)
    x = torch.cat([3 * torch.randn(n, generator=g, dtype=torch.float64),
                   torch.tensor([0.0, 1e-6, -1e-6, 0.5, -0.5, 2.0], dtype=torch.float64)])
    return x.to(device=device, dtype=dtype)


def straight_through_primitive(fn: type[torch.autograd.Function],
                               primitive: Callable[..., torch.Tensor],
                               params: tuple[float, ...]) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function whose value is σ(x) but whose gradient comes from the spiking backward.

    ``s - s.detach()`` is zero in value and carries the spiking Function's backward; adding the
    detached primitive makes the value σ(x). ``gradcheck`` then compares the spiking backward
    (analytic) with finite differences of σ (numerical).
    """
    def f(x: torch.Tensor) -> torch.Tensor:
        s = fn.apply(x, *params)
        return s - s.detach() + primitive(x, *params).detach()
    return f


# --------------------------------------------------------------------------- forward pass


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("which", HPARAM_SETS)
@pytest.mark.parametrize("name", HEAVISIDE_NAMES)
def test_forward_is_heaviside(name: str, which: str, device: str) -> None:
    params = hparams_for(name, which)
    x = sample_x(device)
    expected = torch.where(x >= 0, torch.ones_like(x), torch.zeros_like(x))  # Θ(0) = 1
    module = surrogate.module_class(name)(*params)
    for y in (module(x), surrogate.function(name).apply(x, *params)):
        assert y.dtype == x.dtype and y.device == x.device
        torch.testing.assert_close(y, expected, rtol=0, atol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", BERNOULLI_NAMES)
def test_forward_is_bernoulli(name: str, device: str) -> None:
    x = torch.linspace(-2, 3, 501, device=device)
    torch.manual_seed(1234)
    y = surrogate.get(name)(x)
    assert y.dtype == x.dtype
    assert set(y.unique().tolist()) <= {0.0, 1.0}
    assert (y[x <= 0] == 0).all()
    assert (y[x >= 1] == 1).all()
    # Same seed, same sample; the functional draws from the same generator.
    torch.manual_seed(1234)
    torch.testing.assert_close(surrogate.function(name).apply(x), y, rtol=0, atol=0)

    # The empirical firing rate is p = x for x in (0, 1): within 5 standard errors.
    n = 20_000
    p = torch.tensor([0.1, 0.25, 0.5, 0.9], dtype=torch.float64, device=device)
    torch.manual_seed(0)
    samples = surrogate.get(name)(p.repeat(n, 1))
    rate = samples.mean(dim=0)
    stderr = torch.sqrt(p * (1 - p) / n)
    assert ((rate - p).abs() < 5 * stderr).all(), (rate, p)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", NAMES)
def test_smooth_mode_returns_primitive(name: str, device: str) -> None:
    params = random_hparams(name)
    x = sample_x(device, torch.float64)
    module = surrogate.module_class(name)(*params, spiking=False)
    torch.testing.assert_close(module(x), surrogate.spec(name).primitive(x, *params))
    module.set_spiking_mode(True)
    assert module.spiking is True
    if surrogate.spec(name).forward == "heaviside":
        torch.testing.assert_close(module(x), (x >= 0).to(x.dtype))


# --------------------------------------------------------------------------- backward pass


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("which", HPARAM_SETS)
@pytest.mark.parametrize("name", NAMES)
def test_backward_is_derivative(name: str, which: str, device: str) -> None:
    params = hparams_for(name, which)
    derivative = surrogate.spec(name).derivative
    module = surrogate.module_class(name)(*params)
    fn = surrogate.function(name)
    for call in (module, lambda x: fn.apply(x, *params)):
        # grad of sum: exactly σ′(x)
        x = sample_x(device, torch.float64).requires_grad_()
        call(x).sum().backward()
        torch.testing.assert_close(x.grad, derivative(x.detach(), *params), rtol=0, atol=0)
        # a non-trivial upstream gradient is multiplied elementwise
        x = sample_x(device, torch.float64).requires_grad_()
        upstream = torch.randn(x.shape, generator=torch.Generator().manual_seed(1),
                               dtype=torch.float64).to(device)
        call(x).backward(upstream)
        torch.testing.assert_close(x.grad, upstream * derivative(x.detach(), *params))


@pytest.mark.parametrize("which", HPARAM_SETS)
@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_finite_difference(name: str, which: str) -> None:
    spec = surrogate.spec(name)
    params = hparams_for(name, which)
    # an irregular float64 grid, so that no point lands exactly on a kink by construction
    x = torch.linspace(-6, 6, 2401, dtype=torch.float64) + 1 / 977
    x = away_from_kinks(x, spec.kinks(*params))
    h = 1e-6
    fd = (spec.primitive(x + h, *params) - spec.primitive(x - h, *params)) / (2 * h)
    torch.testing.assert_close(spec.derivative(x, *params), fd, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("which", HPARAM_SETS)
@pytest.mark.parametrize("name", NAMES)
def test_gradcheck(name: str, which: str) -> None:
    spec = surrogate.spec(name)
    params = hparams_for(name, which)
    x = away_from_kinks(sample_x("cpu", torch.float64, n=24, seed=7), spec.kinks(*params))
    x = x[x.abs() > 1e-3].clone().requires_grad_()  # σ′ may have a cusp at 0
    # autograd through the smooth primitive (spiking=False)
    smooth = surrogate.module_class(name)(*params, spiking=False)
    assert torch.autograd.gradcheck(smooth, (x,))
    # the spiking Function's hand-written backward against finite differences of σ
    f = straight_through_primitive(surrogate.function(name), spec.primitive, params)
    assert torch.autograd.gradcheck(f, (x,))


# --------------------------------------------------------------------------- module ≡ functional


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", NAMES)
def test_module_equals_functional(name: str, device: str) -> None:
    fn = surrogate.function(name)
    cls = surrogate.module_class(name)
    explicit = random_hparams(name)
    pairs: list[tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor],
                                                                       torch.Tensor]]] = [
        (cls(), lambda x: fn.apply(x)),  # omitted hyper-parameters take the defaults
        (cls(), lambda x: fn.apply(x, *defaults(name))),
        (cls(*explicit), lambda x: fn.apply(x, *explicit)),
        (cls(**dict(zip(surrogate.spec(name).names, explicit, strict=True))),
         lambda x: fn.apply(x, *explicit)),
    ]
    for module, functional in pairs:
        outputs, grads = [], []
        for call in (module, functional):
            x = sample_x(device, torch.float64).requires_grad_()
            torch.manual_seed(5)  # same Bernoulli draw for stochastic forwards
            y = call(x)
            y.backward(torch.linspace(-1, 1, x.numel(), dtype=x.dtype, device=device))
            outputs.append(y.detach())
            grads.append(x.grad)
        torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)
        torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)


# --------------------------------------------------------------------------- defaults


@pytest.mark.parametrize("name", NAMES)
def test_default_peak_gradient_is_one(name: str) -> None:
    x = torch.cat([torch.linspace(-10, 10, 2_000_001, dtype=torch.float64),
                   torch.zeros(1, dtype=torch.float64)]).requires_grad_()
    surrogate.get(name)(x).sum().backward()
    assert abs(x.grad.max().item() - 1.0) <= 1e-9, x.grad.max().item()


# --------------------------------------------------------------------------- invalid arguments


def _bad_values(name: str, hparam: str) -> list[tuple[object, type[Exception]]]:
    bad: list[tuple[object, type[Exception]]] = [
        (float("nan"), ValueError), (float("inf"), ValueError), (float("-inf"), ValueError),
        (-1.0, ValueError), ("1.0", TypeError), (True, TypeError), (1 + 0j, TypeError),
        (None, TypeError), (torch.tensor(1.0 + 0j), TypeError),
    ]
    if (name, hparam) not in ZERO_ALLOWED:
        bad.append((0.0, ValueError))
    return bad


@pytest.mark.parametrize(("name", "hparam"), HPARAM_CASES)
def test_invalid_hparam_rejected_naming_it(name: str, hparam: str) -> None:
    spec = surrogate.spec(name)
    cls = surrogate.module_class(name)
    index = spec.names.index(hparam)
    x = torch.randn(5)
    for value, error in _bad_values(name, hparam):
        with pytest.raises(error, match=word(hparam)):
            cls(**{hparam: value})
        with pytest.raises(error, match=word(hparam)):
            surrogate.get(name, **{hparam: value})
        args = list(defaults(name))
        args[index] = value
        with pytest.raises(error, match=word(hparam)):
            cls(*args)
        with pytest.raises(error, match=word(hparam)):
            surrogate.function(name).apply(x, *args)
        module = cls()
        with pytest.raises(error, match=word(hparam)):
            setattr(module, hparam, value)
        assert getattr(module, hparam) == spec.hparams[index].default  # left unchanged


def test_domain_boundaries_from_the_formulas() -> None:
    """Values that make a formula divide by zero or lose its meaning."""
    with pytest.raises(ValueError, match=word("alpha")):
        surrogate.QPseudoSpike(alpha=1.0)  # 2|x|/(alpha - 1)
    with pytest.raises(ValueError, match=word("n")):
        surrogate.SquarewaveFourierSeries(n=1)  # an empty sum
    with pytest.raises(ValueError, match=word("n")):
        surrogate.SquarewaveFourierSeries(n=2.5)  # a number of terms
    assert surrogate.SquarewaveFourierSeries(n=3.0).n == 3
    for name, hparam in sorted(ZERO_ALLOWED):  # a zero leak or slope is fine
        assert getattr(surrogate.get(name, **{hparam: 0}), hparam) == 0.0


BAD_INPUTS = [
    torch.arange(4, dtype=torch.int32) - 2,
    torch.arange(4, dtype=torch.int64) - 2,
    torch.tensor([True, False]),
    torch.tensor([1 + 1j, -1 - 0.5j], dtype=torch.complex64),
]


@pytest.mark.parametrize("x", BAD_INPUTS, ids=lambda t: str(t.dtype))
@pytest.mark.parametrize("name", NAMES)
def test_non_floating_input_rejected(name: str, x: torch.Tensor) -> None:
    calls = {
        "module spiking": surrogate.get(name),
        "module smooth": surrogate.get(name, spiking=False),
        "functional": surrogate.function(name).apply,
    }
    for label, call in calls.items():
        with pytest.raises(TypeError, match=word("x")):
            call(x)
            pytest.fail(f"{label} accepted dtype {x.dtype}")


# --------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("spiking", [True, False])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_dtype_sweep_finite(name: str, dtype: torch.dtype, spiking: bool, device: str) -> None:
    x = torch.tensor([1e4, -1e4, 3.0, -3.0, 1e-3, -1e-3, 0.0], dtype=dtype, device=device)
    x.requires_grad_()
    y = surrogate.get(name, spiking=spiking)(x)
    assert y.dtype == dtype and y.device == x.device
    assert torch.isfinite(y).all(), y
    y.sum().backward()
    assert x.grad is not None and x.grad.dtype == dtype
    assert torch.isfinite(x.grad).all(), x.grad


# --------------------------------------------------------------------------- serialisation


@pytest.mark.parametrize("name", NAMES)
def test_pickle_and_deepcopy_round_trip(name: str) -> None:
    params = random_hparams(name)
    module = surrogate.module_class(name)(*params, spiking=False)
    x = sample_x("cpu", torch.float64)
    for clone in (pickle.loads(pickle.dumps(module)), copy.deepcopy(module)):
        assert type(clone) is type(module)
        assert clone is not module
        assert clone.hparams == module.hparams == tuple(params)
        assert clone.spiking is False
        torch.testing.assert_close(clone(x), module(x), rtol=0, atol=0)
        clone.set_spiking_mode(True)
        module.set_spiking_mode(True)
        torch.manual_seed(3)
        expected = module(x)
        torch.manual_seed(3)
        torch.testing.assert_close(clone(x), expected, rtol=0, atol=0)
        module.set_spiking_mode(False)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_is_empty_and_loads(name: str) -> None:
    source = surrogate.module_class(name)(*random_hparams(name))
    assert source.state_dict() == {}
    target = surrogate.get(name)
    result = target.load_state_dict(source.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert target.hparams == defaults(name)  # hyper-parameters are not state
    assert list(source.parameters()) == [] and list(source.buffers()) == []


@pytest.mark.parametrize("name", NAMES)
def test_repr_shows_every_hparam(name: str) -> None:
    params = random_hparams(name)
    module = surrogate.module_class(name)(*params, spiking=False)
    text = repr(module)
    assert text.startswith(surrogate.spec(name).class_name + "(")
    for hparam, value in zip(surrogate.spec(name).names, params, strict=True):
        assert f"{hparam}={value}" in text, text
    assert "spiking=False" in text


# ------------------------------------------------------------------------ tensor hyper-parameters


@pytest.mark.parametrize("name", WITH_HPARAMS)
def test_no_gradient_to_tensor_hparams(name: str) -> None:
    spec = surrogate.spec(name)
    params = random_hparams(name)
    tensors = [torch.tensor(float(p), dtype=torch.float64, requires_grad=True) for p in params]
    x = sample_x("cpu", torch.float64).requires_grad_()
    y = surrogate.function(name).apply(x, *tensors)
    assert not any(t.grad is not None for t in tensors)
    y.sum().backward()
    assert all(t.grad is None for t in tensors)
    torch.testing.assert_close(x.grad, spec.derivative(x.detach(), *params))


@pytest.mark.parametrize(
    "name", [n for n in WITH_HPARAMS
             if not any(h.domain.integer for h in surrogate.spec(n).hparams)])
def test_elementwise_tensor_hparams(name: str) -> None:
    """Per-element hyper-parameter tensors act elementwise; they get no gradient."""
    spec = surrogate.spec(name)
    x = sample_x("cpu", torch.float64, n=10)
    columns = [random_hparams(name, salt=i) for i in range(x.numel())]
    tensors = [torch.tensor(column, dtype=torch.float64, requires_grad=True)
               for column in zip(*columns, strict=True)]
    x.requires_grad_()
    surrogate.function(name).apply(x, *tensors).sum().backward()
    assert all(t.grad is None for t in tensors)
    expected = torch.cat([spec.derivative(x.detach()[i:i + 1], *columns[i])
                          for i in range(x.numel())])
    torch.testing.assert_close(x.grad, expected)


# --------------------------------------------------------------------------- torch.compile, vmap

# Compilation dominates this file's run time: on 2 shared CPU cores the inductor test took
# 12-24 s and each aot_eager test 5-20 s (the whole file 45 s). So inductor compiles one module,
# and aot_eager compiles one graph per surrogate and API, with the cache reset in between (the
# modules share one ``forward``, so they would otherwise hit dynamo's recompile limit).


def test_compile_inductor_one_module() -> None:
    torch._dynamo.reset()
    module = surrogate.Sigmoid(alpha=3.0)
    compiled = torch.compile(module, backend="inductor", fullgraph=True)
    x = sample_x("cpu", torch.float32).requires_grad_()
    y = compiled(x)
    y.sum().backward()
    torch.testing.assert_close(y, (x >= 0).to(x.dtype))
    torch.testing.assert_close(x.grad, surrogate.spec("sigmoid").derivative(x.detach(), 3.0))


def test_compile_without_grad_is_one_graph_for_every_surrogate() -> None:
    """Inference (an input that needs no gradient) under fullgraph=True: torch.compile passed
    the context object as ``x`` when the number of arguments differed from forward's two
    parameters (``apply(x)``, a surrogate with two hyper-parameters), and the trace failed."""
    x = sample_x("cpu", torch.float32, n=8)
    for name in NAMES:
        module = surrogate.module_class(name)(*random_hparams(name))
        fn = surrogate.function(name)
        calls = {"module": module, "apply(x)": lambda x, fn=fn: fn.apply(x),
                 "apply(x, *all)": lambda x, fn=fn, p=module.hparams: fn.apply(x, *p)}
        for label, call in calls.items():
            torch._dynamo.reset()
            compiled = torch.compile(call, backend="eager", fullgraph=True)
            torch.manual_seed(11)  # same Bernoulli draw for stochastic forwards
            got = compiled(x)
            torch.manual_seed(11)
            assert torch.equal(got, call(x)), f"{name}, {label}"


def _check_compiled(name: str, call: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """``call`` compiled with aot_eager and fullgraph=True equals ``call``, values and grads."""
    torch._dynamo.reset()
    compiled = torch.compile(call, backend="aot_eager", fullgraph=True)
    grads, outputs = [], []
    for f in (compiled, call):
        x = sample_x("cpu", torch.float32, n=8).requires_grad_()
        torch.manual_seed(11)  # same Bernoulli draw for stochastic forwards
        y = f(x)
        y.sum().backward()
        outputs.append(y.detach())
        grads.append(x.grad)
    torch.testing.assert_close(outputs[0], outputs[1], msg=f"{name}: compiled forward differs")
    torch.testing.assert_close(grads[0], grads[1], msg=f"{name}: compiled backward differs")


def test_compile_aot_eager_all_modules() -> None:
    for name in NAMES:
        params = random_hparams(name)
        spiking = surrogate.module_class(name)(*params)
        smooth = surrogate.module_class(name)(*params, spiking=False)

        def both_modes(x: torch.Tensor, spiking: torch.nn.Module = spiking,
                       smooth: torch.nn.Module = smooth) -> torch.Tensor:
            return torch.stack([spiking(x), smooth(x)])

        _check_compiled(name, both_modes)


def test_compile_aot_eager_all_functionals() -> None:
    for name in NAMES:
        fn = surrogate.function(name)
        params = random_hparams(name)

        def call(x: torch.Tensor, fn: type[torch.autograd.Function] = fn,
                 params: tuple[float, ...] = params) -> torch.Tensor:
            return fn.apply(x, *params)

        _check_compiled(name, call)


@pytest.mark.parametrize("name", HEAVISIDE_NAMES)
def test_vmap_functional(name: str) -> None:
    fn = surrogate.function(name)
    params = random_hparams(name)
    xs = torch.randn(4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    xs[0, 0] = 0.0
    batched = torch.func.vmap(lambda x: fn.apply(x, *params))(xs)
    torch.testing.assert_close(batched, fn.apply(xs, *params), rtol=0, atol=0)
    per_row_grad = torch.func.vmap(torch.func.grad(lambda x: fn.apply(x, *params).sum()))(xs)
    torch.testing.assert_close(per_row_grad, surrogate.spec(name).derivative(xs, *params))


def test_parametrisation_covers_registry() -> None:
    """Guards the registry-driven parametrisation itself."""
    assert len(NAMES) == len(set(NAMES)) >= 18
    assert set(HEAVISIDE_NAMES) | set(BERNOULLI_NAMES) == set(NAMES)


# --------------------------------------------------------------------------- large |x| in half


@pytest.mark.parametrize("spiking", [True, False])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_half_precision_extremes_match_float64(name: str, dtype: torch.dtype,
                                               spiking: bool) -> None:
    """Up to the largest finite half value: finite, and equal to the float64 value at the same
    (exactly representable) x, so neither a NaN nor a gradient of the wrong sign comes back."""
    big = torch.finfo(dtype).max
    x = torch.tensor([big, -big, big / 3, -big / 7, 3e4, -2.5e4, 1234.5, -777.0], dtype=dtype)
    x.requires_grad_()
    y = surrogate.get(name, spiking=spiking)(x)
    y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all(), (y, x.grad)
    x64 = x.detach().double().requires_grad_()
    y64 = surrogate.get(name, spiking=spiking)(x64)
    y64.sum().backward()
    tol = 4 * torch.finfo(dtype).eps
    if surrogate.spec(name).forward == "heaviside" or not spiking:
        torch.testing.assert_close(y.double(), y64.detach().to(dtype).double(), rtol=tol,
                                   atol=tol)
    torch.testing.assert_close(x.grad.double(), x64.grad.to(dtype).double(), rtol=tol, atol=tol)


def test_squarewave_derivative_keeps_its_sign_at_large_float16_x() -> None:
    # 65504 = 4 · 16376: a whole number of periods (T = 4), so σ′ = σ′(0) = 1 exactly;
    # 2046 = 4 · 511 + 2: half a period, σ′ = cos(π) = −1
    sg = surrogate.SquarewaveFourierSeries()
    x = torch.tensor([65504.0, -65504.0, 2046.0], dtype=torch.float16)
    torch.testing.assert_close(sg.derivative(x).float(), torch.tensor([1.0, 1.0, -1.0]))
