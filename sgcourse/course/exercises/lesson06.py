r"""Checks for the exercise of lesson 06 (build and train your own spiking network).

Exercise — one training step of a multi-step spiking network::

    def train_step(model, x_seq, y, optimizer, reset_net): ...   # -> the loss, a float
    check_train_step(train_step)

``model`` maps ``x_seq`` ``[T, N, ...]`` to class scores per step ``[T, N, C]``; the loss is the
cross-entropy of the scores averaged over time, :math:`L = \mathrm{CE}(\frac1T \sum_t
\mathrm{out}[t], y)`; then ``optimizer.zero_grad()``, ``loss.backward()``, ``optimizer.step()``
and ``reset_net(model)``; the function returns ``loss.item()``.

The check runs the learner's function on a small fixed float64 network (Linear → LIF → Linear →
non-spiking LIF read-out) with plain SGD for two batches of different sizes, starting with a
stale gradient left in ``.grad`` (as after an earlier ``backward``), and compares the returned
losses, the updated weights and the state left in the network with
:func:`sgcourse.course.training.train_step`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sgcourse import functional, layer, neuron
from sgcourse.course import training
from sgcourse.course.exercises import (
    ExerciseError,
    call_learner,
    require_callable,
    require_number,
)

__all__ = ["check_train_step"]

_T = 5
_FEATURES, _HIDDEN, _CLASSES = 6, 12, 4
_BATCH_SIZES = (7, 3)
_LR = 0.5
_STALE_GRADIENT = 0.3
_TOLERANCE = 1e-9
_LOSS_TOLERANCE = 1e-6  # relative: a loss returned in float32 is accepted


def _fixed_model() -> nn.Sequential:
    """Linear(6, 12) → LIF → Linear(12, 4) → NonSpikingLIF(decode=None), float64, seed 0."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = nn.Sequential(layer.Linear(_FEATURES, _HIDDEN), neuron.LIFNode(tau=2.0),
                              layer.Linear(_HIDDEN, _CLASSES),
                              neuron.NonSpikingLIFNode(tau=2.0, decode=None)).double()
    functional.set_step_mode(model, "m")
    return model


def _batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(6)
    batches = []
    for n in _BATCH_SIZES:
        x_seq = 3.0 * torch.rand(_T, n, _FEATURES, generator=generator, dtype=torch.float64)
        labels = torch.randint(0, _CLASSES, (n,), generator=generator)
        batches.append((x_seq, labels))
    return batches


def _with_stale_gradient(model: nn.Module) -> None:
    for parameter in model.parameters():
        parameter.grad = torch.full_like(parameter, _STALE_GRADIENT)


def _as_loss(value: object, label: str) -> float:
    """The learner's returned loss as a float, or an ExerciseError saying what to return."""
    if isinstance(value, torch.Tensor):
        if value.requires_grad:
            raise ExerciseError(f"{label} returned a tensor that is still attached to the "
                                f"autograd graph: return loss.item(), a float. Keeping the "
                                f"tensor (e.g. in a list of losses) keeps the graph of all T "
                                f"steps of every layer alive, batch after batch.")
    return require_number(value, label, "the loss of the batch as a float, loss.item()")


