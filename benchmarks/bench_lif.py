r"""Multi-step LIF forward + backward: time and peak memory of each backend.

Run ``python benchmarks/bench_lif.py`` (CPU, one thread) or ``--device cuda``. It prints

1. a time table for T ∈ {8, 32, 128}, batch 32, 1024 neurons, float32: the best and the median
   wall time (backends interleaved round by round) of one training step (forward of
   ``[T, B, N]`` inputs, then backward of the spike sequence with a fixed random output
   gradient), as a ratio to the ``torch`` per-step reference and to a memory floor (one
   ``torch.add`` over the same ``[T, B, N]`` tensor);
2. the peak memory of one training step at T = 128.

All backends compute the same LIF: :math:`H_t = V_{t-1} + (X_t - V_{t-1})/\tau` with τ = 2,
threshold 1, hard reset to 0, reset not detached, Sigmoid(α = 4) surrogate, except where the
table says otherwise (snnTorch's ``Leaky`` charges :math:`\beta V + X` and resets from the previous
step's spike; Norse's ``LIFBoxCell`` uses its SuperSpike surrogate).

Backends:

- ``torch``: per-step autograd loop, written below;
- ``fused``: :func:`sgcourse.kernels.fused.lif_multistep` with ``store_v_seq=False``, which keeps
  only the final potential, like SpikingJelly's default ``store_v_seq=False``;
- ``fused+v_seq``: the same, also returning the ``[T, B, N]`` potential sequence;
- ``LIFNode``: ``sgcourse.neuron.LIFNode(step_mode='m', backend='fused')``, the module (the
  same kernel, plus the module's argument and state handling);
- ``triton``: :func:`sgcourse.kernels.triton.lif_multistep` (CUDA only, when importable);
- ``spikingjelly`` 2.0 ``LIFNode(step_mode='m')``, ``snntorch`` ``Leaky`` and ``norse``
  ``LIFBoxCell`` (the last two in a Python time loop), when installed.

The optional comparison packages are looked up in ``$SGCOURSE_BENCH_PKGS`` (default
``/tmp/bench_pkgs``, e.g. filled with ``pip install --no-deps --target /tmp/bench_pkgs
spikingjelly==2.0.0 snntorch norse loguru nir nirtorch h5py``) if that folder exists, after the
environment's own packages.

Peak memory. CPU: each backend runs in a fresh subprocess with ``MALLOC_MMAP_THRESHOLD_=131072``
(glibc then maps every block of 128 KiB or more on allocation and unmaps it on free, so the
resident size follows the live tensors). After the input allocation and one warm-up step,
the kernel's peak-RSS counter is reset (``/proc/self/clear_refs`` ← 5); the figure reported is
``VmHWM`` after one training step minus ``VmRSS`` before it: everything the step made resident
(saved activations, outputs, gradients, temporaries). Each backend is measured in
``--memory-runs`` fresh processes (default 5, the backends interleaved) and the median is
reported with the range: SpikingJelly's peak moves between 83 and 98 MiB from process to
process at T = 128, ours by 0.2 MiB. A second, allocator-independent column
counts the bytes autograd saved for backward (a ``saved_tensors_hooks`` pack hook, each storage
counted once). CUDA: ``max_memory_allocated`` during the step minus the allocation before it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
_EXTRA = Path(os.environ.get("SGCOURSE_BENCH_PKGS", "/tmp/bench_pkgs"))
if _EXTRA.is_dir() and str(_EXTRA) not in sys.path:
    sys.path.append(str(_EXTRA))

import torch  # noqa: E402

from sgcourse import surrogate  # noqa: E402
from sgcourse.kernels import fused  # noqa: E402

TAU, V_TH, V_RESET, ALPHA = 2.0, 1.0, 0.0, 4.0
Step = Callable[[torch.Tensor], torch.Tensor]  # x_seq (leaf) -> spike_seq


# ---------------------------------------------------------------------------------------------
# backends: each factory returns a function x_seq -> spike_seq (a fresh state every call)


def _torch_reference(device: torch.device) -> Step:
    sg = surrogate.Sigmoid(alpha=ALPHA)
    k = 1.0 / TAU

    def run(x_seq: torch.Tensor) -> torch.Tensor:
        v = torch.full_like(x_seq[0], V_RESET)
        spikes = []
        for x in x_seq.unbind(0):
            h = v + k * (x - (v - V_RESET))
            s = sg(h - V_TH)
            v = s * V_RESET + (1.0 - s) * h
            spikes.append(s)
        return torch.stack(spikes)

    return run


def _fused(device: torch.device, store_v_seq: bool = False) -> Step:
    sg = surrogate.Sigmoid(alpha=ALPHA)

    def run(x_seq: torch.Tensor) -> torch.Tensor:
        v0 = torch.full_like(x_seq[0], V_RESET)
        return fused.lif_multistep(x_seq, v0, 1.0 / TAU, decay_input=True, v_threshold=V_TH,
                                   v_reset=V_RESET, detach_reset=False, surrogate=sg,
                                   store_v_seq=store_v_seq)[0]

    return run


def _fused_v_seq(device: torch.device) -> Step:
    return _fused(device, store_v_seq=True)


def _fused_neuron(device: torch.device) -> Step:
    from sgcourse import functional, neuron

    node = neuron.LIFNode(tau=TAU, decay_input=True, v_threshold=V_TH, v_reset=V_RESET,
                          surrogate_function=surrogate.Sigmoid(alpha=ALPHA), detach_reset=False,
                          step_mode="m", backend="fused").to(device)

    def run(x_seq: torch.Tensor) -> torch.Tensor:
        functional.reset_net(node)
        return node(x_seq)

    return run


def _triton(device: torch.device) -> Step:
    if device.type != "cuda":
        raise RuntimeError("CUDA only")
    from sgcourse.kernels import triton as tk

    sg = surrogate.Sigmoid(alpha=ALPHA)

    def run(x_seq: torch.Tensor) -> torch.Tensor:
        v0 = torch.full_like(x_seq[0], V_RESET)
        return tk.lif_multistep(x_seq, v0, 1.0 / TAU, decay_input=True, v_threshold=V_TH,
                                v_reset=V_RESET, detach_reset=False, surrogate=sg)[0]

    return run


def _spikingjelly(device: torch.device) -> Step:
    from spikingjelly.activation_based import functional, neuron
    from spikingjelly.activation_based import surrogate as sj_surrogate

    node = neuron.LIFNode(tau=TAU, decay_input=True, v_threshold=V_TH, v_reset=V_RESET,
                          surrogate_function=sj_surrogate.Sigmoid(alpha=ALPHA),
                          detach_reset=False, step_mode="m").to(device)

    def run(x_seq: torch.Tensor) -> torch.Tensor:
        functional.reset_net(node)
        return node(x_seq)

    return run


def _snntorch(device: torch.device) -> Step:
    import snntorch
    from snntorch import surrogate as snn_surrogate

    cell = snntorch.Leaky(beta=1.0 - 1.0 / TAU, threshold=V_TH, reset_mechanism="zero",
                          spike_grad=snn_surrogate.sigmoid(slope=ALPHA)).to(device)

    def run(x_seq: torch.Tensor) -> torch.Tensor:
        mem = torch.zeros_like(x_seq[0])
        spikes = []
        for x in x_seq.unbind(0):
            spk, mem = cell(x, mem)
            spikes.append(spk)
        return torch.stack(spikes)

    return run


def _norse(device: torch.device) -> Step:
    from norse.torch import LIFBoxCell, LIFBoxParameters

    dt = 1e-3
    p = LIFBoxParameters(tau_mem_inv=torch.as_tensor(1.0 / (TAU * dt)),
                         v_leak=torch.as_tensor(V_RESET), v_th=torch.as_tensor(V_TH),
                         v_reset=torch.as_tensor(V_RESET), method="super",
                         alpha=torch.as_tensor(ALPHA))
    cell = LIFBoxCell(p, dt=dt).to(device)

    def run(x_seq: torch.Tensor) -> torch.Tensor:
        state = None
        spikes = []
        for x in x_seq.unbind(0):
            z, state = cell(x, state)
            spikes.append(z)
        return torch.stack(spikes)

    return run


BACKENDS: dict[str, tuple[Callable[[torch.device], Step], str]] = {
    "torch": (_torch_reference, "per-step autograd loop (sgcourse surrogate), same equations"),
    "fused": (_fused, "sgcourse.kernels.fused.lif_multistep(store_v_seq=False): keeps the "
                      "final V only, like SpikingJelly's default"),
    "fused+v_seq": (_fused_v_seq, "the same with store_v_seq=True: also returns the [T, B, N] "
                                  "potential sequence"),
    "LIFNode": (_fused_neuron, "sgcourse neuron.LIFNode(step_mode='m', backend='fused') "
                               "(store_v_seq=False): the module users call"),
    "triton": (_triton, "sgcourse.kernels.triton.lif_multistep, same equations (CUDA)"),
    "spikingjelly": (_spikingjelly, "SpikingJelly 2.0 LIFNode(step_mode='m'), same equations"),
    "snntorch": (_snntorch, "snnTorch Leaky(beta=0.5, reset 'zero'): H = βV + X, reset from "
                            "the previous step's spike"),
    "norse": (_norse, "Norse LIFBoxCell (dt·τ_mem⁻¹ = 0.5): same charge and hard reset, "
                      "SuperSpike(α=4) surrogate"),
}


def _make(name: str, device: torch.device) -> tuple[Step | None, str]:
    """The backend's step function, or None and the reason it is unavailable."""
    try:
        return BACKENDS[name][0](device), ""
    except ImportError as err:
        return None, f"not installed ({err.name or err})"
    except RuntimeError as err:
        return None, f"unavailable ({err})"


