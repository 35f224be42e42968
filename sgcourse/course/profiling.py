r"""Memory and time of BPTT for lesson 09: what autograd keeps, how long a training step takes.

**Memory that is deterministic.** Between the forward and the backward pass, autograd keeps the
tensors that the backward formulas need ("saved for backward"). For a multi-step neuron layer they
grow linearly with the number of time steps :math:`T`:

.. math::

    M_{\text{saved}}(T) = k \cdot T \cdot N \cdot M \cdot b,

with batch :math:`N`, neurons :math:`M`, :math:`b` bytes per element and :math:`k` tensors of
shape ``[N, M]`` saved per step. The ``'torch'`` backend (the step run :math:`T` times through
autograd) saves :math:`k = 3` for a LIF neuron with a hard reset (the surrogate's input
:math:`H[t] - V_{th}`, and :math:`H[t]` and :math:`1 - S[t]` of the reset), 2 with
``detach_reset=True`` and 1 with a soft reset; the ``'fused'`` backend saves only :math:`H[t]`,
:math:`k = 1`. :func:`saved_for_backward` counts these bytes exactly with a
``torch.autograd.graph.saved_tensors_hooks`` pack hook: every storage once, independent of the
allocator and of other processes (unlike the resident size of the process).

**Time that is not.** :func:`time_training_step` and :func:`benchmark_backends` time one forward +
backward pass (best and median of several runs); the numbers depend on the machine and its load.
On CUDA, :func:`benchmark_backends` also reports the peak of ``torch.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from sgcourse import neuron
from sgcourse._checks import check_int

__all__ = [
    "BackendTiming",
    "SavedTensors",
    "Timing",
    "autograd_nodes",
    "benchmark_backends",
    "format_benchmark",
    "lif_saved_bytes",
    "memory_versus_time",
    "plot_memory_versus_time",
    "saved_for_backward",
    "time_training_step",
]


@dataclass(frozen=True)
class SavedTensors:
    """What autograd saved for backward during one forward pass.

    Attributes:
        nbytes: total bytes of the distinct storages saved (a storage saved twice counts once).
        shapes: the shape of each distinct saved tensor, in the order they were saved.
        dtypes: the dtype of each distinct saved tensor, in the same order.
    """

    nbytes: int
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[torch.dtype, ...] = ()

    @property
    def count(self) -> int:
        """Number of distinct saved tensors."""
        return len(self.shapes)


def saved_for_backward(fn: Callable[..., Any], *args: Any, **kwargs: Any
                       ) -> tuple[Any, SavedTensors]:
    """Run ``fn(*args, **kwargs)`` and return ``(result, SavedTensors)`` for the graph it built.

    A ``saved_tensors_hooks`` pack hook sees every tensor an autograd node saves for its
    backward; each underlying storage is counted once with its full size in bytes (a view saved
    by two nodes is one block of memory). Tensors saved as Python numbers (e.g. ``x * 2.0``) are
    not tensors and cost nothing. Parameters and inputs that are saved are counted too.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    storages: dict[tuple[str, int], int] = {}
    shapes: list[tuple[int, ...]] = []
    dtypes: list[torch.dtype] = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        key = (str(tensor.device), storage.data_ptr())
        if key not in storages:
            storages[key] = storage.nbytes()
            shapes.append(tuple(tensor.shape))
            dtypes.append(tensor.dtype)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        result = fn(*args, **kwargs)
    return result, SavedTensors(sum(storages.values()), tuple(shapes), tuple(dtypes))


def autograd_nodes(output: torch.Tensor) -> int:
    """Number of autograd nodes (backward functions) reachable from ``output.grad_fn``.

    Leaf accumulators (``AccumulateGrad``) count too; 0 for a tensor without a graph.
    """
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"output must be a tensor, got {type(output).__name__}")
    seen: set[Any] = set()
    stack = [output.grad_fn] if output.grad_fn is not None else []
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(child for child, _ in node.next_functions if child is not None)
    return len(seen)


