"""The one table mapping (neuron class, step mode, backend) to a multi-step implementation.

An implementation has the signature ``impl(node, x_seq, state) -> (out_seq, v_seq, state)``:
``state`` is the tuple of state tensors named by ``node.state_names`` (``v`` first), already
materialised for this batch; ``v_seq`` is the post-reset membrane potential ``[T, N, *]`` or
``None`` (allowed only when ``node.store_v_seq`` is false); the returned ``state`` is the state
after the last step.

The generic ``'torch'`` entry (registered for the base class) works for every neuron and is
inherited by subclasses. Kernel entries (``'fused'``, ``'triton'``) are registered for exact
classes only: a user subclass that changes the charge equation must not silently run a kernel
written for its parent. Kernel modules are imported lazily, so a missing optional package only
matters when that backend is used; its ImportError text is kept in the message.

**One contract for every backend** (:func:`register` wraps each implementation in it), so that
backends agree on everything but the rounding of gradients:

* float16 and bfloat16 are computed in float32 (the kernels do it internally; the ``'torch'``
  reference gets float32 copies of the input and the state), and the outputs and the new state
  are cast to the promoted dtype of the input and the state, so a half input fires the same
  spikes on every backend;
* outputs, ``v_seq`` and the new state have that promoted dtype (e.g. float64 for a float64
  state and a float32 input, as the per-step reference computes it).

The kernels evaluate each neuron's charge with the reference's operations in the reference's
order (each rounded once, no fused multiply-add), so the forward pass (potentials and spikes)
is the same bit for bit on every backend; ``tests/test_backends_bitwise.py`` checks it on inputs
that put the potential exactly on the threshold.

Each backend also refuses a non-finite potential itself (a ``ValueError`` instead of what each
backend would make of a NaN or an infinity): the ``'torch'`` loop after its last step, the
kernels in their entry points (:mod:`sgcourse.kernels._arguments`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch

__all__ = [
    "BACKENDS",
    "Implementation",
    "KernelUnavailableError",
    "load_kernels",
    "lookup",
    "register",
    "supported_backends",
]

BACKENDS: tuple[str, ...] = ("torch", "fused", "triton")
"""Every backend name: the per-step autograd reference, the fused BPTT kernel, Triton on CUDA."""

_KERNEL_MODULES = {"fused": "sgcourse.kernels.fused", "triton": "sgcourse.kernels.triton"}
_HALF = (torch.float16, torch.bfloat16)

Impl = Callable[[Any, torch.Tensor, tuple[torch.Tensor, ...]],
                tuple[torch.Tensor, torch.Tensor | None, tuple[torch.Tensor, ...]]]


class KernelUnavailableError(ImportError):
    """A backend's kernel module (or its optional package, e.g. Triton) cannot be imported."""


@dataclass(frozen=True)
class Implementation:
    """One table entry: the multi-step function and whether it handles a given call."""

    run: Impl
    supports: Callable[[Any, torch.Tensor], bool]
    exact_class_only: bool


_TABLE: dict[tuple[type, str, str], Implementation] = {}


def _promoted(dtypes: tuple[torch.dtype, ...]) -> torch.dtype:
    out = dtypes[0]
    for d in dtypes[1:]:
        out = torch.promote_types(out, d)
    return out


def with_contract(run: Impl, *, upcast_half: bool) -> Impl:
    """``run`` under the backend contract of the module docstring.

    ``upcast_half``: give ``run`` float32 copies of float16/bfloat16 tensors (for an
    implementation that would otherwise compute in half precision).
    """
    def contracted(node: Any, x_seq: torch.Tensor, state: tuple[torch.Tensor, ...]
                   ) -> tuple[torch.Tensor, torch.Tensor | None, tuple[torch.Tensor, ...]]:
        dtypes = (x_seq.dtype, *(s.dtype for s in state))
        result = _promoted(dtypes)
        if upcast_half and any(d in _HALF for d in dtypes):
            compute = torch.promote_types(result, torch.float32)
            x_seq, state = x_seq.to(compute), tuple(s.to(compute) for s in state)
        out, v_seq, new_state = run(node, x_seq, state)
        return (out.to(result), None if v_seq is None else v_seq.to(result),
                tuple(s.to(result) for s in new_state))

    contracted.__wrapped__ = run  # type: ignore[attr-defined]
    return contracted


def register(cls: type, step_mode: str, backend: str, run: Impl,
             supports: Callable[[Any, torch.Tensor], bool] | None = None) -> None:
    """Add (or replace) the implementation of ``backend`` for ``cls`` in ``step_mode``.

    ``run`` is wrapped in the backend contract (module docstring); the ``'torch'`` entry gets
    half-precision inputs as float32.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    _TABLE[(cls, step_mode, backend)] = Implementation(
        run=with_contract(run, upcast_half=backend == "torch"),
        supports=supports or (lambda node, x_seq: True),
        exact_class_only=backend != "torch")


def lookup(cls: type, step_mode: str, backend: str) -> Implementation | None:
    """The entry for ``cls``: its own, or (for ``'torch'`` only) the nearest base class's."""
    entry = _TABLE.get((cls, step_mode, backend))
    if entry is not None:
        return entry
    for base in cls.__mro__[1:]:
        entry = _TABLE.get((base, step_mode, backend))
        if entry is not None and not entry.exact_class_only:
            return entry
    return None


def supported_backends(cls: type, step_mode: str) -> tuple[str, ...]:
    """The backends with an implementation for ``cls`` in ``step_mode``, in ``BACKENDS`` order."""
    return tuple(b for b in BACKENDS if lookup(cls, step_mode, b) is not None)


def load_kernels(backend: str) -> ModuleType:
    """Import the kernel module of ``backend``; :class:`KernelUnavailableError` if that fails."""
    name = _KERNEL_MODULES[backend]
    loaded = sys.modules.get(name)  # already imported: no import machinery (torch.compile traces
    if loaded is not None:          # this without a graph break)
        return loaded
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise KernelUnavailableError(
            f"the {backend!r} backend is unavailable: importing {name} failed with "
            f"{type(error).__name__}: {error}") from error


def why_unsupported(backend: str, x_seq: torch.Tensor) -> str:
    """An explanation to append to an error when ``backend`` refused ``x_seq`` (may be empty)."""
    if backend != "triton":
        return ""
    try:
        import triton  # noqa: F401
    except ImportError as error:
        return (f": Triton cannot be imported ({type(error).__name__}: {error}); install it with "
                f"pip install 'sgcourse[triton]'")
    if x_seq.device.type != "cuda":
        return (": Triton kernels need CUDA tensors (on CPU, only inside "
                "sgcourse.kernels.triton.use_interpreter())")
    return ""


def kernels_if_available(backend: str) -> ModuleType | None:
    """The kernel module of ``backend``, or ``None`` when it cannot be imported."""
    try:
        return load_kernels(backend)
    except KernelUnavailableError:
        return None
