r"""Train the digits spiking network with DistributedDataParallel (DDP) on several processes.

Run it with ``torchrun`` (the launcher that ships with PyTorch), e.g. two processes on a CPU::

    torchrun --nproc_per_node=2 -m sgcourse.course.train_ddp --epochs 3 --seed 0

Without ``torchrun`` (``python -m sgcourse.course.train_ddp``) it runs as a single process.

**Data parallelism.** ``torchrun`` starts :math:`R` processes, the *ranks* :math:`r = 0, \dots,
R-1`, which join one process group (``gloo`` on CPUs, ``nccl`` with one GPU per rank). Every rank
holds a replica of the network (:func:`sgcourse.course.models.make_digits_snn`: 64 inputs →
hidden LIF neurons over :math:`T` steps → 10 classes) with the same parameters :math:`\theta`
(DDP broadcasts rank 0's at the start). A :class:`~torch.utils.data.DistributedSampler` shuffles
the training set with the same seed on every rank and deals it out: rank :math:`r` gets the
samples at positions :math:`r, r + R, r + 2R, \dots` of the permutation, so the shards are
disjoint. At step :math:`k` each rank computes the gradient of the mean loss over its own
mini-batch :math:`B_r` of :math:`b` samples,

.. math::

    g_r = \nabla_\theta \frac{1}{b} \sum_{i \in B_r} \ell_i(\theta),

and during ``backward()`` DDP *all-reduces* the gradients: every rank receives their average

.. math::

    g = \frac{1}{R} \sum_{r=0}^{R-1} g_r
      = \nabla_\theta \frac{1}{R b} \sum_{i \in B_0 \cup \dots \cup B_{R-1}} \ell_i(\theta),

the gradient of the mean loss over the global batch of :math:`R b` samples (the shards have
equal sizes: the sampler drops the last few samples so that :math:`R` divides the training
set). Every rank then takes the same optimizer step from the same :math:`\theta` with the same
:math:`g`, so the replicas stay identical, step after step. A step processes :math:`R b`
samples; with a core or a GPU per rank it takes about as long as one process needs for
:math:`b` samples, plus the all-reduce.

The spiking neurons keep their membrane potential between calls; after each step
``sgcourse.functional.reset_net(model)`` resets them (it reaches the neurons inside the DDP
wrapper). Each epoch the test set is split among the ranks too, and the loss sums, correct
counts and sample counts are all-reduced, so rank 0 prints the metrics of the whole data set:
one line per epoch (mean training loss, test accuracy) and a final line.

Every rank's process group is created with a timeout (``--timeout``): a rank that waits longer
than that for the others fails instead of hanging. With ``--report-dir DIR`` every rank writes
``DIR/rank<r>.json`` (its share of the data, its final parameters' SHA-256, the metrics), which
lets a test check that the shards are disjoint and the replicas identical. Runs are
deterministic for a given ``--seed`` and number of ranks.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from sgcourse import functional
from sgcourse.course.models import make_digits_snn
from sgcourse.datasets import load_digits_tensors

__all__ = ["BACKENDS", "RankReport", "main", "parameter_digest", "parse_args", "resolve_backend"]

BACKENDS = ("auto", "gloo", "nccl")
"""``--backend`` choices: ``auto`` is ``nccl`` when every local rank has a GPU, else ``gloo``."""


@dataclass
class RankReport:
    """What one rank writes to ``--report-dir`` (as JSON) at the end of training."""

    rank: int
    world_size: int
    backend: str
    device: str
    train_indices: list[int]
    """The training-set indices this rank saw in the first epoch, in order."""
    steps: int
    parameters_sha256: str
    losses: list[float]
    test_accuracies: list[float]


def _int_at_least(minimum: int) -> type:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse  # type: ignore[return-value]


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command-line options; a bad value exits with status 2 and a message naming it."""
    parser = argparse.ArgumentParser(
        prog="torchrun --nproc_per_node=N -m sgcourse.course.train_ddp",
        description="Train the digits spiking network with DistributedDataParallel.")
    parser.add_argument("--epochs", type=_int_at_least(1), default=3,
                        help="passes over the training set (default 3)")
    parser.add_argument("--seed", type=_int_at_least(0), default=0,
                        help="seed of the initial weights and the data order (default 0)")
    parser.add_argument("--batch-size", type=_int_at_least(1), default=32,
                        help="samples per rank and step; the global batch is N times larger "
                             "(default 32)")
    parser.add_argument("--lr", type=_positive_float, default=1e-2,
                        help="Adam learning rate (default 0.01)")
    parser.add_argument("--hidden", type=_int_at_least(1), default=64,
                        help="hidden LIF neurons (default 64)")
    parser.add_argument("--time-steps", type=_int_at_least(1), default=8,
                        help="time steps each image is presented for (default 8)")
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="process-group backend: gloo (CPU), nccl (one GPU per rank) or "
                             "auto (default)")
    parser.add_argument("--timeout", type=_positive_float, default=60.0,
                        help="seconds a rank waits for the others before failing (default 60)")
    parser.add_argument("--report-dir", type=Path, default=None,
                        help="write DIR/rank<r>.json per rank (parameters' SHA-256, data shard)")
    return parser.parse_args(argv)


