r"""Checks for the exercises of lesson 03 (spiking neurons and back-propagation through time).

Exercise 1 — one step of a LIF neuron with a hard reset::

    def lif_step(x, v, tau, v_threshold, v_reset): ...   # -> (spike, v_next)
    check_lif_step(lif_step)

charge :math:`H = V + (X - (V - V_{reset}))/\tau`, fire :math:`S = \Theta(H - V_{th})` (a spike
exactly at threshold), reset :math:`V' = S\,V_{reset} + (1 - S)\,H`. Compared with one step of
:class:`sgcourse.neuron.LIFNode` in single-step mode.

Exercise 2 — the reset's factor in BPTT, :math:`\partial V_t / \partial H_t`::

    def reset_factor(h, g, v_threshold, v_reset, detach_reset): ...
    check_reset_factor(reset_factor)

with :math:`g = \sigma'(H - V_{th})` given, ``v_reset=None`` meaning a soft reset; compared with
autograd through the reset of a real neuron (:meth:`sgcourse.neuron.LIFNode.neuronal_reset`).

Each check calls the learner's function, raises
:class:`~sgcourse.course.exercises.ExerciseError` with a hint when the answer is wrong (or still a
``raise NotImplementedError`` stub), and returns a short confirmation otherwise.
"""

from __future__ import annotations

import torch

from sgcourse import neuron
from sgcourse.course.exercises import (
    ExerciseError,
    call_learner,
    require_callable,
    require_tensor_like,
)

__all__ = ["check_lif_step", "check_reset_factor"]


# --- exercise 1: one LIF step with a hard reset ----------------------------------------------

#: (x, v, tau, v_threshold, v_reset) — includes H exactly at threshold (x = 2, v = 0, tau = 2).
_STEP_CASES: tuple[tuple[tuple[float, ...], tuple[float, ...], float, float, float], ...] = (
    ((2.0, 0.5, 3.0, -1.0, 0.0), (0.0, 0.0, 0.0, 0.5, 0.9), 2.0, 1.0, 0.0),
    ((0.3, 1.2, 2.5, 0.0), (0.4, 0.6, -0.1, 0.8), 4.0, 0.5, -0.2),
    ((1.0, 1.0, 4.0), (0.8, 0.2, 0.9), 10.0, 1.0, 0.0),
)


def _reference_step(x: torch.Tensor, v: torch.Tensor, tau: float, v_threshold: float,
                    v_reset: float) -> tuple[torch.Tensor, torch.Tensor]:
    node = neuron.LIFNode(tau=tau, v_threshold=v_threshold, v_reset=v_reset, step_mode="s")
    node.v = v.clone()
    with torch.no_grad():
        spike = node(x.clone())
    return spike, node.v


def _tolerance(dtype: torch.dtype) -> float:
    """Absolute tolerance for an answer computed in ``dtype`` on the checks' O(1) potentials.

    1e-6, or 16 machine epsilons of a lower precision: an answer that went through float32
    somewhere (``int_tensor * 0.2`` is float32, ``.float()``) is accepted rather than blamed on its
    formula; the mistakes the hints name change the potentials by 0.01 or more.
    """
    return max(1e-6, 16 * torch.finfo(dtype).eps)


def check_lif_step(fn: object) -> str:
    r"""Check ``fn(x, v, tau, v_threshold, v_reset)`` -> ``(spike, v_next)``, hard reset.

    ``fn`` is called on float64 tensors for three settings of τ, :math:`V_{th}` and
    :math:`V_{reset}` (one input lands exactly on the threshold) and compared with one step of
    ``LIFNode(tau, v_threshold=..., v_reset=..., step_mode='s')`` started at ``v`` (tolerance
    1e-6, a few roundings for a float16 answer). Hints for the usual mistakes: no
    leak, the input not divided by τ, ``>`` instead of ``>=``, no reset, a soft reset, returning
    :math:`H` instead of the reset :math:`V`, spikes as booleans, ``v`` changed in place.
    """
    fn = require_callable(fn, "check_lif_step", "lif_step")
    for xs, vs, tau, v_threshold, v_reset in _STEP_CASES:
        x = torch.tensor(xs, dtype=torch.float64)
        v = torch.tensor(vs, dtype=torch.float64)
        x_before, v_before = x.clone(), v.clone()
        label = (f"lif_step(x={list(xs)}, v={list(vs)}, tau={tau:g}, v_threshold={v_threshold:g}, "
                 f"v_reset={v_reset:g})")
        got = call_learner(fn, label, x, v, tau, v_threshold, v_reset)
        if not torch.equal(x, x_before) or not torch.equal(v, v_before):
            raise ExerciseError(f"{label} changed its input tensors in place; compute new tensors "
                                f"instead (h = ..., not v += ...).")
        if not isinstance(got, tuple | list) or len(got) != 2:
            raise ExerciseError(f"{label} must return a pair (spike, v_next), got "
                                f"{type(got).__name__}")
        spike, v_next = got
        spike = require_tensor_like(spike, f"{label}: spike", x, "x", returned=False)
        v_next = require_tensor_like(v_next, f"{label}: v_next", x, "x",
                                     returned=False)
        if spike.dtype == torch.bool:
            raise ExerciseError(f"{label} returned boolean spikes: convert them with "
                                f".to(h.dtype), they are numbers that multiply weights.")
        if not v_next.is_floating_point():
            raise ExerciseError(f"{label}: v_next must hold floating-point potentials (the dtype "
                                f"of v), got {v_next.dtype}")
        tol = _tolerance(v_next.dtype)
        want_spike, want_v = _reference_step(x, v, tau, v_threshold, v_reset)
        spike = spike.detach().to(torch.float64)
        v_next = v_next.detach().to(torch.float64)
        if torch.equal(spike, want_spike) and torch.allclose(v_next, want_v, rtol=0, atol=tol):
            continue
        raise ExerciseError(f"{label} returned spike={spike.tolist()}, v_next="
                            f"{[round(value, 6) for value in v_next.tolist()]}; expected spike="
                            f"{want_spike.tolist()}, v_next="
                            f"{[round(value, 6) for value in want_v.tolist()]}: "
                            f"{_step_hint(spike, v_next, x, v, tau, v_threshold, v_reset, tol)}")
    return ("Correct: H = V + (X − (V − V_reset))/τ, S = Θ(H − V_th), V' = S·V_reset + (1 − S)·H "
            "agrees with LIFNode step by step.")


