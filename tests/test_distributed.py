"""DistributedDataParallel on CPU (gloo): the DDP training script under ``torchrun``, DDP's
gradients against one process, and failures that end fast instead of hanging.

No rank is ever forked from the pytest process (a fork inherits whatever lock a pytest or torch
thread holds at that moment: one rank then waits on it forever). The ranks are started either by
``torchrun`` (``python -m torch.distributed.run``) in a subprocess, or by
``torch.multiprocessing`` with the ``spawn`` start method (fresh interpreters). Every process
group has a timeout, every launch a deadline after which all its processes are killed, and a
failing rank fails the test with the output of the ranks.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from sgcourse import functional, layer, neuron
from sgcourse.course import train_ddp

LAUNCH_TIMEOUT_S = 240.0
"""Deadline of one launch (a run takes ~10 s on two idle cores; generous for a loaded machine)."""
GROUP_TIMEOUT_S = 60
"""Process-group timeout of the ranks: a rank waiting longer for the others fails."""
EPOCH_LINE = re.compile(r"epoch (?P<epoch>\d+/\d+): train loss (?P<loss>\d+\.\d{4}), "
                        r"test accuracy (?P<accuracy>[01]\.\d{4})")
MIN_ACCURACY = 0.85
"""Test accuracy the two-rank run must reach after 3 epochs (seed 0 gives about 0.95)."""


def torchrun(tmp_path: Path, args: list[str], script: Path | None = None,
             timeout: float = LAUNCH_TIMEOUT_S) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the DDP script (or ``script``) on two ranks; (result, seconds). Past ``timeout`` every
    process of the launch is killed and the test fails with the output so far."""
    target = [str(script)] if script is not None else ["-m", "sgcourse.course.train_ddp"]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", *target, *args]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the launcher and both ranks
        stdout, stderr = process.communicate()
        pytest.fail(f"torchrun did not finish within {timeout} s\n--- stdout ---\n{stdout}\n"
                    f"--- stderr ---\n{stderr}")
    result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    return result, time.perf_counter() - start


def output(result: subprocess.CompletedProcess[str]) -> str:
    return (f"exit code {result.returncode}\n--- stdout ---\n{result.stdout}\n"
            f"--- stderr ---\n{result.stderr}")


# ------------------------------------------------------------------------------------------
# The training script on two ranks
# ------------------------------------------------------------------------------------------


def test_train_ddp_on_two_ranks(tmp_path: Path) -> None:
    epochs = 3
    result, _ = torchrun(tmp_path, ["--epochs", str(epochs), "--seed", "0", "--backend", "gloo",
                                    "--timeout", str(GROUP_TIMEOUT_S), "--report-dir", "reports"])
    assert result.returncode == 0, output(result)

    # rank 0 alone prints: one line per epoch, then the final line
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == epochs + 1, output(result)
    losses, accuracies = [], []
    for epoch, line in enumerate(lines[:-1], start=1):
        match = EPOCH_LINE.fullmatch(line)
        assert match and match["epoch"] == f"{epoch}/{epochs}", line
        losses.append(float(match["loss"]))
        accuracies.append(float(match["accuracy"]))
    assert lines[-1].startswith(f"final: test accuracy {accuracies[-1]:.4f} after {epochs} "
                                f"epochs on 2 rank(s) (gloo, cpu, global batch 64, seed 0)")
    assert losses == sorted(losses, reverse=True), f"the loss should fall: {losses}"
    assert accuracies[-1] >= MIN_ACCURACY, output(result)

    reports = [json.loads((tmp_path / "reports" / f"rank{r}.json").read_text()) for r in (0, 1)]
    for rank, report in enumerate(reports):
        assert report["rank"] == rank and report["world_size"] == 2
        assert report["backend"] == "gloo" and report["device"] == "cpu"
    # identical replicas: every step applied the same averaged gradient on both ranks
    assert reports[0]["parameters_sha256"] == reports[1]["parameters_sha256"]
    # DistributedSampler: two disjoint, equal shards covering the training set but its odd
    # last sample (1347 samples, drop_last), so that the per-rank means average exactly
    shards = [set(report["train_indices"]) for report in reports]
    assert len(shards[0]) == len(shards[1]) == 673 and not shards[0] & shards[1]
    assert shards[0] | shards[1] <= set(range(1347))
    assert reports[0]["steps"] == reports[1]["steps"] == epochs * 22  # ceil(673 / 32) per epoch
    # the metrics are all-reduced: every rank holds those of the whole data set
    assert reports[0]["losses"] == reports[1]["losses"]
    assert [round(a, 4) for a in reports[0]["test_accuracies"]] == accuracies


