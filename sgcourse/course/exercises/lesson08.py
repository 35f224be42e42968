r"""Checks for the exercises of lesson 08 (learning in time: the controls of BPTT).

Exercise 1 — one step of the detached control::

    def detached_step(current, v, s, w_rec, tau, spike_fn): ...   # -> (s_next, v_next)
    check_detached_step(detached_step)

A recurrent LIF step with :math:`V_{th} = 1` and a hard reset to :math:`V_{reset} = 0`:
:math:`I = \text{current} + W_{rec} S[t-1]`,
:math:`H = V[t-1] + (I - V[t-1])/\tau`, :math:`S = \text{spike\_fn}(H - 1)`,
:math:`V = (1 - S)\,H`, where the past, :math:`V[t-1]` and :math:`S[t-1]`, enters as a constant
for autograd. Compared with :class:`sgcourse.course.temporal.RecurrentLIF` (``memory='detached'``)
in value and in gradient.

Exercise 2 — the last-step read-out::

    def last_step_readout(spikes, weight, bias): ...   # spikes [T, N, H] -> logits [N, C]
    check_last_step_readout(last_step_readout)

:math:`W S[T-1] + b`, the read-out of :class:`~sgcourse.course.temporal.SequenceClassifier`.
"""

from __future__ import annotations

import torch

from sgcourse import surrogate
from sgcourse.course.exercises import (
    ExerciseError,
    call_learner,
    require_callable,
    require_tensor_like,
)

__all__ = ["check_detached_step", "check_last_step_readout"]


# --- exercise 1: the detached step ------------------------------------------------------------

def _reference_step(current: torch.Tensor, v: torch.Tensor, s: torch.Tensor, w_rec: torch.Tensor,
                    tau: float, spike_fn: object, *, detach_v: bool = True,
                    detach_s: bool = True, recurrent: bool = True, leak: bool = True,
                    soft: bool = False, transpose: bool = True
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """The step, with switches that reproduce the usual mistakes (defaults: the right answer)."""
    v_in = v.detach() if detach_v else v
    s_in = s.detach() if detach_s else s
    i = current + (s_in @ (w_rec.T if transpose else w_rec) if recurrent else 0.0)
    h = v_in + (i - v_in) / tau if leak else v_in + i
    spike = spike_fn(h - 1.0)
    return spike, (h - spike if soft else (1.0 - spike) * h)


def _step_inputs() -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(3)
    current = 1.5 * torch.rand((4, 5), generator=generator, dtype=torch.float64)
    v = 0.9 * torch.rand((4, 5), generator=generator, dtype=torch.float64)
    s = (torch.rand((4, 5), generator=generator, dtype=torch.float64) < 0.4).double()
    w_rec = torch.randn((5, 5), generator=generator, dtype=torch.float64)   # not symmetric
    return current, v, s, w_rec


def check_detached_step(fn: object) -> str:
    r"""Check ``fn(current, v, s, w_rec, tau, spike_fn)`` -> ``(s_next, v_next)``.

    Called on float64 tensors (4 samples, 5 neurons) with ``spike_fn = surrogate.Sigmoid()``,
    for :math:`\tau = 2` and 5. The spikes and potentials must match the reference, the gradient
    must reach ``current`` and ``w_rec`` as in the reference, and none may reach ``v`` or ``s``.
    Hints: the pair returned in the wrong order, the membrane or the spikes not detached, the
    current detached too, no recurrent term, ``w_rec`` not transposed, no leak, a soft reset,
    spikes made without ``spike_fn``.
    """
    fn = require_callable(fn, "check_detached_step", "detached_step")
    spike_fn = surrogate.Sigmoid()
    for tau in (2.0, 5.0):
        current, v, s, w_rec = _step_inputs()
        leaves = [t.clone().requires_grad_(True) for t in (current, v, s, w_rec)]
        label = f"detached_step(current, v, s, w_rec, tau={tau:g}, spike_fn)"
        got = call_learner(fn, label, *leaves, tau, spike_fn)
        if not isinstance(got, tuple | list) or len(got) != 2:
            raise ExerciseError(f"{label} must return a pair (s_next, v_next), got "
                                f"{type(got).__name__}")
        s_next = require_tensor_like(got[0], f"{label}: s_next", current, "current",
                                     returned=False)
        v_next = require_tensor_like(got[1], f"{label}: v_next", current, "current",
                                     returned=False)
        want_s, want_v = _reference_step(current, v, s, w_rec, tau, spike_fn)
        if not (torch.equal(s_next.detach().double(), want_s)
                and torch.allclose(v_next.detach().double(), want_v, rtol=0, atol=1e-6)):
            raise ExerciseError(f"{label} computes other spikes or potentials than the "
                                f"recurrent LIF step: "
                                f"{_forward_hint(s_next, v_next, current, v, s, w_rec, tau)}")
        _check_gradients(label, s_next, v_next, leaves, tau, spike_fn)
    return ("Correct: the step computes H from V[t-1] and W_rec·S[t-1] as constants (.detach()), "
            "so the gradient of this step reaches the current and W_rec but not the past.")


def _forward_hint(s_next: torch.Tensor, v_next: torch.Tensor, current: torch.Tensor,
                  v: torch.Tensor, s: torch.Tensor, w_rec: torch.Tensor, tau: float) -> str:
    spike_fn = surrogate.Sigmoid()
    got_s, got_v = s_next.detach().double(), v_next.detach().double()
    want_s, want_v = _reference_step(current, v, s, w_rec, tau, spike_fn)
    if torch.equal(got_v, want_s) and torch.allclose(got_s, want_v, rtol=0, atol=1e-6):
        return "return (s_next, v_next) in that order: the spikes first, then the potential."
    for switches, hint in (
            ({"recurrent": False}, "add the recurrent input W_rec·S[t-1] to the current."),
            ({"transpose": False}, "the recurrent input of neuron j is Σ_i w_rec[j, i]·s[i]: "
                                   "s @ w_rec.T (like nn.Linear), not s @ w_rec."),
            ({"leak": False}, "the charge leaks: H = V + (I − V)/τ."),
            ({"soft": True}, "this step resets hard to 0: V = (1 − S)·H, not H − S.")):
        want_s, want_v = _reference_step(current, v, s, w_rec, tau, spike_fn, **switches)
        if torch.equal(got_s, want_s) and torch.allclose(got_v, want_v, rtol=0, atol=1e-6):
            return hint
    if torch.all((got_s == 0) | (got_s == 1)):
        return ("check I = current + s @ w_rec.T, H = V + (I − V)/τ, S = spike_fn(H − 1), "
                "V = (1 − S)·H.")
    return "spikes are 0 or 1: S = spike_fn(H − 1.0)."


def _check_gradients(label: str, s_next: torch.Tensor, v_next: torch.Tensor,
                     leaves: list[torch.Tensor], tau: float, spike_fn: object) -> None:
    current, v, s, w_rec = leaves
    if not s_next.requires_grad:
        raise ExerciseError(f"{label} returns spikes cut from the autograd graph: make the spike "
                            f"with spike_fn(h - 1.0) (a comparison such as >= has no gradient), "
                            f"and detach only v and s, not the current or the result.")
    outputs = (s_next.double() * 1.3 + v_next.double() * 0.7).sum()
    grads = torch.autograd.grad(outputs, leaves, allow_unused=True)
    grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, leaves, strict=True)]
    if grads[1].abs().max() > 0:
        raise ExerciseError(f"{label} lets the gradient reach v: the membrane of the previous "
                            f"step must enter as a constant, v.detach().")
    if grads[2].abs().max() > 0:
        raise ExerciseError(f"{label} lets the gradient reach s: the previous spikes must enter "
                            f"as constants too, s.detach() (otherwise the gradient still "
                            f"reaches earlier steps through the recurrent connections).")
    ref = [t.detach().clone().requires_grad_(True) for t in (current, v, s, w_rec)]
    want_s, want_v = _reference_step(*ref, tau, spike_fn)
    want = torch.autograd.grad((want_s * 1.3 + want_v * 0.7).sum(), [ref[0], ref[3]])
    for got, expected, name in ((grads[0], want[0], "current"), (grads[3], want[1], "w_rec")):
        if not torch.allclose(got.double(), expected, rtol=1e-5, atol=1e-9):
            raise ExerciseError(f"{label}: the gradient with respect to {name} differs from the "
                                f"reference; detach only v and s, and make the spike with "
                                f"spike_fn(h - 1.0).")


