r"""One prepared GPU check of the Triton backend (written for an H200; about 2-4 minutes).

Run from the repository root on a machine with a CUDA GPU, torch and triton::

    python benchmarks/gpu_check.py            # tests on CUDA, then the timing table
    python benchmarks/gpu_check.py --no-tests # timings only
    python benchmarks/gpu_check.py --quick    # a smaller grid (a smoke run)

1. **Tests.** ``pytest tests/test_kernels_triton.py -k "cuda or sm90"`` in a subprocess: every
   parity test (spikes identical, v and gradients within 1e-5 of a per-step torch autograd
   reference), the σ′ table for every surrogate, opcheck and torch.compile — compiled for the GPU.
2. **Bandwidth.** A device-to-device ``copy_`` of 2 GiB: bytes read + written per second, the
   practical ceiling of a memory-bound kernel.
3. **Timings.** One training step of a multi-step LIF layer (τ = 2, decay_input, hard reset to
   0, Sigmoid surrogate, float32): forward of ``x_seq [T, B, N]`` and backward of fixed random
   gradients of ``spike_seq`` and ``v_seq``, for T ∈ {8, 32, 128}, B = 32, N ∈ {1024, 2^20}.
   Backends: ``triton`` (this package's kernels), ``fused``
   (:mod:`sgcourse.kernels.fused`, if importable) and ``torch`` (a per-step autograd loop
   written below). Median of CUDA-event timings after warm-up. The last column is the
   Triton step's *minimum* memory traffic divided by its time, as a percentage of the copy
   bandwidth: forward reads X and writes S, V (input dtype) and H (float32); backward reads H,
   ∂L/∂S, ∂L/∂V and writes ∂L/∂X — :math:`T\,B\,N\,(6e + 8)` bytes for element size
   :math:`e`. Configurations whose tensors would not fit in memory are reported as skipped.

The whole run is kept under 5 minutes: per-configuration timing stops after ~1.5 s, and the
torch loop is skipped where it would need more than half the free memory.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TAU, V_TH, V_RESET = 2.0, 1.0, 0.0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-tests", action="store_true", help="skip the pytest run on CUDA")
    parser.add_argument("--quick", action="store_true",
                        help="T in {8, 32}, N = 1024 only, shorter timing")
    parser.add_argument("--dtype", choices=("float32", "float16", "bfloat16"), default="float32",
                        help="input dtype of the timed layers (default float32)")
    parser.add_argument("--budget", type=float, default=1.5,
                        help="seconds of timing per configuration and backend (default 1.5)")
    return parser.parse_args(argv)


def run_tests() -> int:
    """pytest on the CUDA-parametrised Triton tests (and the sm_90 compile tests)."""
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "tests" / "test_kernels_triton.py"), "-q",
           "-k", "cuda or sm90", "-o", "addopts=", "-p", "no:cacheprovider", "-rs"]
    print("$", " ".join(cmd), flush=True)
    start = time.perf_counter()
    rc = subprocess.call(cmd, cwd=ROOT)
    print(f"pytest exit code {rc} after {time.perf_counter() - start:.0f} s\n", flush=True)
    return rc


def copy_bandwidth(nbytes: int = 2 << 30) -> float:
    """Device copy bandwidth in bytes/s (read + write), median of 20 copies."""
    src = torch.empty(nbytes // 4, dtype=torch.float32, device="cuda").uniform_()
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    times = []
    for _ in range(20):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        dst.copy_(src)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    del src, dst
    return 2 * nbytes / statistics.median(times)


def torch_lif(x_seq: torch.Tensor, v_init: torch.Tensor, sg: Callable[[torch.Tensor], torch.Tensor]
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-step autograd reference: H = V + (X − V)/τ, S = Θ(H − V_th), hard reset to 0."""
    v = v_init
    spikes, vs = [], []
    for x in x_seq.unbind(0):
        h = v + (x - (v - V_RESET)) / TAU
        s = sg(h - V_TH)
        v = s * V_RESET + (1 - s) * h
        spikes.append(s)
        vs.append(v)
    return torch.stack(spikes), torch.stack(vs)