_FAILING_RANK = """
import os, sys, time
from sgcourse.course import train_ddp

def fail(*args):
    if sys.argv[1] == "raise":
        raise RuntimeError("rank 1 failed on purpose")
    time.sleep(3600)  # "hang": rank 0 waits for rank 1 in the first all-reduce

if os.environ["RANK"] == "1":
    train_ddp._train_epoch = fail
sys.exit(train_ddp.main(sys.argv[2:]))
"""


@pytest.mark.parametrize("how", ["raise", "hang"])
def test_a_failing_rank_fails_the_run_fast_with_its_output(tmp_path: Path, how: str) -> None:
    """An error in rank 1 ends the run at once; a stuck rank 1 ends it after the process-group
    timeout of rank 0 (2 s here), far from the launch deadline. Either way the exit code is
    non-zero and the output names the cause."""
    script = tmp_path / "failing_rank.py"
    script.write_text(_FAILING_RANK, encoding="utf-8")
    group_timeout = 2
    result, seconds = torchrun(tmp_path, [how, "--epochs", "1", "--hidden", "8",
                                          "--timeout", str(group_timeout)], script=script)
    assert result.returncode != 0, output(result)
    text = result.stdout + result.stderr
    if how == "raise":
        assert "rank 1 failed on purpose" in text, output(result)
    else:
        assert "timed out" in text.lower() or "timeout" in text.lower(), output(result)
    assert seconds < LAUNCH_TIMEOUT_S / 2, f"took {seconds:.0f} s\n{output(result)}"


