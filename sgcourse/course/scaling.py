r"""Run a training module under ``torchrun`` from a notebook, with a timeout (lesson 09).

``torchrun --nproc_per_node=P -m MODULE ARGS`` (here ``python -m torch.distributed.run``) starts
``P`` processes ("ranks") on this machine, each with ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``
in its environment, and a rendezvous through which they form one process group. With
DistributedDataParallel every rank trains a replica of the model on its own shard of the data;
after each backward pass the gradients are all-reduced (averaged over the ranks), so every
replica takes the same optimizer step and the parameters stay identical.

:func:`torchrun` runs such a command and, when it exceeds ``timeout``, kills the launcher and
every process below it (the launcher starts each rank in a session of its own, so killing its
process group is not enough): a stuck rank never hangs the notebook.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sgcourse._checks import POSITIVE, check_int, check_real

__all__ = ["DistributedRun", "torchrun"]


@dataclass(frozen=True)
class DistributedRun:
    """What :func:`torchrun` saw: the exit code, both streams and the wall time in seconds."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def lines(self) -> list[str]:
        """The non-empty lines of stdout."""
        return [line for line in self.stdout.splitlines() if line.strip()]


def torchrun(module: str, args: Sequence[str] = (), nproc_per_node: int = 2,
             timeout: float = 120.0, threads_per_process: int = 1) -> DistributedRun:
    """``python -m torch.distributed.run --standalone --nproc_per_node=P -m module *args``.

    ``--standalone`` lets the ranks meet on a free local port. ``OMP_NUM_THREADS`` is set to
    ``threads_per_process`` in the children. Raises ``TimeoutError`` (after killing every process
    it started) when the run takes longer than ``timeout`` seconds.
    """
    if not isinstance(module, str) or not module:
        raise TypeError(f"module must be a module name such as 'sgcourse.course.train_ddp', got "
                        f"{module!r}")
    if isinstance(args, str) or not all(isinstance(a, str) for a in args):
        raise TypeError(f"args must be a sequence of strings, got {args!r}")
    nproc_per_node = check_int("nproc_per_node", nproc_per_node, 1)
    timeout = check_real("timeout", timeout, POSITIVE)
    threads = check_int("threads_per_process", threads_per_process, 1)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={nproc_per_node}", "-m", module, *args]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(process.pid)
        process.communicate()
        raise TimeoutError(f"{' '.join(command[1:])} did not finish within {timeout:g} s; every "
                           f"process it started was killed") from None
    return DistributedRun(process.returncode, stdout, stderr, time.perf_counter() - start)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...), read from ``/proc``."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and all its descendants (collected first, so none is orphaned unseen)."""
    for target in [*_descendants(pid), pid]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(target, signal.SIGKILL)
