"""The course's live explorers, drawn by one shared renderer.

- :func:`delta_explorer` (:mod:`~sgcourse.course.widgets.delta`): the difference quotient δ_ε of
  Θ, a box of height 1/ε and area 1, and a smooth step of the same height, while ε shrinks
  towards the Dirac delta (lesson 01);
- :func:`alpha_explorer` (:mod:`~sgcourse.course.widgets.alpha`): a surrogate's σ and σ′ while
  its shape hyper-parameter is dragged;
- :func:`neuron_explorer` (:mod:`~sgcourse.course.widgets.neuron`): a LIF neuron's traces while
  τ, V_th, the input and the reset change;
- :func:`zoo_explorer` (:mod:`~sgcourse.course.widgets.zoo`): any neuron of the zoo (a dropdown),
  its parameters, its spikes and its f–I curve;
- :func:`encoder_explorer` (:mod:`~sgcourse.course.widgets.encoder`): what a direct, Poisson or
  latency code keeps of a digit, for T steps;
- :func:`steepness_explorer` (:mod:`~sgcourse.course.widgets.steepness`): surrogate shapes at a
  common peak while their steepness k changes;
- :func:`horizon_explorer` (:mod:`~sgcourse.course.widgets.horizon`): how far back in time the
  gradient reaches, |∂H[T−1]/∂X[t]| of a few LIF neurons against the closed form
  (1/τ)(1−1/τ)^(T−1−t), while τ, ``detach_reset`` and the 'detached' control change (lesson 08);
- :func:`memory_explorer` (:mod:`~sgcourse.course.widgets.memory`): the bytes BPTT saves for
  backward against T for ``'torch'`` and ``'fused'``, for a batch, a layer width and a reset
  (k measured), against a memory budget (lesson 09);
- :func:`energy_explorer` (:mod:`~sgcourse.course.widgets.energy`): the energy of an SNN and its
  ANN twin, and the break-even spike rate, while the per-operation energies change;
- :class:`~sgcourse.course.widgets.render.BlittedFigure`: the renderer they all use.
"""

from __future__ import annotations

from sgcourse.course.widgets.alpha import AlphaExplorer, alpha_explorer
from sgcourse.course.widgets.delta import DeltaExplorer, delta_explorer
from sgcourse.course.widgets.encoder import EncoderExplorer, encoder_explorer
from sgcourse.course.widgets.energy import EnergyExplorer, energy_explorer
from sgcourse.course.widgets.horizon import HorizonExplorer, horizon_explorer
from sgcourse.course.widgets.memory import MemoryExplorer, memory_explorer
from sgcourse.course.widgets.neuron import NeuronExplorer, neuron_explorer
from sgcourse.course.widgets.steepness import SteepnessExplorer, steepness_explorer
from sgcourse.course.widgets.zoo import ZooExplorer, zoo_explorer

__all__ = ["AlphaExplorer", "DeltaExplorer", "EncoderExplorer", "EnergyExplorer",
           "HorizonExplorer", "MemoryExplorer", "NeuronExplorer", "SteepnessExplorer",
           "ZooExplorer", "alpha_explorer", "delta_explorer", "encoder_explorer",
           "energy_explorer", "horizon_explorer", "memory_explorer", "neuron_explorer",
           "steepness_explorer", "zoo_explorer"]