# ---------------------------------------------------------------------------------------------
# timing


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _inputs(T: int, B: int, N: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(T, B, N, generator=gen) * 1.0 + 0.8).to(device).requires_grad_(True)
    grad = torch.randn(T, B, N, generator=gen).to(device)
    return x, grad


def _train_step(step: Step, x: torch.Tensor, grad: torch.Tensor) -> None:
    x.grad = None
    spikes = step(x)
    spikes.backward(grad)


def _times(fns: dict[str, Callable[[], None]], device: torch.device, rounds: int,
           budget_s: float) -> dict[str, list[float]]:
    """Wall times of each function, interleaved: every round runs each function once.

    Interleaving spreads fluctuations of a shared machine's load evenly over the backends. Each
    round runs them in a new order (a permutation drawn with a fixed seed), so that no backend
    always runs right after the same neighbour: with a fixed order (or a rotated one, which keeps
    the neighbours) the same kernel timed 10–14 % slower right after the allocation-heavy
    per-step ``torch`` loop than elsewhere (runs of 2026-11-29). One warm-up call each; at least
    3 rounds, then rounds continue while under ``budget_s``.
    """
    for fn in fns.values():
        fn()
    _sync(device)
    times: dict[str, list[float]] = {name: [] for name in fns}
    order = list(fns.items())
    shuffle = random.Random(0)
    start = time.perf_counter()
    for i in range(rounds):
        if i >= 3 and time.perf_counter() - start > budget_s:
            break
        for name, fn in shuffle.sample(order, len(order)):
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - t0)
    return times