def _reference_candidates(output: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Losses a beginner may compute instead of CE of the time average, with their hints."""
    one_hot = nn.functional.one_hot(labels, _CLASSES).to(output.dtype)
    ce = nn.functional.cross_entropy
    return {
        "the scores were summed over time: use the time average out.mean(0) (dimension 0 is "
        "time), not the sum": ce(output.sum(0), labels).item(),
        "only the last time step was used: average the output over all T steps, "
        "out.mean(0)": ce(output[-1], labels).item(),
        "that is the mean squared error to one-hot targets; this exercise uses the cross-entropy "
        "of the time-averaged scores": nn.functional.mse_loss(output.mean(0), one_hot).item(),
        "the loss was summed over the batch: cross_entropy averages over the batch by default "
        "(reduction='mean')": ce(output.mean(0), labels, reduction="sum").item(),
        "the cross-entropy was averaged over time steps (one loss per step): this exercise "
        "takes the cross-entropy of the time-averaged scores, cross_entropy(out.mean(0), y)":
            sum(ce(o, labels).item() for o in output) / len(output),
    }


def _call(fn: object, label: str, *args: object) -> object:
    """call_learner, with hints for the errors the usual mistakes raise."""
    try:
        return call_learner(fn, label, *args)  # type: ignore[arg-type]
    except ExerciseError as error:
        text = str(error)
        if "batch_size" in text or ("match" in text and "size" in text):
            raise ExerciseError(f"{text}\nHint: the output is [T, N, C]; average over time, "
                                f"dimension 0 (out.mean(0)), not over the batch (dimension 1)."
                                ) from None
        if "second time" in text or "reset_net" in text:
            raise ExerciseError(f"{text}\nHint: call reset_net(model) after optimizer.step(): "
                                f"without it the neurons keep this batch's state and its "
                                f"autograd graph.") from None
        raise


def check_train_step(fn: object) -> str:
    """Check ``fn(model, x_seq, y, optimizer, reset_net)`` against ``training.train_step``.

    Two batches (N = 7, then N = 3, T = 5) through a fixed float64 network with
    ``torch.optim.SGD(lr=0.5)``; before the first one every ``.grad`` holds a stale 0.3. After
    each call: the returned loss (a float, or a 0-dim tensor without graph), the state left in
    the neurons (none: ``reset_net`` ran) and every weight (one SGD step on this batch's gradient
    alone) must match the reference (the loss to a relative 1e-6, so float32 is fine; the weights
    to 1e-9). Hints name the usual mistakes: no ``reset_net``,
    no ``zero_grad``, ``zero_grad`` after ``backward`` or no ``step``, averaging over the batch
    instead of time, a summed or last-step score, a tensor returned with its graph.
    """
    fn = require_callable(fn, "check_train_step", "train_step")
    model, reference = _fixed_model(), _fixed_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=_LR)
    reference_optimizer = torch.optim.SGD(reference.parameters(), lr=_LR)
    _with_stale_gradient(model)
    _with_stale_gradient(reference)
    for number, (x_seq, labels) in enumerate(_batches(), start=1):
        label = (f"train_step(model, x_seq [T={_T}, N={len(labels)}, {_FEATURES}], y, optimizer, "
                 f"reset_net) on batch {number}")
        before = [p.detach().clone() for p in model.parameters()]
        grads_before = [torch.zeros_like(p) if p.grad is None else p.grad.detach().clone()
                        for p in model.parameters()]
        with torch.no_grad():
            candidates = _reference_candidates(reference(x_seq), labels)
        functional.reset_net(reference)
        expected = training.train_step(reference, x_seq, labels, reference_optimizer)
        gradient = [(b - p.detach()) / _LR for b, p in zip(before, reference.parameters(),
                                                          strict=True)]

        got = _as_loss(_call(fn, label, model, x_seq.clone(), labels.clone(), optimizer,
                             functional.reset_net), label)
        left = training.stateful_modules(model)
        if left:
            raise ExerciseError(f"after {label} the neurons {left} still hold this batch's "
                                f"state: call reset_net(model) at the end of the step, after "
                                f"optimizer.step(), so the next batch (or an evaluation) starts "
                                f"from rest with a fresh autograd graph.")
        if not math.isfinite(got) or not _same_loss(got, expected):
            hint = next((text for text, value in candidates.items() if _same_loss(got, value)),
                        "the loss is cross_entropy(model(x_seq).mean(0), y), computed before "
                        "the optimizer step; return loss.item().")
            raise ExerciseError(f"{label} returned the loss {got:.6f}, expected {expected:.6f}: "
                                f"{hint}")
        after = [p.detach() for p in model.parameters()]
        if all(_close(a, r) for a, r in zip(after, reference.parameters(), strict=True)):
            continue
        if all(torch.equal(a, b) for a, b in zip(after, before, strict=True)):
            raise ExerciseError(f"{label} left every weight unchanged: call optimizer.step() "
                                f"after loss.backward(), and optimizer.zero_grad() before "
                                f"backward (zeroing after backward erases the new gradient).")
        stale = [b - _LR * (g + s) for b, g, s in zip(before, gradient, grads_before, strict=True)]
        if all(_close(a, s) for a, s in zip(after, stale, strict=True)):
            raise ExerciseError(f"{label} added the gradient already stored in .grad to this "
                                f"batch's gradient: call optimizer.zero_grad() before "
                                f"loss.backward(), since backward() accumulates into .grad.")
        raise ExerciseError(f"{label}: the weights after the step differ from one optimizer step "
                            f"on this batch's gradient: zero_grad, then backward on this "
                            f"batch's loss, then step, once each.")
    return ("Correct: forward, cross-entropy of the time-averaged scores, zero_grad, backward "
            "(BPTT), step, reset_net, and the loss returned as a float.")


def _same_loss(got: float, expected: float) -> bool:
    return abs(got - expected) <= _LOSS_TOLERANCE * max(1.0, abs(expected))


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a.detach(), b.detach(), rtol=0, atol=_TOLERANCE)