def _step_hint(spike: torch.Tensor, v_next: torch.Tensor, x: torch.Tensor, v: torch.Tensor,
               tau: float, v_threshold: float, v_reset: float, tol: float) -> str:
    """Name the likely mistake behind a wrong LIF step (``tol``: the answer's tolerance)."""
    h = v + (x - (v - v_reset)) / tau
    s = (h >= v_threshold).to(h.dtype)

    def close(a: torch.Tensor, b: torch.Tensor) -> bool:
        return torch.allclose(a, b, rtol=0, atol=tol)

    if not torch.all((spike == 0) | (spike == 1)):
        return "spikes are all-or-none: every entry must be exactly 0.0 or 1.0."
    if torch.equal(spike, (h > v_threshold).to(h.dtype)) and not torch.equal(spike, s):
        return "a neuron exactly at threshold fires (Θ(0) = 1): use >= instead of >."
    for wrong_h, what in ((v + x, "the leak and the 1/τ are missing: H = V + (X − (V − V_r))/τ"),
                          (v + (x - v) / tau, "the leak relaxes V towards V_reset, not towards 0:"
                                              " use (V − V_reset) in the charge"),
                          (v - (v - v_reset) / tau + x, "the input is divided by τ too "
                                                        "(decay_input=True): H = V + (X − (V − "
                                                        "V_r))/τ")):
        wrong_s = (wrong_h >= v_threshold).to(h.dtype)
        if torch.equal(spike, wrong_s) and close(v_next, wrong_s * v_reset + (1 - wrong_s) *
                                                 wrong_h):
            return what
    if not torch.equal(spike, s):
        return "fire on the charged potential: S = Θ(H − V_th) with H computed first."
    if close(v_next, h):
        return "v_next must be the potential AFTER the reset: V' = S·V_reset + (1 − S)·H."
    if close(v_next, h - s * v_threshold):
        return ("that is a soft reset (subtract V_th); this exercise asks for a hard reset to "
                "V_reset: V' = S·V_reset + (1 − S)·H.")
    if close(v_next, s * 0.0 + (1 - s) * h):
        return "reset to the v_reset argument, not to 0."
    return "check the charge H = V + (X − (V − V_reset))/τ and the reset S·V_reset + (1 − S)·H."


# --- exercise 2: ∂V_t/∂H_t of the reset -------------------------------------------------------

_RESET_SETTINGS: tuple[tuple[float, float | None, bool], ...] = (
    (1.0, 0.0, False), (1.0, 0.0, True), (1.0, None, False), (1.0, None, True),
    (0.5, -0.3, False), (0.5, -0.3, True), (0.8, None, False),
)


def _reset_factor_by_autograd(h: torch.Tensor, g: torch.Tensor, v_threshold: float,
                              v_reset: float | None, detach_reset: bool) -> torch.Tensor:
    """∂V/∂H of LIFNode's reset, by autograd, with a spike function whose derivative is ``g``."""
    node = neuron.LIFNode(v_threshold=v_threshold, v_reset=v_reset, detach_reset=detach_reset)
    h = h.clone().requires_grad_(True)
    # Heaviside forward; backward multiplies by g (elementwise), like a surrogate would.
    step = (h >= v_threshold).to(h.dtype)
    spike = step + (h - h.detach()) * g
    v_next = node.neuronal_reset(h, spike)
    (grad,) = torch.autograd.grad(v_next.sum(), h)
    return grad