def time_table(names: list[str], Ts: list[int], B: int, N: int, device: torch.device,
               repeats: int, budget_s: float) -> dict[tuple[str, int], list[float] | str]:
    results: dict[tuple[str, int], list[float] | str] = {}
    steps = {name: _make(name, device) for name in names}
    for T in Ts:
        x, grad = _inputs(T, B, N, device)
        fns: dict[str, Callable[[], None]] = {}
        for name in names:
            step, why = steps[name]
            if step is None:
                results[(name, T)] = why
            else:
                fns[name] = lambda s=step, x=x, g=grad: _train_step(s, x, g)
        floor_in = x.detach()

        def floor(x: torch.Tensor = floor_in) -> None:
            torch.add(x, 1.0)

        fns["floor"] = floor
        for name, ts in _times(fns, device, repeats, budget_s).items():
            results[(name, T)] = ts
    return results


def spike_agreement(names: list[str], device: torch.device) -> dict[str, str]:
    """Whether each backend's spikes equal the fused path's on a small input (a sanity check)."""
    x, _ = _inputs(8, 4, 64, device)
    ref, _ = _make("fused", device)
    with torch.no_grad():
        want = ref(x.detach())
    out = {}
    for name in names:
        step, why = _make(name, device)
        if step is None:
            out[name] = why
            continue
        with torch.no_grad():
            got = step(x.detach())
        out[name] = "identical" if torch.equal(got.float(), want.float()) else (
            f"{int((got.float() != want.float()).sum())} of {want.numel()} differ")
    return out


# ---------------------------------------------------------------------------------------------
# memory


def _read_status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


class _SavedBytes:
    """Counts the bytes autograd saves for backward, each storage once."""

    def __init__(self) -> None:
        self.seen: dict[tuple[int, str], int] = {}

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        self.seen[(storage.data_ptr(), str(t.device))] = storage.nbytes()
        return t

    @staticmethod
    def unpack(t: torch.Tensor) -> torch.Tensor:
        return t

    @property
    def total(self) -> int:
        return sum(self.seen.values())