# --- exercise 2: the last-step read-out -----------------------------------------------------------

def check_last_step_readout(fn: object) -> str:
    """Check ``fn(spikes, weight, bias)`` -> logits ``[N, C]`` = ``spikes[-1] @ weight.T + bias``.

    Hints: the mean or sum over the steps, the first step, a missing bias, ``weight`` not
    transposed (a shape error for a non-square ``weight``).
    """
    fn = require_callable(fn, "check_last_step_readout", "last_step_readout")
    generator = torch.Generator().manual_seed(11)
    for steps, n, h, c in ((6, 4, 7, 3), (3, 2, 5, 5)):
        spikes = (torch.rand((steps, n, h), generator=generator, dtype=torch.float64) < 0.3)
        spikes = spikes.double()
        weight = torch.randn((c, h), generator=generator, dtype=torch.float64)
        bias = torch.randn((c,), generator=generator, dtype=torch.float64)
        label = (f"last_step_readout(spikes {tuple(spikes.shape)}, weight "
                 f"{tuple(weight.shape)}, bias)")
        expected = spikes[-1] @ weight.T + bias
        try:
            got = call_learner(fn, label, spikes.clone(), weight.clone(), bias.clone())
        except ExerciseError as error:
            if "cannot be multiplied" in str(error.__cause__):
                raise ExerciseError(f"{error} (hint: weight is [num_classes, neurons] like "
                                    f"nn.Linear's weight: use spikes[-1] @ weight.T)") from None
            raise
        got = require_tensor_like(got, label, expected, "[N, num_classes]")
        if torch.allclose(got.detach().double(), expected, rtol=1e-6, atol=1e-6):
            continue
        raise ExerciseError(f"{label} returned other logits: "
                            f"{_readout_hint(got.detach().double(), spikes, weight, bias)}")
    return "Correct: the class scores come from the last step only, W·S[T−1] + b."


def _readout_hint(got: torch.Tensor, spikes: torch.Tensor, weight: torch.Tensor,
                  bias: torch.Tensor) -> str:
    candidates = [
        (spikes.mean(0) @ weight.T + bias, "that averages over the steps; use the last step "
                                           "only, spikes[-1]."),
        (spikes.sum(0) @ weight.T + bias, "that sums over the steps; use the last step only, "
                                          "spikes[-1]."),
        (spikes[0] @ weight.T + bias, "that is the FIRST step; the last one is spikes[-1]."),
        (spikes[-1] @ weight.T, "add the bias."),
    ]
    if weight.shape[0] == weight.shape[1]:  # only then does the untransposed product run
        candidates.append((spikes[-1] @ weight + bias, "weight has shape [num_classes, "
                                                       "neurons] (like nn.Linear): use weight.T."))
    for value, hint in candidates:
        if torch.allclose(got, value, rtol=1e-6, atol=1e-6):
            return hint
    return "logits = spikes[-1] @ weight.T + bias (like nn.Linear on the last step)."
