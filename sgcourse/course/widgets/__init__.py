"""The course's live explorers, drawn by one shared renderer.

- :func:`alpha_explorer` (:mod:`~sgcourse.course.widgets.alpha`): a surrogate's σ and σ′ while
  its shape hyper-parameter is dragged;
- :func:`neuron_explorer` (:mod:`~sgcourse.course.widgets.neuron`): a LIF neuron's traces while
  τ, V_th, the input and the reset change;
- :func:`zoo_explorer` (:mod:`~sgcourse.course.widgets.zoo`): any neuron of the zoo (a dropdown),
  its parameters, its spikes and its f–I curve;
- :class:`~sgcourse.course.widgets.render.BlittedFigure`: the renderer they all use.
"""

from __future__ import annotations

from sgcourse.course.widgets.alpha import AlphaExplorer, alpha_explorer
from sgcourse.course.widgets.neuron import NeuronExplorer, neuron_explorer
from sgcourse.course.widgets.zoo import ZooExplorer, zoo_explorer

__all__ = ["AlphaExplorer", "NeuronExplorer", "ZooExplorer", "alpha_explorer", "neuron_explorer",
           "zoo_explorer"]
