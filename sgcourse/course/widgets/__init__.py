"""The course's live explorers, drawn by one shared renderer.

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
- :func:`energy_explorer` (:mod:`~sgcourse.course.widgets.energy`): the energy of an SNN and its
  ANN twin, and the break-even spike rate, while the per-operation energies change;
- :class:`~sgcourse.course.widgets.render.BlittedFigure`: the renderer they all use.
"""

from __future__ import annotations

from sgcourse.course.widgets.alpha import AlphaExplorer, alpha_explorer
from sgcourse.course.widgets.encoder import EncoderExplorer, encoder_explorer
from sgcourse.course.widgets.energy import EnergyExplorer, energy_explorer
from sgcourse.course.widgets.neuron import NeuronExplorer, neuron_explorer
from sgcourse.course.widgets.steepness import SteepnessExplorer, steepness_explorer
from sgcourse.course.widgets.zoo import ZooExplorer, zoo_explorer

__all__ = ["AlphaExplorer", "EncoderExplorer", "EnergyExplorer", "NeuronExplorer",
           "SteepnessExplorer", "ZooExplorer", "alpha_explorer", "encoder_explorer",
           "energy_explorer", "neuron_explorer", "steepness_explorer", "zoo_explorer"]
