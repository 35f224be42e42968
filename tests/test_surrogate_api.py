"""The public API of ``sgcourse.surrogate``: registry, names, signatures, validation, docs."""

from __future__ import annotations

import inspect
import re

import pytest
import torch

import sgcourse.surrogate
from sgcourse import surrogate

# The registry order is the surrogate id used by fused kernels: ids must never change, new
# surrogates are appended. The first seven are also SpikingJelly's Triton surrogate ids.
EXPECTED_ORDER = (
    "sigmoid", "atan", "piecewise_quadratic", "piecewise_exp", "soft_sign", "super_spike", "erf",
    "nonzero_sign_log_abs", "piecewise_leaky_relu", "squarewave_fourier_series", "s2nn",
    "q_pseudo_spike", "leaky_k_relu", "fake_numerical_gradient", "log_tailed_relu", "rect",
    "deterministic_pass", "poisson_pass",
)
SPIKINGJELLY_TRITON_IDS = {"Sigmoid": 0, "ATan": 1, "PiecewiseQuadratic": 2, "PiecewiseExp": 3,
                           "SoftSign": 4, "SuperSpike": 5, "Erf": 6}
NAMES = surrogate.available()
WITH_HPARAMS = [n for n in NAMES if surrogate.spec(n).hparams]


def _class_name(name: str) -> str:
    return surrogate.spec(name).class_name


def word(name: str) -> str:
    """A regex that finds ``name`` as a whole word in an error message."""
    return rf"\b{re.escape(name)}\b"


# --------------------------------------------------------------------------- registry


def test_available_lists_every_surrogate_in_id_order() -> None:
    names = surrogate.available()
    assert tuple(names) == EXPECTED_ORDER
    assert len(names) == len(set(names)) == 18
    assert [surrogate.surrogate_id(n) for n in names] == list(range(len(names)))
    names.append("not a surrogate")  # a fresh list: callers cannot corrupt the registry
    assert tuple(surrogate.available()) == EXPECTED_ORDER


def test_surrogate_ids_are_stable_and_unique() -> None:
    for class_name, expected in SPIKINGJELLY_TRITON_IDS.items():
        assert surrogate.surrogate_id(class_name) == expected
    ids = {surrogate.surrogate_id(n) for n in NAMES}
    assert len(ids) == len(NAMES)
    for name in NAMES:
        module = surrogate.get(name)
        assert surrogate.surrogate_id(module) == surrogate.surrogate_id(name)
        assert surrogate.surrogate_id(_class_name(name)) == surrogate.surrogate_id(name)
    with pytest.raises(ValueError, match="unknown surrogate"):
        surrogate.surrogate_id("no_such_surrogate")


@pytest.mark.parametrize("name", NAMES)
def test_get_accepts_snake_and_camel_case(name: str) -> None:
    cls = surrogate.module_class(name)
    for spelling in (name, _class_name(name), _class_name(name).lower(), f"  {name} "):
        module = surrogate.get(spelling)
        assert type(module) is cls
        assert module.hparams == tuple(h.default for h in surrogate.spec(name).hparams)
        assert surrogate.spec(spelling) is cls.spec
        assert surrogate.module_class(spelling) is cls
        assert surrogate.function(spelling) is surrogate.function(name)
    assert surrogate.get(name, spiking=False).spiking is False


@pytest.mark.parametrize("name", NAMES)
def test_registry_objects_are_consistent(name: str) -> None:
    spec = surrogate.spec(name)
    cls = surrogate.module_class(name)
    fn = surrogate.function(name)
    assert cls.spec is spec and fn.spec is spec and cls.function is fn
    assert getattr(surrogate, spec.class_name) is cls
    assert getattr(surrogate, name) is fn
    assert issubclass(cls, surrogate.Surrogate) and issubclass(cls, torch.nn.Module)
    assert issubclass(fn, torch.autograd.Function)
    assert {name, spec.class_name} <= set(surrogate.__all__)
    assert cls.__module__ == fn.__module__ == "sgcourse.surrogate"
    assert cls.__name__ == spec.class_name and fn.__name__ == name


