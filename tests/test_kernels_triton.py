r"""Tests of the Triton backend (``sgcourse.kernels.triton``).

Every kernel test runs twice: in the Triton interpreter on CPU tensors (always; this is what CI
runs) and compiled on CUDA (skipped when there is no GPU). The interpreter is switched on with
``use_interpreter()``, which affects only sgcourse's kernels — not ``TRITON_INTERPRET``, which
Triton reads once per ``@triton.jit`` and would leak into other test modules of the same
pytest(-xdist) worker; ``test_interpreter_does_not_leak`` checks that.

The reference is an independent per-step loop through autograd, written here:

.. math::

    H_t = V_{t-1} + k(X_t - (V_{t-1} - V_r)) \text{ or } V_{t-1} - k(V_{t-1} - V_r) + X_t,\quad
    S_t = \Theta(H_t - V_{th}),\quad V_t = \hat S_t V_r + (1 - \hat S_t)H_t \text{ or }
    H_t - \hat S_t V_{th}.

Shapes are tiny (T = 4, N = 37 neurons, block 32: two programs, the second one partial) because
the interpreter executes every kernel operation in numpy.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest
import torch

from sgcourse import surrogate
from sgcourse.kernels import triton as kt

# Skipped only when Triton is not installed; a broken install fails (tests/conftest.py).
pytestmark = pytest.mark.triton

T, N, BLOCK = 4, 37, 32
V_TH = 1.0
REL_TOL = 1e-5  # float32 relative error of v and of every gradient (max-abs / max-abs of ref)

DEVICES = [
    pytest.param("interpreter", id="interpreter"),
    pytest.param("cuda", id="cuda", marks=pytest.mark.skipif(
        not torch.cuda.is_available(), reason="no CUDA device: the compiled kernels need one")),
]


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> Iterator[str]:
    """The torch device of the inputs, with the interpreter on (CPU) or explicitly off (CUDA)."""
    with kt.use_interpreter(request.param == "interpreter"):
        yield "cpu" if request.param == "interpreter" else "cuda"


# ------------------------------------------------------------------------------------------
# Independent reference
# ------------------------------------------------------------------------------------------


def reference(x_seq: torch.Tensor, v_init: torch.Tensor, k: float | torch.Tensor,
              decay_input: bool, v_reset: float | None, detach_reset: bool,
              sg: surrogate.Surrogate) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-step LIF through autograd (float32), the surrogate module supplying σ′."""
    vr = 0.0 if v_reset is None else v_reset
    v = v_init
    spikes, vs = [], []
    for x in x_seq.unbind(0):
        h = v + k * (x - (v - vr)) if decay_input else v - k * (v - vr) + x
        s = sg(h - V_TH)
        s_hat = s.detach() if detach_reset else s
        v = s_hat * vr + (1 - s_hat) * h if v_reset is not None else h - s_hat * V_TH
        spikes.append(s)
        vs.append(v)
    return torch.stack(spikes), torch.stack(vs)


def rel_err(got: torch.Tensor, ref: torch.Tensor) -> float:
    scale = ref.abs().max().clamp_min(1e-12)
    return ((got.float() - ref.float()).abs().max() / scale).item()


NEURONS = ("IF", "LIF", "PLIF")
RESETS = (0.0, -0.2, None)
# Surrogates with non-default hyper-parameters; the configurations below cycle through them.
PARITY_SURROGATES = (
    lambda: surrogate.Sigmoid(alpha=3.0),
    lambda: surrogate.ATan(),
    lambda: surrogate.PiecewiseLeakyReLU(w=0.8, c=0.05),
    lambda: surrogate.SquarewaveFourierSeries(n=3, T_period=5.0),
    lambda: surrogate.QPseudoSpike(alpha=3.0),
    lambda: surrogate.Erf(),
    lambda: surrogate.S2NN(alpha=3.0, beta=0.7),
)
CONFIGS = [
    (neuron, v_reset, detach, decay_input)
    for neuron in NEURONS
    for v_reset in RESETS
    for detach in (False, True)
    for decay_input in ((False,) if neuron == "IF" else (True, False))
]


def _case(neuron: str, device: str) -> tuple[float | torch.Tensor, torch.Tensor | None]:
    """(decay k, the leaf that k depends on or None)."""
    if neuron == "IF":
        return 0.0, None
    if neuron == "LIF":
        return 1.0 / 3.0, None
    w = torch.tensor(-0.4, device=device, requires_grad=True)
    return torch.sigmoid(w), w


