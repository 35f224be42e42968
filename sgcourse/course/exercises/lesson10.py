r"""Checks for the exercise of lesson 10 (why spikes).

Exercise — count synaptic operations::

    def synops(spikes, fan_out): ...
    check_synops(synops)

``spikes`` is a spike train ``[T, N, F]`` of 0.0 and 1.0 (time steps, samples, neurons);
``fan_out`` the number of synapses leaving each neuron: an ``int`` (every neuron the same) or a
tensor ``[F]`` (one number per neuron). The answer is the total number of synaptic operations,

.. math::

    \text{SynOps} = \sum_{t} \sum_{n} \sum_{i} S_{t,n,i}\, f_i ,

one accumulate per spike and outgoing synapse; silent neurons cost nothing.
"""

from __future__ import annotations

import math

import torch

from sgcourse.course.exercises import (
    ExerciseError,
    call_learner,
    require_callable,
    require_number,
)

__all__ = ["check_synops"]


def _spike_train(shape: tuple[int, int, int], rate: float, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=generator) < rate).to(torch.float32)


def _cases() -> list[tuple[torch.Tensor, int | torch.Tensor]]:
    """Spike trains with an int fan-out, then with a per-neuron fan-out tensor [F]."""
    return [
        (_spike_train((4, 3, 5), 0.3, 0), 7),
        (_spike_train((8, 2, 10), 0.1, 1), 128),
        (torch.zeros(3, 2, 4), 5),                                    # silent: no operations
        (_spike_train((6, 3, 4), 0.4, 2), torch.tensor([10, 1, 0, 3])),
    ]


def check_synops(fn: object) -> str:
    r"""Check ``fn(spikes, fan_out)`` -> total synaptic operations (see the module docstring).

    Hints for the usual mistakes: the dense count (every entry, spike or not), forgetting the
    fan-out, an average instead of a total, a per-neuron fan-out multiplied after summing
    (broadcasting over the wrong dimension), ``spikes`` changed in place.
    """
    fn = require_callable(fn, "check_synops", "synops")
    for spikes, fan_out in _cases():
        shown = fan_out if isinstance(fan_out, int) else f"tensor({fan_out.tolist()})"
        label = f"synops(spikes of shape {tuple(spikes.shape)}, fan_out={shown})"
        spikes_before = spikes.clone()
        fan = fan_out.clone() if isinstance(fan_out, torch.Tensor) else fan_out
        got = require_number(call_learner(fn, label, spikes, fan), label,
                             "a number of operations",
                             shape_hint="the total over time steps, samples and neurons: sum "
                                        "over every dimension")
        if not torch.equal(spikes, spikes_before):
            raise ExerciseError(f"{label} changed the spike tensor in place; compute a new "
                                f"tensor instead.")
        per_neuron = spikes.sum(dim=(0, 1))
        expected = float((per_neuron * torch.as_tensor(fan_out, dtype=torch.float32)).sum())
        if math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-6):
            continue
        raise ExerciseError(f"{label} returned {got:g}, expected {expected:g}: "
                            f"{_hint(got, spikes, fan_out)}")
    return ("Correct: every spike costs one accumulate per outgoing synapse, "
            "SynOps = Σ_t Σ_n Σ_i S[t, n, i]·f_i; silent neurons cost nothing.")


def _hint(got: float, spikes: torch.Tensor, fan_out: int | torch.Tensor) -> str:
    """Name the likely mistake behind a wrong SynOp count."""
    count = float(spikes.sum())
    fan = torch.as_tensor(fan_out, dtype=torch.float32)
    mean_fan = float(fan.float().mean())
    t, n, _ = spikes.shape

    def close(value: float) -> bool:
        return math.isclose(got, value, rel_tol=1e-6, abs_tol=1e-6)

    if close(spikes.numel() * mean_fan) or close(float(fan.sum()) * t * n):
        return ("that is the dense count, as if every neuron fired at every step: only the "
                "entries that are 1 (spikes) cost operations.")
    if close(count):
        return "that is the number of spikes; each spike reaches fan_out synapses."
    if close(count * mean_fan / (t * n)) or close(count * mean_fan / t) or close(
            count * mean_fan / n) or close(count * mean_fan / spikes.numel()):
        return "return the total over all time steps and samples, not an average."
    if isinstance(fan_out, torch.Tensor) and close(count * float(fan.sum())):
        return ("fan_out gives one number per neuron: multiply each neuron's spike count by its "
                "own fan-out (spikes * fan_out broadcasts over the last dimension), then sum.")
    return "multiply each spike by the fan-out of the neuron that fired it, and sum everything."