def memory_child(name: str, T: int, B: int, N: int, device: torch.device) -> dict[str, float]:
    """One training step of ``name`` in this (fresh) process: peak memory and saved bytes."""
    step, why = _make(name, device)
    if step is None:
        return {"error": why}
    x, grad = _inputs(T, B, N, device)
    # warm-up at the measured size (lazy initialisation, torch.compile's compilations); with the
    # fixed mmap threshold its large blocks are returned to the system when freed
    _train_step(step, x, grad)
    x.grad = None
    if device.type == "cuda":
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        _train_step(step, x, grad)
        _sync(device)
        peak = torch.cuda.max_memory_allocated(device) - before
    else:
        before = _read_status("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")
        _train_step(step, x, grad)
        peak = _read_status("VmHWM") - before
    x.grad = None
    rec = _SavedBytes()
    with torch.autograd.graph.saved_tensors_hooks(rec.pack, rec.unpack):
        spikes = step(x)
    del spikes
    return {"peak": float(peak), "saved": float(rec.total)}


def memory_table(names: list[str], T: int, B: int, N: int, device: torch.device,
                 threads: int, runs: int = 1) -> dict[str, dict[str, Any] | str]:
    """Each backend's peak memory in ``runs`` fresh processes, the backends interleaved run by
    run: ``{"peaks": [...], "peak": median, "saved": ...}``, or why it is unavailable."""
    out: dict[str, dict[str, Any] | str] = {}
    for _ in range(runs):
        for name in names:
            if isinstance(out.get(name), str):
                continue
            result = _memory_run(name, T, B, N, device, threads)
            if isinstance(result, str):
                out[name] = result
                continue
            entry = out.setdefault(name, {"peaks": [], "saved": result["saved"]})
            entry["peaks"].append(result["peak"])  # type: ignore[index]
    for entry in out.values():
        if isinstance(entry, dict):
            entry["peak"] = statistics.median(entry["peaks"])
    return out


def _memory_run(name: str, T: int, B: int, N: int, device: torch.device,
                threads: int) -> dict[str, float] | str:
    """One fresh process measuring ``name``: its result, or why it failed."""
    cmd = [sys.executable, __file__, "--memory-child", name, "--batch", str(B), "--neurons",
           str(N), "--T", str(T), "--device", device.type, "--threads", str(threads)]
    # a fixed mmap threshold turns off glibc's dynamic threshold, so that every large block is
    # mapped on allocation and unmapped on free: resident memory then follows live tensors
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MALLOC_MMAP_THRESHOLD_="131072")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return f"failed: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}"
    result = json.loads(lines[-1])
    return result.get("error", result)


def copy_bandwidth(T: int, B: int, N: int, device: torch.device) -> float:
    """Bytes per second of a device copy of a [T, B, N] float32 tensor (read + write)."""
    x = torch.randn(T, B, N, device=device)
    y = torch.empty_like(x)
    seconds = min(_times({"copy": lambda: y.copy_(x)}, device, 20, 2.0)["copy"])
    return 2 * x.numel() * x.element_size() / seconds


# ---------------------------------------------------------------------------------------------
# report


