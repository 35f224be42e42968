"""sgcourse.course.profiling: exact saved-for-backward bytes, timing helpers, the benchmark rows;
sgcourse.course.scaling: torchrun with a timeout."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from sgcourse.course import profiling, scaling


def test_saved_for_backward_counts_each_storage_once() -> None:
    x = torch.rand(5, 7, requires_grad=True)
    # x * x saves x twice (one storage); exp saves its output; a view of x saved by a second
    # node is the same storage again
    result, saved = profiling.saved_for_backward(lambda t: (t * t).exp() + t[1:].sin().sum(), x)
    assert isinstance(result, torch.Tensor)
    assert saved.nbytes == 2 * 5 * 7 * 4          # x and exp's output; the view adds nothing
    assert saved.count == 2
    _, nothing = profiling.saved_for_backward(lambda t: t + 1.0, x)
    assert nothing.nbytes == 0 and nothing.shapes == ()


def test_autograd_nodes_counts_the_graph() -> None:
    x = torch.rand(3, requires_grad=True)
    assert profiling.autograd_nodes((x * 2).exp().sum()) == 4   # Sum, Exp, Mul, AccumulateGrad
    y = x.sin()
    assert profiling.autograd_nodes(y + y) == 3                  # a shared node counts once
    assert profiling.autograd_nodes(torch.ones(2)) == 0
    with pytest.raises(TypeError, match="tensor"):
        profiling.autograd_nodes([1.0])


def test_saved_for_backward_rejects_a_non_callable() -> None:
    with pytest.raises(TypeError, match="fn must be callable"):
        profiling.saved_for_backward(3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lif_saves_three_tensors_per_step_with_torch_and_one_with_fused(dtype) -> None:
    size = torch.empty((), dtype=dtype).element_size()
    for t in (1, 5, 12):
        torch_saved = profiling.lif_saved_bytes("torch", t, 3, 4, dtype=dtype)
        fused_saved = profiling.lif_saved_bytes("fused", t, 3, 4, dtype=dtype)
        assert torch_saved.nbytes == 3 * t * 3 * 4 * size
        assert torch_saved.count == 3 * t and set(torch_saved.shapes) == {(3, 4)}
        assert fused_saved.nbytes == t * 3 * 4 * size and fused_saved.shapes == ((t, 3, 4),)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_input_keeps_the_neuron_state_in_float32(dtype) -> None:
    """Lesson 09, section 5: half precision does not halve what the LIF layer keeps."""
    for backend, k in (("torch", 3), ("fused", 1)):
        saved = profiling.lif_saved_bytes(backend, 5, 2, 3, dtype=dtype)
        assert saved.count == len(saved.dtypes) and set(saved.dtypes) == {torch.float32}
        assert saved.nbytes == k * 5 * 2 * 3 * 4


def test_saved_tensors_lists_a_dtype_per_tensor() -> None:
    x = torch.rand(3, dtype=torch.float64, requires_grad=True)
    _, saved = profiling.saved_for_backward(lambda t: t.exp() * t.float(), x)
    assert len(saved.dtypes) == saved.count and torch.float64 in saved.dtypes
    assert torch.float32 in saved.dtypes


@pytest.mark.parametrize(("v_reset", "detach_reset", "k_torch"),
                         [(0.0, False, 3), (0.0, True, 2), (None, False, 1), (None, True, 1)])
def test_tensors_saved_per_step_depend_on_the_reset_for_torch_only(v_reset, detach_reset,
                                                                   k_torch) -> None:
    kw = dict(v_reset=v_reset, detach_reset=detach_reset)
    assert profiling.lif_saved_bytes("torch", 6, 2, 3, **kw).nbytes == k_torch * 6 * 2 * 3 * 4
    assert profiling.lif_saved_bytes("fused", 6, 2, 3, **kw).nbytes == 6 * 2 * 3 * 4


def test_lif_saved_bytes_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="backend must be one of"):
        profiling.lif_saved_bytes("cuda", 4)
    with pytest.raises(ValueError, match="time_steps"):
        profiling.lif_saved_bytes("torch", 0)
    with pytest.raises(TypeError, match="dtype"):
        profiling.lif_saved_bytes("torch", 4, dtype=torch.int32)


def test_memory_versus_time_is_linear_and_plots() -> None:
    table = profiling.memory_versus_time(["torch", "fused"], [2, 4, 8], batch=2, neurons=3)
    assert table == {"torch": [3 * t * 6 * 4 for t in (2, 4, 8)],
                     "fused": [t * 6 * 4 for t in (2, 4, 8)]}
    with pytest.raises(ValueError, match="time_steps"):
        profiling.memory_versus_time(["torch"], [])
    pytest.importorskip("matplotlib")
    fig = profiling.plot_memory_versus_time([2, 4, 8], table, 2, 3)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["backend='torch'", "backend='fused'"]
    assert "MiB" in ax.get_ylabel() and ax.get_xlabel()


def test_time_training_step_counts_its_calls() -> None:
    calls = []
    timing = profiling.time_training_step(lambda: calls.append(1), repeats=4, warmup=2)
    assert len(calls) == 6
    assert 0 <= timing.best <= timing.median
    with pytest.raises(TypeError):
        profiling.time_training_step(None)
    with pytest.raises(ValueError, match="repeats"):
        profiling.time_training_step(lambda: None, repeats=0)


def test_benchmark_rows_agree_between_backends_and_format() -> None:
    rows = profiling.benchmark_backends(["torch", "fused"], time_steps=(3, 6), batch=2,
                                        neurons=5, repeats=1)
    assert [(r.time_steps, r.backend) for r in rows] == [(3, "torch"), (3, "fused"),
                                                          (6, "torch"), (6, "fused")]
    for a, b in ((rows[0], rows[1]), (rows[2], rows[3])):
        assert torch.equal(a.spikes, b.spikes)
        assert a.spikes.sum() > 0                                  # the input makes it fire
        assert torch.allclose(a.grad, b.grad, rtol=0, atol=1e-5)
        assert a.grad.abs().sum() > 0
        assert a.saved_bytes == 3 * b.saved_bytes
        assert a.peak_cuda_bytes is None
    text = profiling.format_benchmark(rows)
    assert text.count("\n") == 5 and "1.00x" in text and "saved [MiB]" in text


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_benchmark_reports_cuda_peak_memory() -> None:
    rows = profiling.benchmark_backends(["torch", "fused", "triton"], time_steps=(16,),
                                        batch=8, neurons=256, device="cuda", repeats=1)
    peaks = {r.backend: r.peak_cuda_bytes for r in rows}
    assert all(p is not None and p > 0 for p in peaks.values())
    assert peaks["fused"] < peaks["torch"] and peaks["triton"] < peaks["torch"]


def test_torchrun_runs_a_module_on_two_ranks(tmp_path, monkeypatch) -> None:
    # one write() per rank: a line written in one call of under PIPE_BUF bytes reaches the shared
    # pipe whole (print() writes its parts one by one when stdout is unbuffered, and the two
    # ranks' lines were once interleaved: "rankrank 1 of 2 ...")
    (tmp_path / "rank_probe.py").write_text(
        "import os\nos.write(1, f\"rank {os.environ['RANK']} of {os.environ['WORLD_SIZE']} "
        "threads {os.environ['OMP_NUM_THREADS']}\\n\".encode())\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    run = scaling.torchrun("rank_probe", nproc_per_node=2, timeout=120)
    assert run.returncode == 0, run.stderr
    assert sorted(run.lines) == ["rank 0 of 2 threads 1", "rank 1 of 2 threads 1"]
    assert run.seconds > 0


def test_torchrun_kills_everything_after_its_timeout(tmp_path, monkeypatch) -> None:
    (tmp_path / "sleeper.py").write_text(
        "import os, pathlib, time\n"
        f"pathlib.Path({str(tmp_path)!r}, os.environ['RANK'] + '.pid')"
        ".write_text(str(os.getpid()))\n"
        "time.sleep(600)\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with pytest.raises(TimeoutError, match="did not finish within"):
        scaling.torchrun("sleeper", nproc_per_node=2, timeout=15)
    pids = [int(f.read_text()) for f in tmp_path.glob("*.pid")]
    assert pids, "no rank started within the timeout"   # (both, unless the machine is slow)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_torchrun_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="module"):
        scaling.torchrun("")
    with pytest.raises(TypeError, match="args"):
        scaling.torchrun("x", "--epochs 3")
    with pytest.raises(ValueError, match="nproc_per_node"):
        scaling.torchrun("x", nproc_per_node=0)