def _inputs(device: str, dtype: torch.dtype = torch.float32, shape: tuple[int, ...] = (N,),
            seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn(T, *shape, generator=gen) * 1.2 + 0.6).to(device=device, dtype=dtype)
    v0 = (torch.randn(*shape, generator=gen) * 0.3).to(device=device, dtype=dtype)
    a = torch.randn(T, *shape, generator=gen).to(device=device, dtype=dtype)
    b = torch.randn(T, *shape, generator=gen).to(device=device, dtype=dtype)
    return x.requires_grad_(), v0.requires_grad_(), a, b


def _grads(loss: torch.Tensor, leaves: list[torch.Tensor]) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, leaves, retain_graph=True))  # k = sigmoid(w) is shared


@pytest.mark.parametrize(("neuron", "v_reset", "detach_reset", "decay_input"), CONFIGS)
def test_parity_with_reference(device: str, neuron: str, v_reset: float | None,
                               detach_reset: bool, decay_input: bool) -> None:
    index = CONFIGS.index((neuron, v_reset, detach_reset, decay_input))
    sg = PARITY_SURROGATES[index % len(PARITY_SURROGATES)]()
    x, v0, a, b = _inputs(device, seed=index)
    k, w = _case(neuron, device)
    leaves = [x, v0] + ([w] if w is not None else [])
    opts = dict(decay_input=decay_input, v_threshold=V_TH, v_reset=v_reset,
                detach_reset=detach_reset, surrogate=sg)

    s, v = kt.lif_multistep(x, v0, k, block_size=BLOCK, **opts)
    got = _grads((a * s).sum() + (b * v).sum(), leaves)
    s_ref, v_ref = reference(x, v0, k, decay_input, v_reset, detach_reset, sg)
    want = _grads((a * s_ref).sum() + (b * v_ref).sum(), leaves)

    assert s.shape == v.shape == x.shape and s.dtype == v.dtype == x.dtype
    assert 0 < s_ref.mean() < 1, "inputs should make some but not all neurons fire"
    assert torch.equal(s, s_ref.detach())
    assert rel_err(v, v_ref) <= REL_TOL
    for name, g, g_ref in zip(("x", "v_init", "w"), got, want, strict=False):
        assert g.shape == g_ref.shape
        assert rel_err(g, g_ref) <= REL_TOL, f"grad of {name}"


@pytest.mark.parametrize("used", ["spikes", "v_seq", "last_v"])
def test_partial_losses(device: str, used: str) -> None:
    """Only some outputs in the loss: the other incoming gradients are absent (None/zero)."""
    x, v0, _, _ = _inputs(device, shape=(3, 2, 5))
    k, w = _case("PLIF", device)
    sg = surrogate.Rect(alpha=0.8)
    opts = dict(decay_input=True, v_threshold=V_TH, v_reset=None, detach_reset=False,
                surrogate=sg)
    loss = {"spikes": lambda s, v: s.sum(), "v_seq": lambda s, v: (v * v).sum(),
            "last_v": lambda s, v: v[-1].sum()}[used]
    got = _grads(loss(*kt.lif_multistep(x, v0, k, block_size=16, **opts)), [x, v0, w])
    want = _grads(loss(*reference(x, v0, k, True, None, False, sg)), [x, v0, w])
    for g, g_ref in zip(got, want, strict=True):
        assert rel_err(g, g_ref) <= REL_TOL


def test_default_block_and_broadcast_v_init(device: str) -> None:
    x, _, a, _ = _inputs(device)
    v0 = torch.tensor(0.1, device=device, requires_grad=True)  # broadcast to [N]
    sg = surrogate.SuperSpike()
    s, v = kt.lif_multistep(x, v0, 0.5, decay_input=False, v_threshold=V_TH, v_reset=0.0,
                            detach_reset=False, surrogate=sg)
    s_ref, v_ref = reference(x, v0, 0.5, False, 0.0, False, sg)
    assert torch.equal(s, s_ref.detach()) and rel_err(v, v_ref) <= REL_TOL
    got = _grads((a * v).sum(), [x, v0])
    want = _grads((a * v_ref).sum(), [x, v0])
    assert v0.grad is None and got[1].shape == ()
    for g, g_ref in zip(got, want, strict=True):
        assert rel_err(g, g_ref) <= REL_TOL


