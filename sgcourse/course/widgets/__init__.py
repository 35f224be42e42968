"""The course's live explorers, drawn by one shared renderer.

- :func:`alpha_explorer` (:mod:`~sgcourse.course.widgets.alpha`): a surrogate's σ and σ′ while
  its shape hyper-parameter is dragged;
- :func:`neuron_explorer` (:mod:`~sgcourse.course.widgets.neuron`): a LIF neuron's traces while
  τ, V_th, the input and the reset change;
- :class:`~sgcourse.course.widgets.render.BlittedFigure`: the renderer both use.
"""

from __future__ import annotations

from sgcourse.course.widgets.alpha import AlphaExplorer, alpha_explorer
from sgcourse.course.widgets.neuron import NeuronExplorer, neuron_explorer

__all__ = ["AlphaExplorer", "NeuronExplorer", "alpha_explorer", "neuron_explorer"]