def _lif_input(time_steps: int, batch: int, neurons: int, dtype: torch.dtype,
               device: str | torch.device, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    x = 2 * torch.rand(time_steps, batch, neurons, generator=generator, dtype=torch.float32)
    return x.to(device=device, dtype=dtype).requires_grad_(True)


def lif_saved_bytes(backend: str, time_steps: int, batch: int = 32, neurons: int = 256,
                    dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
                    seed: int = 0, **lif_kwargs: Any) -> SavedTensors:
    """What a multi-step ``LIFNode(backend=backend, **lif_kwargs)`` saves for backward.

    The input ``[T, N, M]`` (time steps, batch, neurons) requires grad (as it does inside a
    network); the default neuron is the course's LIF (τ = 2, hard reset to 0, Sigmoid surrogate).
    """
    if backend not in neuron.BACKENDS:
        raise ValueError(f"backend must be one of {neuron.BACKENDS}, got {backend!r}")
    time_steps = check_int("time_steps", time_steps, 1)
    batch, neurons = check_int("batch", batch, 1), check_int("neurons", neurons, 1)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    lif_kwargs.setdefault("tau", 2.0)
    node = neuron.LIFNode(step_mode="m", backend=backend, **lif_kwargs)
    x = _lif_input(time_steps, batch, neurons, dtype, device, seed)
    _, saved = saved_for_backward(node, x)
    return saved


def memory_versus_time(backends: Sequence[str], time_steps: Sequence[int], batch: int = 32,
                       neurons: int = 256, **lif_kwargs: Any) -> dict[str, list[int]]:
    """``{backend: [bytes saved at each T]}`` for a LIF layer on ``[T, batch, neurons]``."""
    if not time_steps:
        raise ValueError("time_steps must name at least one number of time steps")
    return {backend: [lif_saved_bytes(backend, t, batch, neurons, **lif_kwargs).nbytes
                      for t in time_steps]
            for backend in backends}


def plot_memory_versus_time(time_steps: Sequence[int], table: dict[str, list[int]],
                            batch: int, neurons: int, dtype: torch.dtype = torch.float32) -> Any:
    """Bytes saved for backward (MiB) against T, one line per backend; returns the Figure.

    ``batch``, ``neurons`` and ``dtype`` describe the measurement (they go into the title)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for backend, values in table.items():
        ax.plot(list(time_steps), [v / 2**20 for v in values], marker="o",
                label=f"backend='{backend}'")
    ax.set_xlabel("time steps $T$")
    ax.set_ylabel("saved for backward [MiB]")
    dtype_name = str(dtype).removeprefix("torch.")
    ax.set_title(f"BPTT memory grows linearly with $T$; the slope is the backend's\n"
                 f"(LIF layer, batch {batch}, {neurons} neurons, {dtype_name})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of repeated runs: the ``best`` and the ``median``."""

    best: float
    median: float


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_training_step(step: Callable[[], Any], repeats: int = 5, warmup: int = 1,
                       device: str | torch.device = "cpu") -> Timing:
    """Time ``step()`` (e.g. one forward + backward pass) ``repeats`` times after ``warmup`` runs.

    On CUDA the device is synchronised before and after each run, so the time includes the
    kernels, not only their launch.
    """
    if not callable(step):
        raise TypeError(f"step must be callable, got {type(step).__name__}")
    repeats, warmup = check_int("repeats", repeats, 1), check_int("warmup", warmup, 0)
    device = torch.device(device)
    for _ in range(warmup):
        step()
    seconds = []
    for _ in range(repeats):
        _synchronize(device)
        start = time.perf_counter()
        step()
        _synchronize(device)
        seconds.append(time.perf_counter() - start)
    return Timing(min(seconds), statistics.median(seconds))


@dataclass(frozen=True)
class BackendTiming:
    """One row of :func:`benchmark_backends`.

    Attributes:
        backend: the neuron backend; time_steps: T.
        timing: best and median seconds of one forward + backward pass.
        saved_bytes: bytes saved for backward (see :func:`saved_for_backward`).
        peak_cuda_bytes: on CUDA, peak allocated bytes during the pass above what was allocated
            before it; ``None`` on CPU.
        spikes: the spike output (to compare backends); grad: the input gradient.
    """

    backend: str
    time_steps: int
    timing: Timing
    saved_bytes: int
    peak_cuda_bytes: int | None
    spikes: torch.Tensor
    grad: torch.Tensor


def benchmark_backends(backends: Sequence[str], time_steps: Sequence[int], batch: int = 32,
                       neurons: int = 512, device: str | torch.device = "cpu", repeats: int = 5,
                       seed: int = 0, **lif_kwargs: Any) -> list[BackendTiming]:
    """Time one training step of a LIF layer per backend and T (same input for every backend).

    The step is: forward of ``x`` ``[T, batch, neurons]`` (float32, requires grad), then the
    backward of ``(spikes * w).sum()`` for a fixed random ``w``, so every step has the same
    output gradient. Rows come in the order (T, backend).
    """
    device = torch.device(device)
    lif_kwargs.setdefault("tau", 2.0)
    rows = []
    for t in time_steps:
        t = check_int("time_steps", t, 1)
        x = _lif_input(t, batch, neurons, torch.float32, device, seed)
        weight = torch.rand(x.shape, generator=torch.Generator().manual_seed(seed + 1)).to(device)
        for backend in backends:
            node = neuron.LIFNode(step_mode="m", backend=backend, **lif_kwargs)

            def step(node: neuron.LIFNode = node, x: torch.Tensor = x,
                     weight: torch.Tensor = weight) -> torch.Tensor:
                x.grad = None
                node.reset()
                spikes = node(x)
                (spikes * weight).sum().backward()
                return spikes

            timing = time_training_step(step, repeats=repeats, device=device)
            peak = None
            if device.type == "cuda":
                x.grad = None
                _synchronize(device)
                torch.cuda.reset_peak_memory_stats(device)
                before = torch.cuda.memory_allocated(device)
                step()
                _synchronize(device)
                peak = torch.cuda.max_memory_allocated(device) - before
            node.reset()
            spikes, saved = saved_for_backward(node, x)
            x.grad = None
            node.reset()
            step()
            rows.append(BackendTiming(backend, t, timing, saved.nbytes, peak,
                                      spikes.detach().cpu(), x.grad.detach().cpu().clone()))
    return rows


def format_benchmark(rows: Sequence[BackendTiming], reference: str = "torch") -> str:
    """A text table of :func:`benchmark_backends` rows, times relative to ``reference``."""
    best = {(r.time_steps, r.backend): r.timing.best for r in rows}
    cuda = any(r.peak_cuda_bytes is not None for r in rows)
    head = (f"{'backend':<8} {'T':>5} {'best [ms]':>10} {'median [ms]':>12} "
            f"{'time vs ' + reference:>14} {'saved [MiB]':>12}")
    lines = [head + (f" {'peak CUDA [MiB]':>16}" if cuda else ""), "-" * (len(head) + 17 * cuda)]
    for r in rows:
        ref = best.get((r.time_steps, reference))
        ratio = f"{r.timing.best / ref:.2f}x" if ref else "-"
        line = (f"{r.backend:<8} {r.time_steps:>5} {1e3 * r.timing.best:>10.2f} "
                f"{1e3 * r.timing.median:>12.2f} {ratio:>14} {r.saved_bytes / 2**20:>12.2f}")
        if cuda:
            line += f" {(r.peak_cuda_bytes or 0) / 2**20:>16.2f}"
        lines.append(line)
    return "\n".join(lines)