def test_single_time_step(device: str) -> None:
    """T = 1: the backward kernel's loop is empty and only its peeled last step runs."""
    x, v0, a, b = (t[:1] if t.dim() == 2 else t for t in _inputs(device))
    k, w = _case("PLIF", device)
    sg = surrogate.PiecewiseQuadratic()
    opts = dict(decay_input=True, v_threshold=V_TH, v_reset=None, detach_reset=False,
                surrogate=sg)
    s, v = kt.lif_multistep(x, v0, k, block_size=BLOCK, **opts)
    s_ref, v_ref = reference(x, v0, k, True, None, False, sg)
    assert s.shape == (1, N) and torch.equal(s, s_ref.detach())
    leaves = [x, v0, w]  # x: the [1, N] slice, a node of both graphs
    got = _grads((a * s).sum() + (b * v).sum(), leaves)
    want = _grads((a * s_ref).sum() + (b * v_ref).sum(), leaves)
    for g, g_ref in zip(got, want, strict=True):
        assert rel_err(g, g_ref) <= REL_TOL


@pytest.mark.parametrize("neuron", ["LIF", "PLIF"])
def test_saves_h_seq_not_x(device: str, neuron: str) -> None:
    """The backward pass keeps H (float32) alive; X only for ∂L/∂k with decay_input."""
    x, v0, _, _ = _inputs(device)
    k, _ = _case(neuron, device)
    saved: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        kt.lif_multistep(x, v0, k, decay_input=True, v_threshold=V_TH, v_reset=0.0,
                         detach_reset=False, surrogate=surrogate.Sigmoid())
    big = [t for t in saved if t.numel() == x.numel()]
    assert any(t.dtype == torch.float32 and t.shape == x.shape for t in big)  # h_seq
    keeps_x = any(t.data_ptr() == x.data_ptr() for t in big)
    assert keeps_x == (neuron == "PLIF")
    assert len(big) == 1 + keeps_x


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs(device: str, dtype: torch.dtype) -> None:
    """fp16/bf16 in and out, float32 state: equal spikes, v and grads close to float32 math."""
    x, v0, a, b = _inputs(device, dtype=dtype)
    k, w = _case("PLIF", device)
    sg = surrogate.ATan()
    s, v = kt.lif_multistep(x, v0, k, decay_input=True, v_threshold=V_TH, v_reset=0.0,
                            detach_reset=False, surrogate=sg, block_size=BLOCK)
    assert s.dtype == v.dtype == dtype
    got = _grads((a * s).sum() + (b * v).sum(), [x, v0, w])
    assert got[0].dtype == got[1].dtype == dtype
    # The same (rounded) numbers in float32: the kernel's state math is exactly this.
    x32, v32 = (t.detach().float().requires_grad_() for t in (x, v0))
    s_ref, v_ref = reference(x32, v32, k, True, 0.0, False, sg)
    want = _grads((a.float() * s_ref).sum() + (b.float() * v_ref).sum(), [x32, v32, w])
    assert torch.equal(s.float(), s_ref.detach())
    tol = 1e-2 if dtype == torch.bfloat16 else 2e-3
    assert rel_err(v, v_ref) <= tol
    for g, g_ref in zip(got, want, strict=True):
        assert rel_err(g, g_ref) <= tol


# ------------------------------------------------------------------------------------------
# σ′ written in Triton, for every registered surrogate
# ------------------------------------------------------------------------------------------


def _non_default(spec: surrogate.SurrogateSpec) -> dict[str, float]:
    """Valid hyper-parameters different from the defaults (computed, so new surrogates get some)."""
    values = {}
    for h in spec.hparams:
        value = h.default + 1 if h.domain.integer else h.default * 1.5 + 0.25
        values[h.name] = h.validate(value)
    return values