def resolve_backend(requested: str, local_world_size: int) -> tuple[str, bool]:
    """``(backend, use_cuda)`` for ``--backend requested`` with ``local_world_size`` ranks here.

    Raises:
        ValueError: ``requested`` is not one of :data:`BACKENDS`, or ``nccl`` was requested
            without one CUDA device per local rank.
    """
    if requested not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {requested!r}")
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    enough = gpus >= local_world_size
    if requested == "nccl" and not enough:
        raise ValueError(f"--backend nccl needs one CUDA device per rank: {local_world_size} "
                         f"rank(s) on this machine, {gpus} CUDA device(s); use --backend gloo")
    if requested == "auto":
        requested = "nccl" if enough and dist.is_nccl_available() else "gloo"
    return requested, requested == "nccl"


def parameter_digest(model: nn.Module) -> str:
    """SHA-256 of every parameter's bytes (float32, in ``named_parameters`` order): equal
    digests mean bit-identical parameters."""
    digest = hashlib.sha256()
    for name, parameter in model.named_parameters():
        digest.update(name.encode())
        digest.update(parameter.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def _launch() -> tuple[int, int, int, int]:
    """(rank, world size, local rank, local world size) from torchrun's environment, or a
    single process when it is not set."""
    names = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
    present = [name for name in names if name in os.environ]
    if not present:
        return 0, 1, 0, 1
    if len(present) != len(names):
        missing = sorted(set(names) - set(present))
        raise RuntimeError(f"incomplete launch environment: {', '.join(missing)} not set; start "
                           f"the script with torchrun --nproc_per_node=N -m "
                           f"sgcourse.course.train_ddp")
    values = [int(os.environ[name]) for name in names]
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", values[1]))
    return values[0], values[1], values[2], local_world


def _init_process_group(backend: str, rank: int, world_size: int, timeout_s: float) -> None:
    timeout = datetime.timedelta(seconds=timeout_s)
    if "MASTER_ADDR" in os.environ:  # launched by torchrun
        dist.init_process_group(backend, init_method="env://", rank=rank,
                                world_size=world_size, timeout=timeout)
    else:  # a single process: no rendezvous needed
        dist.init_process_group(backend, store=dist.HashStore(), rank=rank,
                                world_size=world_size, timeout=timeout)


def _all_reduce_sums(values: Sequence[float], device: torch.device) -> list[float]:
    total = torch.tensor(list(values), dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return total.tolist()


def _train_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                 device: torch.device) -> tuple[float, int, int]:
    """One pass over this rank's shard: (sum of sample losses, samples, steps)."""
    model.train()
    loss_sum, samples, steps = 0.0, 0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        loss = nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # DDP all-reduces (averages) the gradients here
        optimizer.step()
        functional.reset_net(model)  # the neurons' state must not carry over to the next batch
        loss_sum += loss.item() * len(labels)
        samples += len(labels)
        steps += 1
    return loss_sum, samples, steps


@torch.no_grad()
def _evaluate_shard(model: nn.Module, images: torch.Tensor, labels: torch.Tensor
                    ) -> tuple[float, int, int]:
    """(sum of sample losses, correct, samples) on this rank's share of the test set."""
    model.eval()
    if len(labels) == 0:
        return 0.0, 0, 0
    logits = model(images)
    functional.reset_net(model)
    loss = nn.functional.cross_entropy(logits, labels, reduction="sum").item()
    return loss, int((logits.argmax(dim=1) == labels).sum()), len(labels)


def main(argv: Sequence[str] | None = None) -> int:
    """Train; rank 0 prints one line per epoch and a final line. Returns the exit status 0."""
    args = parse_args(argv)
    rank, world_size, local_rank, local_world_size = _launch()
    backend, use_cuda = resolve_backend(args.backend, local_world_size)
    if use_cuda:
        torch.cuda.set_device(local_rank)
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")

    _init_process_group(backend, rank, world_size, args.timeout)
    try:
        torch.manual_seed(args.seed)
        data = load_digits_tensors(seed=0)
        train_set = TensorDataset(data.x_train, data.y_train)
        sampler = DistributedSampler(train_set, num_replicas=world_size, rank=rank,
                                     shuffle=True, seed=args.seed, drop_last=True)
        loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler)
        test_images = data.x_test[rank::world_size].to(device)
        test_labels = data.y_test[rank::world_size].to(device)

        net = make_digits_snn("sigmoid", hidden=args.hidden, time_steps=args.time_steps,
                              seed=args.seed).to(device)
        model = DistributedDataParallel(net, device_ids=[local_rank] if use_cuda else None)
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

        report = RankReport(rank, world_size, backend, str(device), [], 0, "", [], [])
        for epoch in range(args.epochs):
            sampler.set_epoch(epoch)  # a new permutation per epoch, the same on every rank
            if epoch == 0:
                report.train_indices = list(iter(sampler))
            loss_sum, samples, steps = _train_epoch(model, loader, optimizer, device)
            test = _evaluate_shard(model, test_images, test_labels)
            total_loss, total_samples, _, correct, tested = _all_reduce_sums(
                (loss_sum, samples, test[0], test[1], test[2]), device)
            report.steps += steps
            report.losses.append(total_loss / total_samples)
            report.test_accuracies.append(correct / tested)
            if rank == 0:
                print(f"epoch {epoch + 1}/{args.epochs}: train loss {report.losses[-1]:.4f}, "
                      f"test accuracy {report.test_accuracies[-1]:.4f}", flush=True)
        report.parameters_sha256 = parameter_digest(model.module)
        if rank == 0:
            print(f"final: test accuracy {report.test_accuracies[-1]:.4f} after {args.epochs} "
                  f"epochs on {world_size} rank(s) ({backend}, {device.type}, global batch "
                  f"{world_size * args.batch_size}, seed {args.seed})", flush=True)
        if args.report_dir is not None:
            args.report_dir.mkdir(parents=True, exist_ok=True)
            path = args.report_dir / f"rank{rank}.json"
            path.write_text(json.dumps(asdict(report)), encoding="utf-8")
        dist.barrier(device_ids=[local_rank] if use_cuda else None)
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    status = main()
    # Leave without the interpreter's teardown: after a complete run (outputs written, process
    # group destroyed), PyTorch 2.13's gloo threads now and then abort the exiting process
    # ("terminate called without an active exception", SIGABRT; seen in about 1 of 12 runs).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
