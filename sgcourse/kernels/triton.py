r"""Triton backend: the whole IF/LIF/ParametricLIF time loop in one kernel, forward and backward.

One Triton program handles a block of neurons and loops over the ``T`` time steps inside the
kernel, so the membrane potential stays in registers and every tensor is read or written once
per step. One kernel, specialised by compile-time flags (``decay_input``, hard/soft reset,
``detach_reset``, surrogate id), covers IF (``k = 0``, no input decay), LIF (``k = 1/τ``) and
ParametricLIF (``k = sigmoid(w)``, a tensor that receives a gradient).

.. math::

    H_t = \begin{cases} V_{t-1} + k\,(X_t - (V_{t-1} - V_r)) & \text{decay\_input} \\
                        V_{t-1} - k\,(V_{t-1} - V_r) + X_t & \text{otherwise} \end{cases}
    \qquad S_t = \Theta(H_t - V_{th})

    V_t = \hat S_t V_r + (1 - \hat S_t) H_t \ \ (\text{hard}), \qquad
    V_t = H_t - \hat S_t V_{th} \ \ (\text{soft}, V_r = 0), \qquad
    \hat S_t = \operatorname{sg}(S_t) \text{ if detach\_reset}

The backward kernel runs the BPTT recurrence of :mod:`sgcourse.kernels._triton_kernels` with the
surrogate derivative :math:`\sigma'` generated from each surrogate's declaration
(``triton_derivative``, :mod:`sgcourse.kernels._triton_surrogates`; :data:`KERNEL_SURROGATES`
lists them with their registry ids). State math is float32 for float32, float16 and bfloat16
inputs; outputs have the promoted dtype of ``x_seq`` and ``v_init`` (which must be one of
those three). With ``store_v_seq=False`` only the final potential is written. The backward
pass keeps only :math:`H` (float32) alive —
:math:`S_t` is recomputed as :math:`H_t \ge V_{th}` and :math:`V_{t-1}` as the reset of
:math:`H_{t-1}` — plus :math:`X` when :math:`\partial H_t/\partial k = X_t - (V_{t-1} - V_r)`
needs it (a decay tensor that requires grad, with ``decay_input``). Recomputing :math:`X_t` as
:math:`(H_t - V_{t-1})/k` instead would lose precision for small :math:`k`.

The kernels are registered as ``torch.library`` custom ops (``sgcourse::lif_multistep_triton``
and its ``_backward``), with fake implementations and autograd, so ``torch.compile`` can trace
through them.

**Requirements.** The Triton package (``pip install 'sgcourse[triton]'``) and a CUDA device —
or the Triton interpreter, which runs the same kernels (slowly) on CPU tensors: set
``TRITON_INTERPRET=1`` in the environment, or use :func:`use_interpreter`, which affects only
these kernels and does not leak into other Triton code in the process.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import threading
from collections.abc import Iterator
from types import ModuleType

import torch

from sgcourse._checks import check_bool, check_int
from sgcourse.kernels import _arguments as args
from sgcourse.kernels._triton_surrogates import KERNEL_SURROGATES, kernel_params
from sgcourse.surrogate import Surrogate, surrogate_id

__all__ = [
    "KERNEL_SURROGATES",
    "SUPPORTED_DTYPES",
    "interpreting",
    "lif_multistep",
    "supports",
    "use_interpreter",
]

Tensor = torch.Tensor

#: Input dtypes the kernels accept (state math is float32 in every case).
SUPPORTED_DTYPES: tuple[torch.dtype, ...] = (torch.float32, torch.float16, torch.bfloat16)

_INSTALL_HINT = "install it with `pip install 'sgcourse[triton]'` (Linux x86-64)"

# --------------------------------------------------------------------------------------------
# Lazy loading of Triton and of the kernels (compiled, or interpreted for CPU tensors)
# --------------------------------------------------------------------------------------------

_LOCK = threading.Lock()
_KERNEL_MODULES: dict[bool, ModuleType] = {}
_KERNEL_SOURCE = "sgcourse.kernels._triton_kernels"
_interpret_override: bool | None = None


def _triton_import_error() -> ImportError | None:
    """None if ``import triton`` works, else the original ImportError."""
    try:
        import triton  # noqa: F401
    except ImportError as err:
        return err
    return None


@contextlib.contextmanager
def _triton_interpret_flag(enabled: bool) -> Iterator[None]:
    """Triton decides compiled vs interpreted when ``@triton.jit`` runs: set the flag only then."""
    import triton

    knobs = getattr(triton, "knobs", None)
    saved = os.environ.get("TRITON_INTERPRET")
    scope = knobs.runtime.scope() if knobs is not None else contextlib.nullcontext()
    try:
        with scope:
            if knobs is not None:
                knobs.runtime.interpret = enabled
            os.environ["TRITON_INTERPRET"] = "1" if enabled else "0"
            yield
    finally:
        if saved is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = saved


def _kernels(interpret: bool) -> ModuleType:
    """The kernel module, compiled (``interpret=False``) or as Triton-interpreter functions.

    The interpreted kernels are a second, separately named copy of the same source file, so both
    can live in one process and neither changes how other code's ``@triton.jit`` behaves.
    """
    with _LOCK:
        module = _KERNEL_MODULES.get(interpret)
        if module is not None:
            return module
        with _triton_interpret_flag(interpret):
            if not interpret:
                module = importlib.import_module(_KERNEL_SOURCE)
            else:
                name = _KERNEL_SOURCE + "_interpreted"
                origin = importlib.util.find_spec(_KERNEL_SOURCE).origin  # type: ignore[union-attr]
                spec = importlib.util.spec_from_file_location(name, origin)
                module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
                sys.modules[name] = module
                spec.loader.exec_module(module)  # type: ignore[union-attr]
        _KERNEL_MODULES[interpret] = module
        return module


@contextlib.contextmanager
def use_interpreter(enabled: bool = True) -> Iterator[None]:
    """Run these kernels in the Triton interpreter (on CPU tensors) inside the ``with`` block.

    Unlike ``TRITON_INTERPRET=1``, this does not change any other Triton code in the process.
    """
    global _interpret_override
    previous = _interpret_override
    _interpret_override = check_bool("enabled", enabled)
    try:
        yield
    finally:
        _interpret_override = previous


def interpreting() -> bool:
    """Whether the kernels run in the Triton interpreter (:func:`use_interpreter` or the
    ``TRITON_INTERPRET=1`` environment variable)."""
    if _interpret_override is not None:
        return _interpret_override
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def _quiet_interpreter(interpret: bool) -> contextlib.AbstractContextManager[object]:
    """The interpreter runs kernels in numpy, which warns on IEEE overflow and division by zero
    (e.g. exp(−αx) → inf in the sigmoid σ′, 1/0 in FakeNumericalGradient); the GPU silently
    gives the same inf, and the formulas are written to turn it into the right finite value."""
    if not interpret:
        return contextlib.nullcontext()
    import numpy as np

    return np.errstate(over="ignore", divide="ignore", invalid="ignore")


def _default_block(n: int) -> int:
    """Neurons per program: 1024, halved (down to 128) while there would be < 512 programs."""
    block = 1024
    while block > 128 and -(-n // block) < 512:
        block //= 2
    return block


#: No fused multiply-add: each operation rounds as in the torch reference, so the float32 state
#: (and hence every spike) equals the per-step torch computation bit for bit; the kernels are
#: memory-bound, so this costs no time. (The interpreter ignores launch options.)
_LAUNCH_OPTIONS = {"enable_fp_fusion": False}


def _num_warps(block: int) -> int:
    """Four float32 per thread (one 16-byte access): 1 warp for 128 neurons, 8 for 1024."""
    return max(1, min(8, block // 128))


def _device_guard(x: Tensor) -> contextlib.AbstractContextManager[object]:
    """Triton launches on the current CUDA device: make it the device of ``x``."""
    return torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext()


# --------------------------------------------------------------------------------------------
# Custom ops
# --------------------------------------------------------------------------------------------

_FWD_SCHEMA = (
    "(Tensor x_seq, Tensor v_init, Tensor decay, bool decay_input, bool hard_reset, "
    "float v_threshold, float v_reset, bool detach_reset, int surrogate, float sg_p0, "
    "float sg_p1, int sg_n, int block_size, bool interpret, bool store_v_seq=True) "
    "-> (Tensor, Tensor, Tensor)"
)
_BWD_SCHEMA = (
    "(Tensor? grad_spike, Tensor? grad_v, Tensor? grad_h, Tensor h_seq, Tensor? x_seq, "
    "Tensor v_init, Tensor decay, ScalarType x_dtype, bool decay_input, bool hard_reset, "
    "float v_threshold, float v_reset, bool detach_reset, int surrogate, float sg_p0, "
    "float sg_p1, int sg_n, int block_size, bool interpret, bool need_grad_decay, "
    "bool grad_v_last=False) "
    "-> (Tensor, Tensor, Tensor)"
)


@torch.library.custom_op("sgcourse::lif_multistep_triton", mutates_args=(), schema=_FWD_SCHEMA)
def _forward_op(x_seq: Tensor, v_init: Tensor, decay: Tensor, decay_input: bool,
                hard_reset: bool, v_threshold: float, v_reset: float, detach_reset: bool,
                surrogate: int, sg_p0: float, sg_p1: float, sg_n: int, block_size: int,
                interpret: bool, store_v_seq: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """(spike_seq, v_seq or the final V, h_seq): h_seq is the float32 charged potential saved
    for backward; the outputs have the promoted dtype of ``x_seq`` and ``v_init``."""
    steps = x_seq.shape[0]
    n = x_seq.numel() // steps
    x = x_seq.contiguous()
    out = torch.promote_types(x_seq.dtype, v_init.dtype)
    spike = torch.empty_like(x, dtype=out)
    v_seq = torch.empty_like(x if store_v_seq else x[0], dtype=out)
    h_seq = torch.empty(x.shape, dtype=torch.float32, device=x.device)
    if n > 0:
        kernel = _kernels(interpret).lif_forward_kernel
        with _quiet_interpreter(interpret), _device_guard(x):
            kernel[(-(-n // block_size),)](
                x, v_init.contiguous(), decay, spike, v_seq, h_seq, n, steps, v_threshold,
                v_reset, DECAY_INPUT=decay_input, HARD_RESET=hard_reset,
                STORE_V_SEQ=store_v_seq, BLOCK=block_size,
                num_warps=_num_warps(block_size), **_LAUNCH_OPTIONS)
    return spike, v_seq, h_seq


@_forward_op.register_fake
def _forward_fake(x_seq: Tensor, v_init: Tensor, decay: Tensor, decay_input: bool,
                  hard_reset: bool, v_threshold: float, v_reset: float, detach_reset: bool,
                  surrogate: int, sg_p0: float, sg_p1: float, sg_n: int, block_size: int,
                  interpret: bool, store_v_seq: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    out = torch.promote_types(x_seq.dtype, v_init.dtype)
    return (torch.empty_like(x_seq, dtype=out),
            torch.empty_like(x_seq if store_v_seq else x_seq[0], dtype=out),
            torch.empty_like(x_seq, dtype=torch.float32))


@torch.library.custom_op("sgcourse::lif_multistep_triton_backward", mutates_args=(),
                         schema=_BWD_SCHEMA)
def _backward_op(grad_spike: Tensor | None, grad_v: Tensor | None, grad_h: Tensor | None,
                 h_seq: Tensor, x_seq: Tensor | None, v_init: Tensor, decay: Tensor,
                 x_dtype: torch.dtype, decay_input: bool, hard_reset: bool, v_threshold: float,
                 v_reset: float, detach_reset: bool, surrogate: int, sg_p0: float, sg_p1: float,
                 sg_n: int, block_size: int, interpret: bool, need_grad_decay: bool,
                 grad_v_last: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """(grad_x_seq, grad_v_init, grad_decay) by the BPTT recurrence; grad_decay is 0-dim.

    ``x_seq`` is read only for ∂L/∂k with decay_input (otherwise it may be None, and is not kept
    alive for the backward pass); ``x_dtype`` is the dtype of ∂L/∂X. ``grad_v_last``: ``grad_v``
    is the gradient of the final V alone (the forward ran with ``store_v_seq=False``).
    """
    if need_grad_decay and decay_input and x_seq is None:
        raise ValueError("x_seq is required for the decay gradient with decay_input=True")
    steps = h_seq.shape[0]
    n = h_seq.numel() // steps
    x = x_seq.contiguous() if x_seq is not None else h_seq  # h_seq: a placeholder, never read
    grad_x = torch.empty(h_seq.shape, dtype=x_dtype, device=h_seq.device)
    grad_v_init = torch.empty_like(v_init, memory_format=torch.contiguous_format)
    blocks = -(-n // block_size)
    partial = torch.zeros(max(blocks, 1), dtype=torch.float32, device=x.device)
    if n > 0:
        grads = [g.contiguous() if g is not None else None for g in (grad_spike, grad_v, grad_h)]
        dummy = h_seq  # never read: the matching HAS_GRAD_* flag is False
        kernel = _kernels(interpret).lif_backward_kernel
        with _quiet_interpreter(interpret), _device_guard(x):
            kernel[(blocks,)](
                *(g if g is not None else dummy for g in grads), h_seq, x, v_init.contiguous(),
                decay, grad_x, grad_v_init, partial, n, steps, (steps - 1) * n,
                v_threshold, v_reset, sg_p0, sg_p1, sg_n,
                SURROGATE=surrogate, DECAY_INPUT=decay_input, HARD_RESET=hard_reset,
                DETACH_RESET=detach_reset, HAS_GRAD_SPIKE=grads[0] is not None,
                HAS_GRAD_V=grads[1] is not None and not grad_v_last,
                HAS_GRAD_H=grads[2] is not None, NEED_GRAD_DECAY=need_grad_decay,
                GRAD_V_LAST=grads[1] is not None and grad_v_last, BLOCK=block_size,
                num_warps=_num_warps(block_size), **_LAUNCH_OPTIONS)
    return grad_x, grad_v_init, partial.sum().to(decay.dtype)


@_backward_op.register_fake
def _backward_fake(grad_spike: Tensor | None, grad_v: Tensor | None, grad_h: Tensor | None,
                   h_seq: Tensor, x_seq: Tensor | None, v_init: Tensor, decay: Tensor,
                   x_dtype: torch.dtype, *args: object) -> tuple[Tensor, Tensor, Tensor]:
    return (torch.empty(h_seq.shape, dtype=x_dtype, device=h_seq.device),
            torch.empty_like(v_init, memory_format=torch.contiguous_format),
            torch.empty((), dtype=decay.dtype, device=decay.device))


def _setup_context(ctx: object, inputs: tuple[object, ...], output: tuple[Tensor, ...]) -> None:
    """Save H (and V_init, k); X only when ∂L/∂k needs it (a decay that requires grad and
    decay_input), so that the input sequence is not kept alive otherwise."""
    x_seq, v_init, decay, decay_input, *config = inputs
    keep_x = decay.requires_grad and decay_input  # type: ignore[attr-defined]
    ctx.save_for_backward(x_seq if keep_x else None, v_init, decay,  # type: ignore[attr-defined]
                          output[2])
    store_v_seq = bool(config[10]) if len(config) > 10 else True
    ctx.config = (x_seq.dtype, decay_input, *config[:10])  # type: ignore[attr-defined]
    ctx.grad_v_last = not store_v_seq  # type: ignore[attr-defined]


def _backward(ctx: object, grad_spike: Tensor | None, grad_v: Tensor | None,
              grad_h: Tensor | None) -> tuple[Tensor | None, ...]:
    x_seq, v_init, decay, h_seq = ctx.saved_tensors  # type: ignore[attr-defined]
    need = ctx.needs_input_grad  # type: ignore[attr-defined]
    grad_x, grad_v_init, grad_decay = torch.ops.sgcourse.lif_multistep_triton_backward(
        grad_spike, grad_v, grad_h, h_seq, x_seq, v_init, decay,
        *ctx.config, bool(need[2]), ctx.grad_v_last)  # type: ignore[attr-defined]
    return (grad_x if need[0] else None, grad_v_init if need[1] else None,
            grad_decay if need[2] else None, *([None] * 12))


_forward_op.register_autograd(_backward, setup_context=_setup_context)

# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _kernel_surrogate(surrogate: object) -> int | None:
    """The kernel id of ``surrogate`` if the kernels implement it, else None."""
    if not isinstance(surrogate, Surrogate) or not surrogate.spiking:
        return None
    if surrogate.spec.forward != "heaviside":
        return None
    sid = KERNEL_SURROGATES.get(surrogate.spec.name)
    return sid if sid is not None and sid == surrogate_id(surrogate) else None


def _surrogate_params(surrogate: Surrogate) -> tuple[float, float, int]:
    """(p0, p1, n_terms) for the kernel (see :func:`_triton_surrogates.kernel_params`)."""
    return kernel_params(surrogate.spec, surrogate.hparams)


def supports(surrogate: object, x_seq: object) -> bool:
    """Whether :func:`lif_multistep` can run ``surrogate`` on ``x_seq`` here.

    True when Triton imports, ``surrogate`` is a spiking surrogate with a Triton σ′
    (:data:`KERNEL_SURROGATES`), ``x_seq`` is a float32/float16/bfloat16 tensor, and it is on a
    CUDA device or the kernels run in the interpreter (:func:`interpreting`).
    """
    if _kernel_surrogate(surrogate) is None:
        return False
    if not isinstance(x_seq, Tensor) or x_seq.dtype not in SUPPORTED_DTYPES:
        return False
    if not (x_seq.device.type == "cuda" or interpreting()):
        return False
    return _triton_import_error() is None


def lif_multistep(x_seq: Tensor, v_init: Tensor, decay: float | Tensor, *, decay_input: bool,
                  v_threshold: float, v_reset: float | None, detach_reset: bool,
                  surrogate: Surrogate, block_size: int | None = None,
                  store_v_seq: bool = True) -> tuple[Tensor, Tensor]:
    r"""Run an IF/LIF/ParametricLIF layer over a whole sequence with the Triton kernels.

    Args:
        x_seq: input current, shape ``[T, *]`` (T ≥ 1), float32, float16 or bfloat16.
        v_init: membrane potential before the first step, of shape ``[*]`` or broadcastable to
            it; its dtype promoted with ``x_seq``'s must be one of the three above.
        decay: :math:`k = 1/\tau` as a float in [0, 1] (IF: 0 with ``decay_input=False``), or a
            one-element floating tensor (ParametricLIF: ``sigmoid(w)``) that receives
            :math:`\partial L/\partial k = \sum_t \delta_t\,\partial H_t/\partial k`.
        decay_input: charge :math:`H = V + k(X - (V - V_r))` if True, else
            :math:`H = V - k(V - V_r) + X`.
        v_threshold: :math:`V_{th}`; the neuron fires when :math:`H \ge V_{th}`; it must
            exceed a hard ``v_reset``.
        v_reset: :math:`V_r` for a hard reset, or None for a soft reset (then :math:`V_r = 0`).
        detach_reset: use :math:`\operatorname{sg}(S)` in the reset (no gradient through it).
        surrogate: a spiking surrogate module; its :math:`\sigma'` is used in the backward pass.
        block_size: neurons per Triton program (a power of two, 16 to 4096); default chosen
            from the number of neurons.
        store_v_seq: return the potential of every step (True) or only the final one, shape
            ``[*]``; then no ``[T, *]`` potential sequence is written.

    Returns:
        ``(spike_seq, v_seq)``, ``[T, *]`` in the promoted dtype of ``x_seq`` and ``v_init``;
        ``v_seq`` holds the potential after reset, :math:`V_t` (the last one only without
        ``store_v_seq``).

    Raises:
        TypeError / ValueError: a bad argument (the message names it), including a NaN or an
            infinity in ``x_seq`` or ``v_init``.
        RuntimeError: Triton is not installed, or ``x_seq`` is not on a CUDA device and the
            interpreter is off.
    """
    x_seq, v_full = args.check_sequence_and_state(x_seq, v_init)
    out_dtype = torch.promote_types(x_seq.dtype, v_full.dtype)
    if out_dtype not in SUPPORTED_DTYPES:
        name = "x_seq" if x_seq.dtype not in SUPPORTED_DTYPES else "v_init"
        raise TypeError(f"{name} makes the outputs {out_dtype}: the Triton kernels need x_seq and "
                        f"v_init whose promoted dtype is float32, float16 or bfloat16, got "
                        f"x_seq {x_seq.dtype} and v_init {v_full.dtype}")
    decay = args.check_decay(decay)
    if isinstance(decay, Tensor):
        decay_t = decay.to(device=x_seq.device, dtype=torch.float32)
    else:
        decay_t = torch.tensor(decay, dtype=torch.float32, device=x_seq.device)
    check_bool("decay_input", decay_input)
    v_threshold, v_reset, detach_reset = args.check_neuron(v_threshold, v_reset, detach_reset)
    hard_reset = v_reset is not None
    v_reset_value = v_reset if v_reset is not None else 0.0
    store_v_seq = check_bool("store_v_seq", store_v_seq)
    if not isinstance(surrogate, Surrogate):
        raise TypeError(f"surrogate must be a sgcourse.surrogate module (e.g. "
                        f"surrogate.Sigmoid()), got {type(surrogate).__name__}")
    sid = _kernel_surrogate(surrogate)
    if sid is None:
        why = ("spiking=False (the kernels fire with Θ)" if not surrogate.spiking
               else "it has no Triton σ′")
        raise ValueError(f"surrogate {type(surrogate).__name__} is not supported by the Triton "
                         f"kernels: {why}; supported: {', '.join(KERNEL_SURROGATES)}")
    if block_size is None:
        block = _default_block(x_seq[0].numel())
    else:
        block = check_int("block_size", block_size, 16)
        if block > 4096 or block & (block - 1):
            raise ValueError(f"block_size must be a power of two between 16 and 4096, "
                             f"got {block}")
    if x_seq[0].numel() >= 2**31:
        raise ValueError(f"x_seq must have fewer than 2**31 neurons per time step, "
                         f"got {x_seq[0].numel()}")
    error = _triton_import_error()
    if error is not None:
        raise RuntimeError(f"the Triton kernels need the 'triton' package: {_INSTALL_HINT}. "
                           f"Import failed with: {error}") from error
    interpret = interpreting()
    if x_seq.device.type != "cuda" and not interpret:
        raise RuntimeError(f"the Triton kernels run on CUDA tensors, got x_seq on "
                           f"{x_seq.device}: move the tensors to a GPU, or run the kernels in "
                           f"the Triton interpreter (TRITON_INTERPRET=1 or "
                           f"sgcourse.kernels.triton.use_interpreter()) on CPU tensors")
    if not torch.compiler.is_compiling():
        for name, value in (("x_seq", x_seq), ("v_init", v_full)):
            if not args.all_finite(value):
                raise ValueError(f"{name} must be finite: it holds NaN or infinite values")
    p0, p1, n_terms = _surrogate_params(surrogate)
    spike, v_seq, _ = torch.ops.sgcourse.lif_multistep_triton(
        x_seq, v_full, decay_t, decay_input, hard_reset, v_threshold, v_reset_value,
        detach_reset, sid, p0, p1, n_terms, block, interpret, store_v_seq)
    return spike, v_seq


def _surrogate_grad(x: Tensor, surrogate: Surrogate, block_size: int = 1024) -> Tensor:
    """σ′(x) computed by the Triton ``surrogate_grad`` (float32; for tests and inspection)."""
    sid = _kernel_surrogate(surrogate)
    if sid is None:
        raise ValueError(f"surrogate {surrogate!r} has no Triton σ′")
    x32 = x.detach().to(torch.float32).contiguous()
    y = torch.empty_like(x32)
    p0, p1, n_terms = _surrogate_params(surrogate)
    interpret = interpreting()
    if x32.numel():
        kernel = _kernels(interpret).surrogate_grad_kernel
        with _quiet_interpreter(interpret), _device_guard(x32):
            kernel[(-(-x32.numel() // block_size),)](x32, y, x32.numel(), p0, p1, n_terms,
                                                     SURROGATE=sid, BLOCK=block_size,
                                                     **_LAUNCH_OPTIONS)
    return y