def test_get_rejects_unknown_names_listing_available() -> None:
    with pytest.raises(ValueError, match="unknown surrogate") as info:
        surrogate.get("sigmoidd")
    for name in NAMES:
        assert name in str(info.value)
    for bad in ("", "Sigmoid2", "relu"):
        with pytest.raises(ValueError):
            surrogate.get(bad)
    with pytest.raises(TypeError, match=word("name")):
        surrogate.get(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", WITH_HPARAMS)
def test_get_passes_hyper_parameters(name: str) -> None:
    spec = surrogate.spec(name)
    h = spec.hparams[-1]
    value = h.default + 1
    module = surrogate.get(name, **{h.name: value})
    assert getattr(module, h.name) == value
    with pytest.raises(TypeError, match="not_a_hparam"):
        surrogate.get(name, not_a_hparam=1.0)


# --------------------------------------------------------------------------- classes


@pytest.mark.parametrize("name", NAMES)
def test_docstrings_carry_the_latex(name: str) -> None:
    spec = surrogate.spec(name)
    doc = surrogate.module_class(name).__doc__
    assert doc is not None
    assert spec.primitive_tex in doc and spec.derivative_tex in doc
    for h in spec.hparams:
        assert h.name in doc
    assert "spiking" in doc
    assert f"{name}.apply(x" in doc
    fn_doc = surrogate.function(name).__doc__
    assert fn_doc is not None and spec.class_name in fn_doc


@pytest.mark.parametrize("name", NAMES)
def test_signature_shows_hparams_and_keyword_only_spiking(name: str) -> None:
    spec = surrogate.spec(name)
    params = list(inspect.signature(surrogate.module_class(name)).parameters.values())
    assert [p.name for p in params] == [*spec.names, "spiking"]
    for p, h in zip(params, spec.hparams, strict=False):
        assert p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        assert p.default == h.default
    assert params[-1].kind is inspect.Parameter.KEYWORD_ONLY
    assert params[-1].default is True


@pytest.mark.parametrize("name", NAMES)
def test_spiking_must_be_bool(name: str) -> None:
    cls = surrogate.module_class(name)
    for bad in (1, 0, "yes", None, torch.tensor(True)):
        with pytest.raises(TypeError, match=word("spiking")):
            cls(spiking=bad)
        module = cls()
        with pytest.raises(TypeError, match=word("spiking")):
            module.spiking = bad
        with pytest.raises(TypeError, match=word("spiking")):
            module.set_spiking_mode(bad)  # type: ignore[arg-type]
        assert module.spiking is True
    with pytest.raises(TypeError):
        cls(*[h.default for h in surrogate.spec(name).hparams], False)  # spiking positionally


@pytest.mark.parametrize("name", WITH_HPARAMS)
def test_setting_a_hparam_revalidates(name: str) -> None:
    spec = surrogate.spec(name)
    module = surrogate.get(name)
    for h in spec.hparams:
        setattr(module, h.name, 3)  # an int is accepted and converted
        value = getattr(module, h.name)
        assert value == 3
        assert type(value) is (int if h.domain.integer else float)
        with pytest.raises(ValueError, match=word(h.name)):
            setattr(module, h.name, -1.0)
        with pytest.raises(TypeError, match=word(h.name)):
            setattr(module, h.name, "2")
        assert getattr(module, h.name) == 3  # unchanged by the failed assignments
    assert module.hparams == tuple(3 for _ in spec.hparams)
    x = torch.linspace(-2, 2, 9, dtype=torch.float64, requires_grad=True)
    module(x).sum().backward()
    torch.testing.assert_close(x.grad, spec.derivative(x.detach(), *module.hparams))
    torch.testing.assert_close(module.derivative(x.detach()),
                               spec.derivative(x.detach(), *module.hparams))
    torch.testing.assert_close(module.primitive(x.detach()),
                               spec.primitive(x.detach(), *module.hparams))


@pytest.mark.parametrize("name", NAMES)
def test_wrong_arguments_raise_type_error(name: str) -> None:
    spec = surrogate.spec(name)
    cls = surrogate.module_class(name)
    fn = surrogate.function(name)
    defaults = [h.default for h in spec.hparams]
    x = torch.randn(4)
    with pytest.raises(TypeError, match="unexpected"):
        cls(not_a_hparam=1.0)
    with pytest.raises(TypeError, match="positional"):
        cls(*defaults, 1.0)
    with pytest.raises(TypeError):
        fn.apply(x, *defaults, 1.0)
    if spec.hparams:
        first = spec.hparams[0].name
        with pytest.raises(TypeError, match=word(first)):
            cls(spec.hparams[0].default, **{first: spec.hparams[0].default})


@pytest.mark.parametrize("name", WITH_HPARAMS)
def test_hparams_are_plain_numbers(name: str) -> None:
    module = surrogate.get(name)
    for h in surrogate.spec(name).hparams:
        assert type(getattr(module, h.name)) is (int if h.domain.integer else float)
        assert h.doc and h.domain.description
    # a one-element tensor is accepted as a number, never kept as a tensor
    h = surrogate.spec(name).hparams[0]
    module = surrogate.get(name, **{h.name: torch.tensor(float(h.default) + 1)})
    assert not isinstance(getattr(module, h.name), torch.Tensor)


# --------------------------------------------------------------------------- heaviside


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64,
                                   torch.int32, torch.int64], ids=str)
