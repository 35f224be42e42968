r"""Argument checks and dtype rules shared by the kernel entry points (fused and Triton).

Every public kernel function checks what the neuron classes check, so that a direct call cannot
compute something a neuron would refuse: the threshold above a hard reset value, a decay in
[0, 1], time constants above 1, a registry surrogate in spiking mode with a Heaviside forward,
a state that broadcasts to the neurons and lives on the input's device. Every error names the
argument and what was expected.

**Dtypes** (one rule for every backend). The outputs (spikes and state sequences) have the
promoted dtype of the input and the initial states, as the per-step ``'torch'`` reference gives
them; float16 and bfloat16 are computed in float32 (:func:`compute_dtype`) and the outputs cast
back, so every backend fires the same spikes for half inputs.

**Non-finite values.** A NaN or an infinity in the input or the initial state makes the
potential non-finite for the rest of the sequence (the reset of an infinite potential is
NaN), and backends would disagree on what to return;
:func:`~sgcourse._checks.check_finite_potential` (shared with the ``'torch'`` backend) turns it
into a ``ValueError`` by testing only the final potential (``[N]``, not ``[T, N]``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from sgcourse import surrogate as _surrogate
from sgcourse._checks import (
    GREATER_THAN_ONE,
    Domain,
    all_finite,
    check_bool,
    check_finite_potential,
    check_floating_tensor,
    check_real,
)

__all__ = [
    "UNIT_INTERVAL",
    "all_finite",
    "check_decay",
    "check_finite_potential",
    "check_neuron",
    "check_sequence_and_state",
    "check_surrogate",
    "check_time_constant",
    "compute_dtype",
    "result_dtype",
]

UNIT_INTERVAL = Domain("a finite number in [0, 1]", lambda v: 0.0 <= v <= 1.0)


def compute_dtype(*dtypes: torch.dtype) -> torch.dtype:
    """The dtype the state math runs in: the promoted dtype, at least float32."""
    out = torch.float32
    for d in dtypes:
        out = torch.promote_types(out, d)
    return out


def result_dtype(*dtypes: torch.dtype) -> torch.dtype:
    """The dtype of the outputs: the promoted dtype of the input and the initial states."""
    out = dtypes[0]
    for d in dtypes[1:]:
        out = torch.promote_types(out, d)
    return out


def check_sequence_and_state(x_seq: object, state: object, name: str = "v_init"
                             ) -> tuple[Tensor, Tensor]:
    """``(x_seq, state expanded to x_seq.shape[1:])`` after checking both.

    ``x_seq`` must be a real floating tensor of shape ``[T, *neurons]`` with T ≥ 1 and at least
    one neuron dimension; ``state`` a real floating tensor on the same device that broadcasts to
    ``x_seq.shape[1:]``.
    """
    x_seq = check_floating_tensor(x_seq, "x_seq")
    if x_seq.dim() < 2:
        raise ValueError(f"x_seq must have shape [T, *neurons] with at least 2 dimensions, got "
                         f"shape {tuple(x_seq.shape)}")
    if x_seq.shape[0] < 1:
        raise ValueError("x_seq must have at least one time step (T >= 1), got shape "
                         f"{tuple(x_seq.shape)}")
    state = check_floating_tensor(state, name)
    if state.device != x_seq.device:
        raise ValueError(f"{name} must be on the device of x_seq ({x_seq.device}), got "
                         f"{state.device}")
    shape = x_seq.shape[1:]
    try:
        expanded = state.expand(shape)
    except RuntimeError:
        raise ValueError(f"{name} of shape {tuple(state.shape)} does not broadcast to the "
                         f"neuron shape {tuple(shape)} of x_seq") from None
    return x_seq, expanded


def check_decay(decay: object) -> Tensor | float:
    r""":math:`k = 1/\tau` in [0, 1]: a Python float, or a one-element floating tensor (PLIF).

    A tensor is returned as a 0-dim view; its value is checked too, except while
    ``torch.compile`` traces (reading it would break the graph).
    """
    if isinstance(decay, Tensor):
        if decay.numel() != 1:
            raise ValueError(f"decay must be a float in [0, 1] or a one-element tensor, got a "
                             f"tensor of shape {tuple(decay.shape)}")
        check_floating_tensor(decay, "decay")
        if not torch.compiler.is_compiling():
            check_real("decay", decay.detach(), UNIT_INTERVAL)
        return decay.reshape(())
    return check_real("decay", decay, UNIT_INTERVAL)


def check_time_constant(name: str, value: object) -> float:
    """A time constant: a finite number > 1 (as the neurons require)."""
    return check_real(name, value, GREATER_THAN_ONE)


def check_neuron(v_threshold: object, v_reset: object, detach_reset: object
                 ) -> tuple[float, float | None, bool]:
    """``(v_threshold, v_reset or None, detach_reset)``; a hard reset needs V_th > V_reset."""
    v_threshold = check_real("v_threshold", v_threshold)
    v_reset = None if v_reset is None else check_real("v_reset", v_reset)
    if v_reset is not None and v_threshold <= v_reset:
        raise ValueError(f"v_threshold must be greater than v_reset, got v_threshold="
                         f"{v_threshold} and v_reset={v_reset}")
    return v_threshold, v_reset, check_bool("detach_reset", detach_reset)


def check_surrogate(surrogate: object) -> tuple[int, tuple[float, ...]]:
    """``(registry id, hyper-parameters as floats)`` of a surrogate a kernel can run."""
    if not isinstance(surrogate, _surrogate.Surrogate):
        raise TypeError(f"surrogate must be a registry surrogate (an instance of "
                        f"sgcourse.surrogate.Surrogate, e.g. surrogate.Sigmoid()), got "
                        f"{type(surrogate).__name__}; use the per-step 'torch' backend for "
                        f"other callables")
    if surrogate.spec.forward != "heaviside":
        raise ValueError(f"surrogate {surrogate.spec.class_name} samples its forward pass "
                         f"({surrogate.spec.forward}); the kernels support only "
                         f"Heaviside-forward surrogates")
    if not surrogate.spiking:
        raise ValueError("surrogate must be in spiking mode (spiking=True) for a kernel")
    return _surrogate.surrogate_id(surrogate), tuple(float(p) for p in surrogate.hparams)


def kernel_surrogate(surrogate: object) -> bool:
    """Whether ``surrogate`` is one :func:`check_surrogate` accepts (without raising)."""
    return (isinstance(surrogate, _surrogate.Surrogate) and surrogate.spiking
            and surrogate.spec.forward == "heaviside")