# ------------------------------------------------------------------------------------------
# The script's arguments and single-process run (in this process: no launcher needed)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "message"), [
    (["--epochs", "0"], "--epochs: .*>= 1, got 0"),
    (["--epochs", "two"], "--epochs: .*integer, got 'two'"),
    (["--seed", "-1"], "--seed: .*>= 0"),
    (["--batch-size", "0"], "--batch-size: .*>= 1"),
    (["--lr", "-0.1"], "--lr: .*> 0"),
    (["--lr", "nan"], "--lr: .*> 0"),
    (["--timeout", "0"], "--timeout: .*> 0"),
    (["--backend", "mpi"], "--backend: invalid choice: 'mpi'"),
    (["--epoch", "3", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_arguments_exit_with_a_message(argv: list[str], message: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        train_ddp.main(argv)
    assert exit_info.value.code == 2
    assert re.search(message, capsys.readouterr().err), message


def test_backend_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert train_ddp.resolve_backend("auto", 2) == ("gloo", False)
    assert train_ddp.resolve_backend("gloo", 2) == ("gloo", False)
    with pytest.raises(ValueError, match=r"nccl needs one CUDA device per rank.*--backend gloo"):
        train_ddp.resolve_backend("nccl", 2)
    with pytest.raises(ValueError, match="backend must be one of"):
        train_ddp.resolve_backend("mpi", 1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(dist, "is_nccl_available", lambda: True)
    assert train_ddp.resolve_backend("auto", 2) == ("gloo", False)  # 2 ranks, 1 GPU
    assert train_ddp.resolve_backend("auto", 1) == ("nccl", True)
    assert train_ddp.resolve_backend("nccl", 1) == ("nccl", True)


def test_incomplete_launch_environment_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    with pytest.raises(RuntimeError, match=r"LOCAL_RANK, WORLD_SIZE not set.*torchrun"):
        train_ddp.main(["--epochs", "1"])


def test_single_process_run_is_deterministic(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR"):
        assert name not in os.environ, f"{name} is set: the run would wait for other ranks"
    args = ["--epochs", "1", "--hidden", "16", "--time-steps", "4", "--backend", "gloo"]
    assert train_ddp.main([*args, "--report-dir", str(tmp_path / "a")]) == 0
    assert train_ddp.main([*args, "--report-dir", str(tmp_path / "b")]) == 0
    assert not dist.is_initialized()
    first, second = (json.loads((tmp_path / d / "rank0.json").read_text()) for d in "ab")
    assert first["world_size"] == 1 and len(first["train_indices"]) == 1347
    assert first == second
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[:2] == lines[2:]
    assert lines[1].startswith("final: test accuracy") and "1 rank(s)" in lines[1]


# ------------------------------------------------------------------------------------------
# DDP's gradients equal those of one process on the whole batch (spawned ranks)
# ------------------------------------------------------------------------------------------
# Each rank trains on half of the batch. The loss is a mean over samples, and DDP averages the
# gradients of the two equal halves, so after every step the parameters must equal those of
# single-process training on the full batch.

T, BATCH, STEPS, LR = 4, 8, 2, 0.5


def make_net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(layer.Linear(5, 16), neuron.LIFNode(tau=2.0, v_reset=-0.2),
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
    """One spawned rank (a fresh interpreter: it imports this module, nothing is inherited)."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world_size,
                            timeout=datetime.timedelta(seconds=GROUP_TIMEOUT_S))
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
        was_reset = all(m.v == m.v_reset_or_zero for m in neurons)
        torch.save({"history": history, "params": [p.detach() for p in model.parameters()],
                    "had_state": had_state, "was_reset": was_reset}, f"{out_file}.{rank}")
    finally:
        dist.destroy_process_group()


def spawn_ranks(tmp_path: Path, world_size: int = 2) -> list[dict]:
    """Start ``worker`` on ``world_size`` spawned ranks; fail the test if one fails (at once, with
    its traceback) or if they are not done by the launch deadline (then kill them)."""
    init_file, out_file = str(tmp_path / "init"), str(tmp_path / "rank")
    old = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"  # read by the children at start-up
    try:
        context = mp.start_processes(worker, args=(world_size, init_file, out_file),
                                     nprocs=world_size, join=False, start_method="spawn")
    finally:
        if old is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = old
    deadline = time.monotonic() + LAUNCH_TIMEOUT_S
    # join() raises ProcessRaisedException (with the rank's traceback) as soon as a rank fails,
    # after terminating the others
    while not context.join(timeout=1.0):
        if time.monotonic() > deadline:
            for process in context.processes:
                if process.is_alive():
                    process.kill()
            pytest.fail(f"spawned ranks not done within {LAUNCH_TIMEOUT_S} s (killed)")
    return [torch.load(f"{out_file}.{rank}") for rank in range(world_size)]


def test_ddp_gradients_equal_single_process(tmp_path: Path) -> None:
    results = spawn_ranks(tmp_path)

    net = make_net()
    xs, ys = make_data()
    history = train(net, xs, ys, slice(0, BATCH))
    assert any(g.abs().sum() > 0 for g in history[0]), "the test network should get gradients"
    for result in results:
        for step, (ddp_grads, grads) in enumerate(zip(result["history"], history, strict=True)):
            for ddp_grad, grad in zip(ddp_grads, grads, strict=True):
                torch.testing.assert_close(ddp_grad, grad, rtol=1e-5, atol=1e-7,
                                           msg=lambda m, s=step: f"step {s}: {m}")
        for ddp_param, param in zip(result["params"], net.parameters(), strict=True):
            torch.testing.assert_close(ddp_param, param.detach(), rtol=1e-5, atol=1e-7)
        assert result["had_state"] and result["was_reset"]
    for p0, p1 in zip(results[0]["params"], results[1]["params"], strict=True):
        assert torch.equal(p0, p1), "the replicas must stay bit-identical"
