"""Argument checks shared by the library: every error names the argument and what was expected."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = [
    "GREATER_THAN_ONE",
    "NONNEGATIVE",
    "POSITIVE",
    "REAL",
    "Domain",
    "check_bool",
    "check_floating_tensor",
    "check_int",
    "check_real",
]


@dataclass(frozen=True)
class Domain:
    """A set of admissible real values, with the words used in error messages."""

    description: str
    contains: Callable[[float], bool]
    integer: bool = False


REAL = Domain("a finite real number", lambda v: True)
POSITIVE = Domain("a finite number > 0", lambda v: v > 0)
NONNEGATIVE = Domain("a finite number >= 0", lambda v: v >= 0)
GREATER_THAN_ONE = Domain("a finite number > 1", lambda v: v > 1)


def check_real(name: str, value: object, domain: Domain = REAL) -> float:
    """Return ``value`` as a Python float after checking its type, finiteness and domain.

    Integers are accepted and converted (``tau=2`` is fine); ``bool``, complex numbers, strings and
    tensors with more than one element are rejected with a :class:`TypeError`; NaN, infinities and
    values outside ``domain`` with a :class:`ValueError`.
    """
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"{name} must be {domain.description}, got a tensor of shape "
                            f"{tuple(value.shape)} and dtype {value.dtype}")
        value = value.item()
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


def check_int(name: str, value: object, minimum: int) -> int:
    """Return ``value`` as an int >= ``minimum`` (integral floats such as ``2.0`` are accepted)."""
    domain = Domain(f"an integer >= {minimum}", lambda v: v >= minimum, integer=True)
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
