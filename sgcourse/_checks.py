"""Argument checks shared by the library: every error names the argument and what was expected."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import NamedTuple

import torch

__all__ = [
    "GREATER_THAN_ONE",
    "NONNEGATIVE",
    "POSITIVE",
    "REAL",
    "Domain",
    "all_finite",
    "check_bool",
    "check_finite",
    "check_finite_potential",
    "check_floating_tensor",
    "check_int",
    "check_real",
    "check_real_tensor",
    "require_all",
]


class Domain(NamedTuple):
    """A set of admissible real values, with the words used in error messages.

    A named tuple (not a dataclass) so that ``torch.compile`` can trace checks that capture one.
    """

    description: str
    contains: Callable[[float], bool]
    integer: bool = False


REAL = Domain("a finite real number", lambda v: True)
POSITIVE = Domain("a finite number > 0", lambda v: v > 0)
NONNEGATIVE = Domain("a finite number >= 0", lambda v: v >= 0)
GREATER_THAN_ONE = Domain("a finite number > 1", lambda v: v > 1)


def _fixed_not_learnable(name: str, domain: Domain) -> TypeError:
    return TypeError(f"{name} must be {domain.description}, got a tensor that requires grad (such "
                     f"as an nn.Parameter): {name} is a fixed hyper-parameter, it would be read "
                     f"as a number and never learn; pass a float")


def check_real(name: str, value: object, domain: Domain = REAL) -> float:
    """Return ``value`` as a Python float after checking its type, finiteness and domain.

    Integers are accepted and converted (``tau=2`` is fine); ``bool``, complex numbers, strings and
    tensors with more than one element are rejected with a :class:`TypeError`, and so is a tensor
    that requires grad (an ``nn.Parameter`` would silently stop learning once read as a float);
    NaN, infinities and values outside ``domain`` raise a :class:`ValueError`.

    While ``torch.compile`` traces, a number (possibly symbolic) is checked with comparisons only
    and returned as is; tensors go to :func:`check_real_tensor`.
    """
    if isinstance(value, torch.Tensor):
        if value.requires_grad:
            raise _fixed_not_learnable(name, domain)
        if value.numel() != 1 or value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"{name} must be {domain.description}, got a tensor of shape "
                            f"{tuple(value.shape)} and dtype {value.dtype}")
        value = value.item()
    elif torch.compiler.is_compiling():
        if not (-math.inf < value < math.inf and domain.contains(value)):  # type: ignore[operator]
            raise ValueError(f"{name} must be {domain.description}, got {value}")
        return value  # type: ignore[return-value]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {domain.description}, got {type(value).__name__} "
                        f"{value!r}")
    as_float = float(value)
    if not math.isfinite(as_float):
        raise ValueError(f"{name} must be {domain.description}, got {as_float}")
    if not domain.contains(as_float):
        raise ValueError(f"{name} must be {domain.description}, got {as_float}")
    if domain.integer:
        if as_float != int(as_float):
            raise ValueError(f"{name} must be {domain.description}, got {as_float}")
        return int(as_float)
    return as_float


def _bad_entries(message: str, value: torch.Tensor, good: torch.Tensor) -> str:
    """``message``, then the first (up to 3) entries of ``value`` where ``good`` is false."""
    bad = value.detach().flatten()[~good.flatten()]
    more = " (first 3 shown)" if bad.numel() > 3 else ""
    return f"{message}, got the entries {bad[:3].tolist()}{more}"


@torch.library.custom_op("sgcourse::require_all", mutates_args=())
def _require_all(value: torch.Tensor, good: torch.Tensor, message: str) -> None:
    """Raise ``ValueError`` unless every entry of ``good`` is true (a check inside a graph)."""
    if not bool(good.all()):
        raise ValueError(_bad_entries(message, value, good))


@_require_all.register_fake
def _(value: torch.Tensor, good: torch.Tensor, message: str) -> None:
    return None


# kept in compiled graphs although nothing uses its (empty) result
torch.fx.node.has_side_effect(torch.ops.sgcourse.require_all.default)


def require_all(value: torch.Tensor, good: torch.Tensor, message: str) -> None:
    """Raise :class:`ValueError` (``message`` and the first bad entries of ``value``) unless every
    entry of the boolean ``good`` is true.

    Eagerly, a plain check. While ``torch.compile`` traces, a graph cannot branch on tensor
    values, so the check becomes the custom operator ``sgcourse::require_all``, which the
    compiled graph runs (it has a side effect, so it is never dropped) and which raises the same
    ``ValueError`` when the graph runs, with ``fullgraph=True`` too.
    """
    if torch.compiler.is_compiling():
        torch.ops.sgcourse.require_all(value, good, message)
    elif not bool(good.all()):
        raise ValueError(_bad_entries(message, value, good))


def check_real_tensor(name: str, value: torch.Tensor, domain: Domain = REAL,
                      like: torch.Tensor | None = None) -> torch.Tensor:
    """Check a tensor of hyper-parameter values (one per element of the input it multiplies).

    The tensor must be real floating point, must broadcast to ``like.shape`` without enlarging it
    (when ``like`` is given), and every entry must be finite and in ``domain``. Raises
    :class:`TypeError` or :class:`ValueError` naming ``name``, also under ``torch.compile`` (the
    value check then runs inside the compiled graph, :func:`require_all`). Returns the tensor,
    detached: the caller (the functional surrogate API) sends no gradient to a hyper-parameter.
    """
    check_floating_tensor(value, name)
    if like is not None:
        fits = value.dim() <= like.dim() and all(
            v in (1, n) for v, n in zip(reversed(value.shape), reversed(like.shape), strict=False))
        if not fits:
            raise ValueError(f"{name} must be a number or a tensor that broadcasts to the input's "
                             f"shape {tuple(like.shape)}, got shape {tuple(value.shape)}")
    flat = value.detach().flatten()
    good = torch.isfinite(flat) & torch.as_tensor(domain.contains(flat), device=flat.device)
    if domain.integer:
        good = good & (flat == flat.round())
    require_all(flat, good, f"every entry of {name} must be {domain.description}")
    return value.detach()


def check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    """Return ``value`` as an int in ``[minimum, maximum]`` (integral floats such as ``2.0`` are
    accepted; no upper bound when ``maximum`` is None)."""
    if maximum is None:
        domain = Domain(f"an integer >= {minimum}", lambda v: v >= minimum, integer=True)
    else:
        domain = Domain(f"an integer in [{minimum}, {maximum}]",
                        lambda v: minimum <= v <= maximum, integer=True)
    return int(check_real(name, value, domain))


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a bool; raise :class:`TypeError` otherwise."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return value


def check_floating_tensor(x: object, name: str = "x") -> torch.Tensor:
    """Raise :class:`TypeError` unless ``x`` is a real floating-point tensor."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a real floating-point tensor (float16, bfloat16, float32 "
                        f"or float64), got dtype {x.dtype}")
    return x