def time_step(step: Callable[[], None], budget: float) -> float:
    """Median seconds of ``step`` (CUDA events), after two warm-up calls (compilation)."""
    step()
    step()
    torch.cuda.synchronize()
    times: list[float] = []
    spent = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - spent < budget and len(times) < 50):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def bench_config(shape: tuple[int, int, int], dtype: torch.dtype,
                 backends: dict[str, Callable[..., tuple[torch.Tensor, torch.Tensor]]],
                 skip_others: bool, budget: float) -> dict[str, float | str]:
    """Median seconds of one training step per backend (or why it was not timed)."""
    gen = torch.Generator(device="cuda").manual_seed(0)
    x = (torch.randn(shape, generator=gen, device="cuda") * 0.8 + 0.6).to(dtype)
    x.requires_grad_()
    v0 = torch.zeros(shape[1:], device="cuda", dtype=dtype)
    grad_s = torch.randn(shape, generator=gen, device="cuda").to(dtype)
    grad_v = torch.randn(shape, generator=gen, device="cuda").to(dtype)
    results: dict[str, float | str] = {}
    for name, run in backends.items():
        if name != "triton" and skip_others:
            results[name] = "mem"
            continue

        def step(run: Callable[..., tuple[torch.Tensor, torch.Tensor]] = run) -> None:
            s, v = run(x, v0)
            torch.autograd.backward((s, v), (grad_s, grad_v))
            x.grad = None

        try:
            results[name] = time_step(step, budget)
        except torch.cuda.OutOfMemoryError:
            results[name] = "OOM"
            x.grad = None
            torch.cuda.empty_cache()
    return results


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; this script is meant for a GPU machine "
              "(use --help to see what it does).")
        return 2
    from sgcourse import surrogate
    from sgcourse.kernels import triton as kt

    try:
        from sgcourse.kernels import fused
    except ImportError as err:  # pragma: no cover - depends on the checkout
        fused = None
        print(f"(no fused backend: {err})")
    props = torch.cuda.get_device_properties(0)
    import triton

    print(f"{props.name}, {props.total_memory / 2**30:.0f} GiB, {props.multi_processor_count} SMs"
          f" | torch {torch.__version__} | triton {triton.__version__} | python "
          f"{sys.version.split()[0]}\n", flush=True)
    start_all = time.perf_counter()
    rc = 0 if args.no_tests else run_tests()

    bandwidth = copy_bandwidth()
    print(f"device copy bandwidth: {bandwidth / 1e9:.0f} GB/s (read + write)\n", flush=True)

    dtype = getattr(torch, args.dtype)
    esize = torch.empty((), dtype=dtype).element_size()
    sg = surrogate.Sigmoid()
    steps = (8, 32) if args.quick else (8, 32, 128)
    widths = (1024,) if args.quick else (1024, 1 << 20)
    batch = 32
    backends: dict[str, Callable[..., tuple[torch.Tensor, torch.Tensor]]] = {
        "triton": lambda x, v0: kt.lif_multistep(
            x, v0, 1 / TAU, decay_input=True, v_threshold=V_TH, v_reset=V_RESET,
            detach_reset=False, surrogate=sg),
        "torch": lambda x, v0: torch_lif(x, v0, sg),
    }
    if fused is not None:
        backends["fused"] = lambda x, v0: fused.lif_multistep(
            x, v0, 1 / TAU, decay_input=True, v_threshold=V_TH, v_reset=V_RESET,
            detach_reset=False, surrogate=sg)

    header = (f"{'T':>4} {'B':>3} {'N':>8} | " + " | ".join(f"{b:>10}" for b in backends)
              + " | torch/triton | fused/triton | triton % copy BW")
    print(f"training step (forward + backward), {args.dtype}, median ms")
    print(header)
    print("-" * len(header))
    for width in widths:
        for t_steps in steps:
            neurons = batch * width
            free = torch.cuda.mem_get_info()[0]
            # x, ∂L/∂S, ∂L/∂V, S, V, ∂L/∂X in the input dtype, H in float32, plus slack.
            triton_bytes = t_steps * neurons * (6 * esize + 4) * 1.05
            torch_bytes = t_steps * neurons * (14 * 4)  # ~14 saved float32 tensors per step
            if triton_bytes > 0.92 * free:
                print(f"{t_steps:>4} {batch:>3} {width:>8} | skipped: needs "
                      f"{triton_bytes / 2**30:.0f} GiB, {free / 2**30:.0f} GiB free")
                continue
            results = bench_config((t_steps, batch, width), dtype, backends,
                                   skip_others=torch_bytes + triton_bytes > 0.8 * free,
                                   budget=min(args.budget, 0.5) if args.quick else args.budget)
            tri = results["triton"]
            cells = [f"{r * 1e3:>10.3f}" if isinstance(r, float) else f"{r:>10}"
                     for r in results.values()]
            ratios = []
            for other in ("torch", "fused"):
                r = results.get(other)
                ratios.append(f"{r / tri:>12.1f}x" if isinstance(r, float)
                              and isinstance(tri, float) else f"{'-':>13}")
            traffic = t_steps * neurons * (6 * esize + 8)
            pct = (f"{100 * traffic / tri / bandwidth:>15.0f}%" if isinstance(tri, float)
                   else f"{'-':>16}")
            print(f"{t_steps:>4} {batch:>3} {width:>8} | " + " | ".join(cells) + " | "
                  + " | ".join(ratios) + " | " + pct, flush=True)
            torch.cuda.empty_cache()
    print(f"\ntotal {time.perf_counter() - start_all:.0f} s")
    return rc


if __name__ == "__main__":
    sys.exit(main())