@pytest.mark.parametrize("name", surrogate.available())
def test_surrogate_grad_matches_registry(device: str, name: str) -> None:
    spec = surrogate.spec(name)
    if spec.forward != "heaviside":
        assert not kt.supports(surrogate.get(name), torch.zeros(1, device=device))
        return
    assert name in kt.KERNEL_SURROGATES, (
        f"surrogate {name!r} has no Triton σ′: give its declaration a triton_derivative")
    assert kt.KERNEL_SURROGATES[name] == surrogate.surrogate_id(name)
    grid = torch.linspace(-3, 3, 601)
    for hparams in ({}, _non_default(spec)):
        sg = surrogate.get(name, **hparams)
        special = [*sg.spec.kinks(*sg.hparams), 0.0, 1e-7, -1e-7, 40.0, -40.0]
        x = torch.cat([grid, torch.tensor(special)]).to(device)
        want = sg.derivative(x.double())
        got = kt._surrogate_grad(x, sg, block_size=256)
        assert got.dtype == torch.float32 and torch.isfinite(got).all()
        # float32 error: relative 1e-5, plus a term growing with |x| (the argument of exp/cos
        # is rounded to float32, which matters for the periodic SquarewaveFourierSeries).
        bound = 1e-5 * want.abs() + 1e-6 * want.abs().max() * (1 + x.double().abs())
        err = (got.double() - want).abs()
        worst = int((err - bound).argmax())
        assert (err <= bound).all(), (f"{name} {hparams}: at x = {x[worst].item()}, Triton "
                                      f"{got[worst].item()} vs {want[worst].item()}")
        assert kt.supports(sg, x)


def test_supports() -> None:
    x = torch.zeros(T, N)
    sg = surrogate.Sigmoid()
    with kt.use_interpreter():
        assert kt.supports(sg, x)
        assert kt.supports(sg, x.half()) and kt.supports(sg, x.bfloat16())
        assert not kt.supports(sg, x.double())
        assert not kt.supports(surrogate.Sigmoid(spiking=False), x)
        assert not kt.supports(surrogate.PoissonPass(), x)
        assert not kt.supports(lambda z: z, x)
        assert not kt.supports(sg, "x")
    with kt.use_interpreter(False):
        assert not kt.supports(sg, x)  # a CPU tensor needs the interpreter


def test_kernel_ids_come_from_the_registry() -> None:
    """The generated σ′ dispatches on the registry's ids, one branch per declaration."""
    from sgcourse.kernels import _triton_surrogates

    source = _triton_surrogates.source()
    for name, sid in kt.KERNEL_SURROGATES.items():
        assert sid == surrogate.surrogate_id(name)
        assert f"SURROGATE == {sid}:  # {name}\n" in source
        for line in surrogate.spec(name).triton_derivative.splitlines():
            assert line in source
    assert source.count("SURROGATE == ") == len(kt.KERNEL_SURROGATES)


