"""torch.compile sees a spiking network as one graph: no graph break in the layers, the neuron's
backend dispatch or the fused kernel's custom op, from the very first call."""

from __future__ import annotations

import subprocess
import sys

import torch
import torch._dynamo

from sgcourse import functional, layer, neuron


def test_linear_lif_linear_compiles_to_one_graph_without_breaks() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(layer.Linear(16, 8, step_mode="m"), neuron.LIFNode(step_mode="m"),
                              layer.Linear(8, 4, step_mode="m"))
    x = torch.rand(4, 2, 16)
    explanation = torch._dynamo.explain(net)(x)  # the first call of this net
    reasons = [str(b.reason).splitlines()[0] for b in explanation.break_reasons]
    assert explanation.graph_break_count == 0, reasons
    assert explanation.graph_count == 1
    functional.reset_net(net)
    eager = net(x)
    functional.reset_net(net)
    torch._dynamo.reset()
    compiled = torch.compile(net, backend="aot_eager")(x)
    assert torch.equal(compiled, eager)


def test_the_fused_kernels_are_imported_with_the_neurons() -> None:
    """A lazy import at the first multi-step call, inside a traced region, broke the graph."""
    code = ("import sys, sgcourse.neuron; "
            "assert 'sgcourse.kernels.fused' in sys.modules; "
            "assert 'sgcourse.kernels.triton' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