def check_reset_factor(fn: object) -> str:
    r"""Check ``fn(h, g, v_threshold, v_reset, detach_reset)``: :math:`\partial V/\partial H`.

    ``h`` holds charged potentials below, at and above the threshold, ``g`` the surrogate
    derivative :math:`\sigma'(h - V_{th})`; ``v_reset=None`` is a soft reset. The answer is
    compared (tolerance 1e-6) with autograd through ``LIFNode.neuronal_reset`` for hard and soft
    resets, with and without ``detach_reset``. Hints name the usual mistakes: ignoring
    ``detach_reset``, forgetting the surrogate term, the sign of :math:`(V_r - H)`, the soft and
    hard formulas swapped.
    """
    fn = require_callable(fn, "check_reset_factor", "reset_factor")
    for v_threshold, v_reset, detach_reset in _RESET_SETTINGS:
        h = torch.tensor([-0.5, 0.2, 0.9, 1.0, 1.3, 2.2], dtype=torch.float64) * v_threshold
        g = torch.sigmoid(4 * (h - v_threshold)) * (1 - torch.sigmoid(4 * (h - v_threshold))) * 4
        label = (f"reset_factor(h, g, v_threshold={v_threshold:g}, v_reset={v_reset}, "
                 f"detach_reset={detach_reset})")
        got = call_learner(fn, label, h.clone(), g.clone(), v_threshold, v_reset, detach_reset)
        got = _as_factor_tensor(got, label, h)
        tol = _tolerance(got.dtype if got.is_floating_point() else torch.float64)
        got = got.detach().to(torch.float64)
        expected = _reset_factor_by_autograd(h, g, v_threshold, v_reset, detach_reset)
        if torch.allclose(got, expected, rtol=0, atol=tol):
            continue
        raise ExerciseError(f"{label} returned {[round(v, 4) for v in got.tolist()]}, expected "
                            f"{[round(v, 4) for v in expected.tolist()]}: "
                            f"{_reset_hint(got, h, g, v_threshold, v_reset, detach_reset, tol)}")
    return ("Correct: ∂V/∂H is 1 − S + (V_r − H)·g (hard) or 1 − V_th·g (soft); detach_reset "
            "drops the g terms, leaving 1 − S (hard) or 1 (soft).")


def _as_factor_tensor(got: object, label: str, h: torch.Tensor) -> torch.Tensor:
    """The learner's factor as a tensor of ``h``'s shape: a number or a one-element tensor (the
    same factor for every entry, e.g. 1 for a soft reset with ``detach_reset``) is broadcast."""
    if isinstance(got, int | float) and not isinstance(got, bool):
        return torch.full_like(h, float(got))
    if isinstance(got, torch.Tensor) and got.dim() == 0:
        if got.dtype == torch.bool or got.is_complex():
            raise ExerciseError(f"{label} must return real numbers, got a {got.dtype} tensor")
        return got.detach().to(torch.float64).expand_as(h)
    return require_tensor_like(got, label, h, "h")


def _reset_hint(got: torch.Tensor, h: torch.Tensor, g: torch.Tensor, v_threshold: float,
                v_reset: float | None, detach_reset: bool, tol: float) -> str:
    """Name the likely mistake behind a wrong reset factor (``tol``: the answer's tolerance)."""
    s = (h >= v_threshold).to(h.dtype)
    hard = v_reset is not None
    v_r = v_reset if hard else 0.0
    candidates = {
        "hard_full": 1 - s + (v_r - h) * g, "hard_detached": 1 - s,
        "soft_full": 1 - v_threshold * g, "soft_detached": torch.ones_like(h),
        "hard_sign": 1 - s + (h - v_r) * g,
    }

    def matches(key: str) -> bool:
        return torch.allclose(got, candidates[key], rtol=0, atol=tol)

    kind = "hard" if hard else "soft"
    if detach_reset and matches(f"{kind}_full"):
        return ("with detach_reset=True the spike in the reset is a constant for autograd, so "
                "the g (surrogate) terms drop out.")
    if not detach_reset and matches(f"{kind}_detached"):
        return ("with detach_reset=False the reset depends on H through the spike too: add the "
                "surrogate term (it contains g).")
    if hard and matches("hard_sign"):
        return "mind the sign: V = S·V_r + (1 − S)·H, so ∂V/∂S = V_r − H (not H − V_r)."
    other = "soft" if hard else "hard"
    if matches(f"{other}_full") or matches(f"{other}_detached"):
        return (f"that is the {other}-reset formula; v_reset={v_reset} means a {kind} reset "
                f"(v_reset=None is soft).")
    return ("differentiate V = S·V_r + (1 − S)·H (hard) or V = H − S·V_th (soft), with "
            "∂S/∂H = g unless detach_reset.")