def test_heaviside_preserves_dtype_and_device(dtype: torch.dtype) -> None:
    x = torch.tensor([-3, -1, 0, 1, 2]).to(dtype)
    y = surrogate.heaviside(x)
    assert y.dtype == dtype and y.device == x.device and y.shape == x.shape
    assert y.tolist() == [0, 0, 1, 1, 1]


def test_heaviside_at_zero_is_one() -> None:
    x = torch.tensor([0.0, -0.0, 1e-30, -1e-30, -torch.finfo(torch.float64).tiny],
                     dtype=torch.float64)
    assert surrogate.heaviside(x).tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]


def test_heaviside_rejects_complex_bool_and_non_tensors() -> None:
    for bad in (torch.tensor([1 + 1j]), torch.tensor([True, False])):
        with pytest.raises(TypeError, match=word("x")):
            surrogate.heaviside(bad)
    with pytest.raises(TypeError, match="Tensor"):
        surrogate.heaviside([0.0, 1.0])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- module docstring


def test_module_docstring_tabulates_the_changed_defaults() -> None:
    doc = sgcourse.surrogate.__doc__
    assert doc is not None
    # table rows: the lines between the reST "====" rules, minus the header
    rules = [i for i, line in enumerate(doc.splitlines()) if re.fullmatch(r"[= ]+", line.strip())
             and "=" in line]
    assert len(rules) == 3, "expected a simple reST table (three rules)"
    rows = doc.splitlines()[rules[1] + 1:rules[2]]
    tabulated = {row.split()[0]: row for row in rows if row.strip()}
    changed = {s.class_name: s for s in map(surrogate.spec, NAMES)
               if any(h.reference_default is not None for h in s.hparams)}
    assert set(tabulated) == set(changed)
    for class_name, spec in changed.items():
        row = tabulated[class_name]
        for h in spec.hparams:
            if h.reference_default is None:
                continue
            for value in (h.reference_default, h.default):
                spellings = {f"{h.name}={value:g}", f"{h.name}={round(value, 4):g}"}
                assert any(s in row for s in spellings) or f"≈ {round(value, 4):g}" in row, (
                    f"{class_name}: {h.name}={value} missing from {row!r}")


@pytest.mark.parametrize("name", WITH_HPARAMS)
def test_module_refuses_learnable_hyper_parameters(name):
    """An nn.Parameter hyper-parameter would be read as a float, never learn, and not appear in
    .parameters(); a plain tensor without grad is a number and is accepted."""
    h = surrogate.spec(name).hparams[0]
    learnable = torch.nn.Parameter(torch.tensor(float(h.default)))
    with pytest.raises(TypeError, match=rf"\b{h.name}\b.*requires grad"):
        surrogate.get(name, **{h.name: learnable})
    module = surrogate.get(name)
    with pytest.raises(TypeError, match=rf"\b{h.name}\b.*requires grad"):
        setattr(module, h.name, learnable)
    assert getattr(module, h.name) == h.default and list(module.parameters()) == []
    accepted = surrogate.get(name, **{h.name: learnable.detach()})
    assert getattr(accepted, h.name) == pytest.approx(h.default, rel=1e-6)  # float32 rounding