def _fmt_ratio(value: float) -> str:
    return f"{value:.2f}×" if value < 10 else f"{value:.1f}×"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--T", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--neurons", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=10, help="interleaved rounds (at most)")
    parser.add_argument("--budget", type=float, default=10.0,
                        help="seconds of timing per T after 3 rounds")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--memory-runs", type=int, default=5,
                        help="fresh processes per backend for the peak memory (median reported)")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device available")
    B, N = args.batch, args.neurons
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, args.T[-1], B, N, device)))
        return
    names = [n for n in args.backends if n != "triton" or device.type == "cuda"]

    t_start = time.perf_counter()
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    print(f"# bench_lif  {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC  torch {torch.__version__}"
          f"  device {device}  threads {torch.get_num_threads()}  ({cpu}, "
          f"{os.cpu_count()} logical CPUs, load average {os.getloadavg()[0]:.2f})")
    print(f"# LIF tau={TAU}, v_th={V_TH}, hard reset to {V_RESET}, Sigmoid(alpha={ALPHA}); "
          f"B={B}, N={N}, float32; forward + backward of the spike sequence")
    for name in names:
        print(f"#   {name:13s} {BACKENDS[name][1]}")
    agree = spike_agreement([n for n in names if n != "fused"], device)
    print("# spikes vs fused (T=8, B=4, N=64): "
          + ", ".join(f"{k}: {v}" for k, v in agree.items()))

    res = time_table(names, args.T, B, N, device, args.repeats, args.budget)
    print("\n# time of one training step: best (minimum) and median of the interleaved rounds;"
          " ratios from the best times")
    header = (f"| {'backend':13s} | {'T':>4s} | {'best [ms]':>10s} | {'median [ms]':>11s} | "
              f"{'vs torch':>9s} | {'vs floor':>9s} | {'runs':>4s} |")
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    best: dict[tuple[str, int], float] = {}
    for key, value in res.items():
        if not isinstance(value, str):
            best[key] = min(value)
    for T in args.T:
        floor = best[("floor", T)]
        rows = ["floor", *names]
        for name in rows:
            value = res[(name, T)]
            label = "floor (add)" if name == "floor" else name
            if isinstance(value, str):
                print(f"| {label:13s} | {T:4d} | {value} |")
                continue
            b_ms, med_ms = best[(name, T)] * 1e3, statistics.median(value) * 1e3
            base = best.get(("torch", T))
            vs_torch = "" if name == "floor" or base is None else _fmt_ratio(best[(name, T)] / base)
            print(f"| {label:13s} | {T:4d} | {b_ms:10.3f} | {med_ms:11.3f} | {vs_torch:>9s} | "
                  f"{_fmt_ratio(best[(name, T)] / floor):>9s} | {len(value):4d} |")

    sj32 = res.get(("spikingjelly", 32))
    for name in ("fused", "LIFNode"):
        f32 = res.get((name, 32))
        if isinstance(sj32, list) and isinstance(f32, list):
            r_best = min(sj32) / min(f32)
            r_med = statistics.median(sj32) / statistics.median(f32)
            print(f"\n# target: {name} ≥ 3× faster than SpikingJelly 2.0 at T=32: {r_best:.2f}× "
                  f"(best), {r_med:.2f}× (median) "
                  f"({'met' if min(r_best, r_med) >= 3 else 'NOT met'})")

    if not args.no_memory:
        T = max(args.T)
        mem = memory_table(names, T, B, N, device, args.threads, args.memory_runs)
        what = "max_memory_allocated" if device.type == "cuda" else "peak RSS increase"
        print(f"\n| {'backend':13s} | peak memory, T={T} [MiB] ({what}), median of "
              f"{args.memory_runs} processes | range | saved for backward [MiB] |")
        print("|---------------|------|------|------|")
        for name in names:
            m = mem[name]
            if isinstance(m, str):
                print(f"| {name:13s} | {m} | | |")
            else:
                low, high = min(m["peaks"]) / 2**20, max(m["peaks"]) / 2**20
                print(f"| {name:13s} | {m['peak'] / 2**20:8.1f} | {low:.1f}–{high:.1f} | "
                      f"{m['saved'] / 2**20:8.1f} |")
        print(f"# one [T, B, N] float32 tensor = {T * B * N * 4 / 2**20:.1f} MiB")
        sj = mem.get("spikingjelly")
        for name in ("fused", "LIFNode"):
            fu = mem.get(name)
            if isinstance(sj, dict) and isinstance(fu, dict) and sj["peak"] > 0:
                ratio = fu["peak"] / sj["peak"]
                print(f"# target: {name} peak memory ≤ 1/3 of SpikingJelly 2.0's at T={T}: "
                      f"{ratio:.2f} at the medians ({'met' if ratio <= 1 / 3 else 'NOT met'}); "
                      f"saved-for-backward ratio {fu['saved'] / max(sj['saved'], 1):.2f}")

    if device.type == "cuda":
        T = max(args.T)
        bw = copy_bandwidth(T, B, N, device)
        print(f"\n# device copy bandwidth: {bw / 1e9:.1f} GB/s")
        # minimal traffic of a fused LIF step: forward reads x, writes spike, v, h; backward reads
        # grad_spike and h, writes grad_x: 7 passes over [T, B, N] float32
        for name in ("fused", "triton"):
            value = best.get((name, T))
            if value is not None:
                eff = 7 * T * B * N * 4 / value
                print(f"# {name}: effective bandwidth {eff / 1e9:.1f} GB/s = "
                      f"{eff / bw:.0%} of copy (target for triton: ≥ 70%)")
    print(f"\n# total benchmark time {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