def all_finite(t: torch.Tensor) -> bool:
    """Whether every element of ``t`` is finite.

    A NaN or an infinity makes the sum non-finite, and one ``sum`` costs a tenth of
    ``isfinite(t).all()`` on a CPU (5 µs against 48 µs for 32768 floats); only when the sum is
    not finite (which finite values can also cause, by overflowing it) is the exact test run.
    """
    t = t.detach()
    if math.isfinite(float(t.sum(dtype=torch.float64 if t.is_cpu else None))):
        return True
    return bool(torch.isfinite(t).all())


def check_finite_potential(v_last: torch.Tensor, input_name: str = "x_seq") -> None:
    """Raise :class:`ValueError` if a neuron's final potential is NaN or infinite.

    A NaN never crosses the threshold: the neuron would fall silent for good (and the backward
    pass would carry NaN), with nothing to show for it. One check per call, on the last
    potential, catches any NaN or infinity in the input or the state (both propagate to it):
    once per sequence in multi-step mode, by every backend (torch, fused, Triton); once per step
    in single-step mode (``input_name`` ``'x'``).
    """
    if not all_finite(v_last):
        raise ValueError(f"{input_name} and the initial state must be finite: the membrane "
                         f"potential became NaN or infinite (a NaN or ±inf in {input_name} or "
                         f"the state v, or a potential that overflowed its dtype)")


def check_finite(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    """Raise :class:`ValueError` if the floating-point tensor ``x`` holds a NaN or an infinity.

    The message gives how many entries are bad and the index of the first one, so the sample can
    be found and cleaned (a NaN input trains a network silently to chance level).
    """
    if all_finite(x):
        return x
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        bad = (~finite).nonzero()
        kinds = " or ".join(k for k, present in (("NaN", bool(torch.isnan(x).any())),
                                                 ("infinite", bool(torch.isinf(x).any())))
                            if present)
        raise ValueError(f"{name} must hold finite numbers, got {len(bad)} {kinds} value(s), "
                         f"the first at index {tuple(bad[0].tolist())}; clean or impute the data "
                         f"first")
    return x