def test_tensor_hyper_parameters_are_checked_entry_by_entry():
    x = torch.linspace(-1, 1, 12).reshape(3, 4).requires_grad_()
    alpha = torch.tensor([[1.0], [2.0], [4.0]])  # one alpha per row: broadcasts to x
    surrogate.sigmoid.apply(x, alpha).sum().backward()
    torch.testing.assert_close(x.grad, surrogate.spec("sigmoid").derivative(x.detach(), alpha))
    for bad, pattern in [(torch.tensor([1.0, -2.0, 3.0, 4.0]), r"every entry of alpha"),
                         (torch.tensor([1.0, float("nan"), 3.0, 4.0]), r"every entry of alpha"),
                         (torch.ones(3), r"alpha must be a number or a tensor that broadcasts"),
                         (torch.ones(2, 3, 4), r"alpha must be a number or a tensor that broad")]:
        with pytest.raises(ValueError, match=pattern):
            surrogate.sigmoid.apply(x, bad)
    with pytest.raises(ValueError, match=r"every entry of n must be an integer >= 2"):
        surrogate.squarewave_fourier_series.apply(x, torch.full((3, 4), 2.5))


def test_hyper_parameters_are_checked_under_torch_compile():
    """The checks used to be skipped while torch.compile traced the functional API."""
    x = torch.linspace(-1, 1, 12).reshape(3, 4)
    alpha = torch.tensor([1.0, 2.0, 3.0, 4.0])
    compiled = torch.compile(lambda x, a: surrogate.sigmoid.apply(x, a), backend="eager")
    torch.testing.assert_close(compiled(x, alpha), surrogate.sigmoid.apply(x, alpha))
    with pytest.raises(ValueError, match=r"every entry of alpha must be a finite number > 0, "
                                         r"got the entries \[-1.0, -2.0, -3.0\] \(first 3"):
        compiled(x, -alpha)
    with pytest.raises(ValueError, match=r"alpha must be a finite number > 0, got -2.0"):
        compiled(x, -2.0)


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_tensor_entries_raise_value_error_inside_a_full_graph(backend):
    """The entry check runs inside the compiled graph (it was a RuntimeError from an assertion):
    one graph with no break, a ValueError when it runs on bad entries, gradients unchanged."""
    torch._dynamo.reset()
    x = torch.linspace(-1, 1, 12).reshape(3, 4).requires_grad_()
    alpha = torch.tensor([1.0, 2.0, 3.0, 4.0])
    compiled = torch.compile(lambda x, a: surrogate.sigmoid.apply(x, a), backend=backend,
                             fullgraph=True)
    compiled(x, alpha).sum().backward()
    want = torch.autograd.grad(surrogate.sigmoid.apply(x, alpha).sum(), x)[0]
    torch.testing.assert_close(x.grad, want)
    with pytest.raises(ValueError, match=r"every entry of alpha .*got the entries \[nan\]"):
        compiled(x, torch.tensor([1.0, float("nan"), 3.0, 4.0]))
    with pytest.raises(ValueError, match=r"x must not contain NaN"):
        torch.compile(surrogate.PoissonPass(), backend=backend, fullgraph=True)(
            torch.tensor([0.5, float("nan")]))


def test_a_bad_number_under_fullgraph_names_the_argument_in_dynamo_error():
    """A number is checked while tracing; with fullgraph=True torch reports the raised
    ValueError as a dynamo error (it cannot leave the graph), with our message in it."""
    torch._dynamo.reset()
    compiled = torch.compile(lambda x: surrogate.sigmoid.apply(x, -2.0), backend="eager",
                             fullgraph=True)
    with pytest.raises(Exception, match=r"alpha must be a finite number > 0, got -2.0"):
        compiled(torch.zeros(3))


def test_poisson_pass_refuses_nan_and_samples_clamped_probabilities():
    x = torch.tensor([-1.0, 0.0, 1.0, 2.0, float("inf")])
    assert surrogate.PoissonPass()(x).tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match=r"x must not contain NaN.*got the entries \[nan\]"):
        surrogate.PoissonPass()(torch.tensor([0.5, float("nan")]))
