r"""Checks for the exercise of lesson 09 (speed, memory and GPUs).

Exercise — predict the memory BPTT keeps::

    def saved_bytes(backend, time_steps, batch, neurons, element_size): ...
    check_saved_bytes(saved_bytes)

returns the number of bytes a multi-step LIF layer (hard reset, the lesson's defaults) saves for
backward on an input ``[T, N, M]`` (time steps, batch, neurons) whose elements take
``element_size`` bytes:
:math:`k \cdot T \cdot N \cdot M \cdot b` with :math:`k = 3` tensors per step for ``'torch'`` and
:math:`k = 1` for ``'fused'``. The check compares it with what
:func:`sgcourse.course.profiling.lif_saved_bytes` measures with a ``saved_tensors_hooks`` pack hook,
for float32 and float64 inputs.
"""

from __future__ import annotations

import torch

from sgcourse.course import profiling
from sgcourse.course.exercises import (
    ExerciseError,
    call_learner,
    require_callable,
    require_number,
)

__all__ = ["check_saved_bytes"]

#: (backend, T, N, M, dtype): float32 and float64, both backends, T from 1 to 50.
_CASES: tuple[tuple[str, int, int, int, torch.dtype], ...] = (
    ("fused", 10, 4, 16, torch.float32),
    ("torch", 10, 4, 16, torch.float32),
    ("torch", 1, 3, 5, torch.float32),
    ("fused", 50, 2, 7, torch.float64),
    ("torch", 50, 2, 7, torch.float64),
    ("torch", 7, 1, 1, torch.float32),
)

_PER_STEP = {"torch": 3, "fused": 1}


def check_saved_bytes(fn: object) -> str:
    r"""Check ``fn(backend, time_steps, batch, neurons, element_size)`` -> bytes saved for backward.

    Compared, for both backends and float32/float64 inputs, with the measured bytes of
    ``profiling.lif_saved_bytes``. Hints for the usual mistakes: counting elements instead of
    bytes, bits instead of bytes, forgetting that every step saves its own tensors (no factor
    :math:`T`), the same number of tensors per step for both backends, the per-step count of the
    wrong backend.
    """
    fn = require_callable(fn, "check_saved_bytes", "saved_bytes")
    for backend, t, b, n, dtype in _CASES:
        element_size = torch.empty((), dtype=dtype).element_size()
        label = (f"saved_bytes({backend!r}, time_steps={t}, batch={b}, neurons={n}, "
                 f"element_size={element_size})")
        got = require_number(call_learner(fn, label, backend, t, b, n, element_size), label,
                             "a number of bytes",
                             shape_hint="sum it, or compute it from the sizes without building "
                                        "tensors")
        measured = profiling.lif_saved_bytes(backend, t, b, n, dtype=dtype).nbytes
        if got == measured:
            continue
        raise ExerciseError(f"{label} returned {got:g}, but the layer saves {measured} bytes: "
                            f"{_hint(got, backend, t, b, n, element_size)}")
    return ("Correct: with a hard reset the 'torch' backend keeps 3 tensors of shape [N, M] per "
            "step, 'fused' only H[t]: 3·T·N·M·b against T·N·M·b bytes, both linear in T.")


def _hint(got: float, backend: str, t: int, b: int, n: int, element_size: int) -> str:
    """Name the likely mistake behind a wrong byte count."""
    k = _PER_STEP[backend]
    elements = k * t * b * n
    if got == elements:
        return f"that is the number of elements; multiply by element_size ({element_size} bytes)."
    if got == 8 * elements * element_size:
        return "that is in bits; a byte is 8 bits, and element_size is already in bytes."
    if got == k * b * n * element_size and t > 1:
        return ("every time step saves its own tensors for BPTT: the memory is proportional to "
                "time_steps.")
    other = 4 - k  # 3 <-> 1
    if got == other * t * b * n * element_size:
        if backend == "torch":
            return ("the 'torch' backend records every operation of every step: it keeps 3 "
                    "tensors of shape [N, M] per step (H − V_th for the surrogate, H and 1 − S "
                    "for the reset), not only H.")
        return "the 'fused' backend keeps only H[t] (1 tensor per step) and recomputes the rest."
    if got % (t * b * n * element_size) == 0:
        return (f"the total is (tensors per step) × T × N × M × element_size; {backend!r} keeps "
                f"{'3 tensors' if backend == 'torch' else '1 tensor'} of shape [N, M] per step.")
    return "count (tensors per step) × time_steps × batch × neurons × element_size."
