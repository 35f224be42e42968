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
"""

from __future__ import annotations

import importlib
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


def register(cls: type, step_mode: str, backend: str, run: Impl,
             supports: Callable[[Any, torch.Tensor], bool] | None = None) -> None:
    """Add (or replace) the implementation of ``backend`` for ``cls`` in ``step_mode``."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    _TABLE[(cls, step_mode, backend)] = Implementation(
        run=run, supports=supports or (lambda node, x_seq: True),
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