def test_surrogate_without_triton_formula_is_not_supported(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """A surrogate missing from the generated table (e.g. registered later) is refused."""
    monkeypatch.delitem(kt.KERNEL_SURROGATES, "atan")
    with kt.use_interpreter():
        assert not kt.supports(surrogate.ATan(), torch.zeros(2, 3))
        with pytest.raises(ValueError, match="surrogate"):
            kt.lif_multistep(torch.zeros(2, 3), torch.zeros(3), 0.5, decay_input=True,
                             v_threshold=1.0, v_reset=0.0, detach_reset=False,
                             surrogate=surrogate.ATan())

# ------------------------------------------------------------------------------------------
# torch.library registration
# ------------------------------------------------------------------------------------------


def _op_args(device: str) -> tuple[object, ...]:
    x, v0, _, _ = _inputs(device, shape=(20,))
    decay = torch.tensor(0.4, device=device, requires_grad=True)
    # decay_input, hard_reset, v_th, v_reset, detach, surrogate id (atan), p0, p1, n, block, interp
    return (x, v0, decay, True, True, V_TH, -0.2, False, 1, 2.0, 0.0, 0, 16, kt.interpreting())


def test_opcheck(device: str) -> None:
    torch.library.opcheck(torch.ops.sgcourse.lif_multistep_triton.default, _op_args(device))


def test_opcheck_backward(device: str) -> None:
    x, v0, decay, *config = _op_args(device)
    _, _, h = torch.ops.sgcourse.lif_multistep_triton(x, v0, decay, *config)
    grads = (torch.randn_like(x), None, torch.randn_like(h))
    op = torch.ops.sgcourse.lif_multistep_triton_backward.default
    tensors = (h.detach(), x.detach(), v0.detach(), decay.detach(), x.dtype)
    torch.library.opcheck(op, (*grads, *tensors, *config, True))
    # Without the decay gradient, x_seq is not needed (and not saved by the forward op).
    tensors = (h.detach(), None, v0.detach(), decay.detach(), x.dtype)
    torch.library.opcheck(op, (*grads, *tensors, *config, False))


def test_torch_compile(device: str) -> None:
    sg = surrogate.ATan()
    x, v0, a, b = _inputs(device)
    w = torch.tensor(0.2, device=device, requires_grad=True)

    def layer(x: torch.Tensor, v0: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        s, v = kt.lif_multistep(x, v0, torch.sigmoid(w), decay_input=True, v_threshold=V_TH,
                                v_reset=None, detach_reset=True, surrogate=sg)
        return (a * s).sum() + (b * v).sum()

    compiled = torch.compile(layer, backend="aot_eager", fullgraph=True)
    got = _grads(compiled(x, v0, w), [x, v0, w])
    want = _grads(layer(x, v0, w), [x, v0, w])
    for g, g_ref in zip(got, want, strict=True):
        torch.testing.assert_close(g, g_ref, rtol=0, atol=0)


# ------------------------------------------------------------------------------------------
# Compiled kernels: build them for an H100/H200 (sm_90) without a GPU
# ------------------------------------------------------------------------------------------
# The interpreter runs the kernels' Python, not Triton's compiler, which is stricter (e.g. it
# rejects non-constexpr globals). Triton ships ptxas, so the real compiler can run on CPU.

_PTR = {torch.float32: "*fp32", torch.float16: "*fp16", torch.bfloat16: "*bf16"}
_FLAGS = ("DECAY_INPUT", "HARD_RESET", "DETACH_RESET", "HAS_GRAD_SPIKE", "HAS_GRAD_V",
          "HAS_GRAD_H", "NEED_GRAD_DECAY", "GRAD_V_LAST")


def _compile_sm90(fn: object, signature: dict[str, str], constexprs: dict[str, object]) -> None:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    signature = {**signature, **{name: "constexpr" for name in constexprs}}
    # An unusable bundled ptxas (a broken toolchain) fails here: it must not skip.
    compiled = triton.compile(ASTSource(fn, signature, constexprs),
                              target=GPUTarget("cuda", 90, 32),
                              options={"num_warps": 4, "enable_fp_fusion": False})
    assert compiled.asm["cubin"]


@pytest.mark.parametrize("surrogate_id", sorted(kt.KERNEL_SURROGATES.values()))
def test_backward_kernel_compiles_for_sm90(surrogate_id: int) -> None:
    """Every surrogate's σ′, each with a different combination of the eight flags."""
    dtype = tuple(_PTR)[surrogate_id % 3]
    flags = {name: bool((surrogate_id * 37 + 11) >> i & 1) for i, name in enumerate(_FLAGS)}
    io, f32 = _PTR[dtype], "*fp32"
    signature = dict(
        grad_spike_ptr=io, grad_v_ptr=io, grad_h_ptr=f32, h_ptr=f32, x_ptr=io, v_init_ptr=io,
        decay_ptr=f32, grad_x_ptr=io, grad_v_init_ptr=io, grad_decay_ptr=f32, N="i32", T="i32",
        last_offset="i64", v_threshold="fp32", v_reset="fp32", p0="fp32", p1="fp32",
        n_terms="i32")
    _compile_sm90(kt._kernels(False).lif_backward_kernel, signature,
                  dict(SURROGATE=surrogate_id, **flags, BLOCK=512))


@pytest.mark.parametrize("dtype", list(_PTR))
def test_forward_kernels_compile_for_sm90(dtype: torch.dtype) -> None:
    io = _PTR[dtype]
    signature = dict(x_ptr=io, v_init_ptr="*fp32", decay_ptr="*fp32", spike_ptr=io, v_ptr=io,
                     h_ptr="*fp32", N="i32", T="i32", v_threshold="fp32", v_reset="fp32")
    kernels = kt._kernels(False)
    decay_input = dtype != torch.float16
    _compile_sm90(kernels.lif_forward_kernel, signature,
                  dict(DECAY_INPUT=decay_input, HARD_RESET=dtype != torch.bfloat16,
                       STORE_V_SEQ=dtype != torch.float32, BLOCK=1024))
    _compile_sm90(kernels.surrogate_grad_kernel,
                  dict(x_ptr="*fp32", y_ptr="*fp32", N="i32", p0="fp32", p1="fp32",
                       n_terms="i32"),
                  dict(SURROGATE=9, BLOCK=256))


# ------------------------------------------------------------------------------------------
# Interpreter isolation and errors
# ------------------------------------------------------------------------------------------


def test_interpreter_does_not_leak() -> None:
    import triton
    from triton.runtime.jit import JITFunction

    env = os.environ.get("TRITON_INTERPRET")
    with kt.use_interpreter():
        kt._surrogate_grad(torch.zeros(4), surrogate.Sigmoid())
        assert kt.interpreting()
    assert os.environ.get("TRITON_INTERPRET") == env
    if env != "1":
        assert not kt.interpreting()
        assert not getattr(getattr(triton, "knobs", None), "runtime", contextlib).__dict__.get(
            "interpret", False)

        @triton.jit
        def fresh(x_ptr):  # decorated after the interpreted kernels were built
            pass

        assert isinstance(fresh, JITFunction)
        assert isinstance(kt._kernels(False).lif_forward_kernel, JITFunction)


def _call(**overrides: object) -> tuple[torch.Tensor, torch.Tensor]:
    args = dict(x_seq=torch.zeros(T, N), v_init=torch.zeros(N), decay=0.5)
    opts = dict(decay_input=True, v_threshold=1.0, v_reset=0.0, detach_reset=False,
                surrogate=surrogate.Sigmoid())
    args.update({k: v for k, v in overrides.items() if k in args})
    opts.update({k: v for k, v in overrides.items() if k not in args})
    with kt.use_interpreter():
        return kt.lif_multistep(args["x_seq"], args["v_init"], args["decay"], **opts)


@pytest.mark.parametrize(("overrides", "error", "match"), [
    (dict(x_seq=[[1.0]]), TypeError, "x_seq"),
    (dict(x_seq=torch.zeros(T, N, dtype=torch.int64)), TypeError, "x_seq"),
    (dict(x_seq=torch.zeros(T, N, dtype=torch.float64)), TypeError, "x_seq"),
    (dict(x_seq=torch.zeros(0, N)), ValueError, "x_seq"),
    (dict(v_init=torch.zeros(N + 1)), ValueError, "v_init"),
    (dict(v_init=1.0), TypeError, "v_init"),
    (dict(decay=1.5), ValueError, "decay"),
    (dict(decay="0.5"), TypeError, "decay"),
    (dict(decay=torch.zeros(2)), ValueError, "decay"),
    (dict(decay=torch.tensor(1)), TypeError, "decay"),
    (dict(decay_input=1), TypeError, "decay_input"),
    (dict(v_threshold=float("nan")), ValueError, "v_threshold"),
    (dict(v_threshold="1"), TypeError, "v_threshold"),
    (dict(v_reset="0"), TypeError, "v_reset"),
    (dict(detach_reset=None), TypeError, "detach_reset"),
    (dict(surrogate="sigmoid"), TypeError, "surrogate"),
    (dict(surrogate=surrogate.Sigmoid(spiking=False)), ValueError, "spiking"),
    (dict(surrogate=surrogate.PoissonPass()), ValueError, "PoissonPass"),
    (dict(block_size=24), ValueError, "block_size"),
    (dict(block_size=8), ValueError, "block_size"),
])
def test_bad_arguments(overrides: dict[str, object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        _call(**overrides)


def test_cpu_tensor_without_interpreter_says_what_to_do() -> None:
    with kt.use_interpreter(False), pytest.raises(RuntimeError, match=r"CUDA.*TRITON_INTERPRET"):
        kt.lif_multistep(torch.zeros(T, N), torch.zeros(N), 0.5, decay_input=True,
                         v_threshold=1.0, v_reset=0.0, detach_reset=False,
                         surrogate=surrogate.Sigmoid())


def test_missing_triton_keeps_the_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kt, "_triton_import_error",
                        lambda: ImportError("No module named 'triton'"))
    assert not kt.supports(surrogate.Sigmoid(), torch.zeros(T, N))
    with pytest.raises(RuntimeError, match=r"pip install.*No module named 'triton'"):
        _call()
