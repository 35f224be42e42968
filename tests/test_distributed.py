"""DistributedDataParallel on CPU (gloo, 2 processes): same gradients as one process, reset_net
works on the wrapped model.

Each rank trains on half of the batch. The loss is a mean over samples, and DDP averages the
gradients of the two equal halves, so after every step the parameters must equal those of
single-process training on the full batch.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from sgcourse import functional, layer, neuron

T, BATCH, STEPS, LR = 4, 8, 2, 0.5


def make_net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(layer.Linear(5, 16), neuron.LIFNode(tau=2.0),
                        layer.Linear(16, 3), neuron.ParametricLIFNode(detach_reset=True))
    functional.set_step_mode(net, "m")
    return net


def make_data() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    gen = torch.Generator().manual_seed(1)
    xs = [torch.rand(T, BATCH, 5, generator=gen) * 2 for _ in range(STEPS)]
    ys = [torch.rand(BATCH, 3, generator=gen) for _ in range(STEPS)]
    return xs, ys


def train(net: nn.Module, xs, ys, rows: slice) -> list[list[torch.Tensor]]:
    """Train STEPS steps on rows `rows` of each batch; return the gradients of each step."""
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    history = []
    for x, y in zip(xs, ys, strict=True):
        rate = net(x[:, rows]).mean(0)
        loss = nn.functional.mse_loss(rate, y[rows])
        optimizer.zero_grad()
        loss.backward()
        history.append([p.grad.detach().clone() for p in net.parameters()])
        optimizer.step()
        functional.reset_net(net)
    return history


def worker(rank: int, world_size: int, init_file: str, out_file: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world_size)
    try:
        model = nn.parallel.DistributedDataParallel(make_net())
        xs, ys = make_data()
        share = BATCH // world_size
        history = train(model, xs, ys, slice(rank * share, (rank + 1) * share))
        # reset_net reaches the neurons inside the DDP wrapper
        model(xs[0][:, :share])
        neurons = [m for m in model.modules() if isinstance(m, neuron.BaseNode)]
        had_state = all(isinstance(m.v, torch.Tensor) for m in neurons)
        functional.reset_net(model)
        was_reset = all(m.v == 0.0 for m in neurons)
        if rank == 0:
            torch.save({"history": history, "params": [p.detach() for p in model.parameters()],
                        "had_state": had_state, "was_reset": was_reset}, out_file)
    finally:
        dist.destroy_process_group()


def test_ddp_gradients_equal_single_process(tmp_path):
    init_file, out_file = str(tmp_path / "init"), str(tmp_path / "rank0.pt")
    old = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        # fork (where available) skips re-importing torch in the workers, and DDP's own heavy
        # import (torch._dynamo) is done once here instead of once per worker
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        if method == "fork":
            import torch._dynamo
        mp.start_processes(worker, args=(2, init_file, out_file), nprocs=2, join=True,
                           start_method=method)
    finally:
        if old is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = old
    result = torch.load(out_file)

    net = make_net()
    xs, ys = make_data()
    history = train(net, xs, ys, slice(0, BATCH))
    assert any(g.abs().sum() > 0 for g in history[0]), "the test network should get gradients"
    for step, (ddp_grads, grads) in enumerate(zip(result["history"], history, strict=True)):
        for ddp_grad, grad in zip(ddp_grads, grads, strict=True):
            torch.testing.assert_close(ddp_grad, grad, rtol=1e-5, atol=1e-7,
                                       msg=lambda m, s=step: f"step {s}: {m}")
    for ddp_param, param in zip(result["params"], net.parameters(), strict=True):
        torch.testing.assert_close(ddp_param, param.detach(), rtol=1e-5, atol=1e-7)
    assert result["had_state"] and result["was_reset"]
