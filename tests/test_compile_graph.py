"""torch.compile sees a spiking network as one graph: no graph break in the layers, the neuron's
backend dispatch or the fused kernel's custom op (once the kernel module is imported)."""

from __future__ import annotations

import torch
import torch._dynamo

from sgcourse import functional, layer, neuron


def test_linear_lif_linear_compiles_to_one_graph_without_breaks() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(layer.Linear(16, 8, step_mode="m"), neuron.LIFNode(step_mode="m"),
                              layer.Linear(8, 4, step_mode="m"))
    x = torch.rand(4, 2, 16)
    eager = net(x)  # imports the fused kernels, as any first run does
    functional.reset_net(net)
    explanation = torch._dynamo.explain(net)(x)
    reasons = [str(b.reason).splitlines()[0] for b in explanation.break_reasons]
    assert explanation.graph_break_count == 0, reasons
    assert explanation.graph_count == 1
    functional.reset_net(net)
    torch._dynamo.reset()
    compiled = torch.compile(net, backend="aot_eager")(x)
    assert torch.equal(compiled, eager)
