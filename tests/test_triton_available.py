r"""Where Triton is installed, a broken Triton must fail the run, never skip the Triton tests.

CI installs Triton (the ``test`` extra), so the Triton tests run there in the interpreter on CPU.
If ``import triton`` broke, or sgcourse's kernel module no longer loaded under
``TRITON_INTERPRET=1``, a skip would turn the whole Triton backend silently untested. These tests
check that it is importable wherever it is installed, that the kernels load and compute under
the environment switch, and that the ``triton`` marker of ``tests/conftest.py`` skips only when
the package is missing and fails when it is broken.

The subprocesses have timeouts, and their output is shown on failure.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
TIMEOUT_S = 180
TRITON_INSTALLED = importlib.util.find_spec("triton") is not None


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False)


def report(result: subprocess.CompletedProcess[str]) -> str:
    """The exit code and both output streams, for an assertion message."""
    return (f"exit code {result.returncode}\n--- stdout ---\n{result.stdout}\n"
            f"--- stderr ---\n{result.stderr}")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", "PYTHONPATH")}
    env.update(OMP_NUM_THREADS="1", **extra)
    return env


@pytest.mark.skipif(not TRITON_INSTALLED, reason="the optional 'triton' package is not installed")
def test_triton_is_importable_where_installed() -> None:
    import triton  # an ImportError here fails the test: that is the point
    from packaging.version import Version

    assert Version(triton.__version__) >= Version("3.2")


_KERNEL_CHECK = textwrap.dedent("""
    import torch
    from triton.runtime.interpreter import InterpretedFunction

    from sgcourse import surrogate
    from sgcourse.kernels import _triton_kernels as source
    from sgcourse.kernels import triton as kt

    assert kt.interpreting(), "TRITON_INTERPRET=1 should switch the kernels to the interpreter"
    assert isinstance(source.lif_forward_kernel, InterpretedFunction)
    assert isinstance(source.lif_backward_kernel, InterpretedFunction)

    # one LIF layer, hard reset to -0.3, against the per-step equations
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(6, 40, generator=gen) * 2.5).requires_grad_()
    v0 = torch.full((40,), -0.3)
    sg = surrogate.Sigmoid()
    s, v = kt.lif_multistep(x, v0, 0.4, decay_input=True, v_threshold=1.0, v_reset=-0.3,
                            detach_reset=False, surrogate=sg)
    (s.sum() + v.sum()).backward()
    xr = x.detach().clone().requires_grad_()
    vr, spikes, vs = v0, [], []
    for xt in xr.unbind(0):
        h = vr + 0.4 * (xt - (vr + 0.3))
        st = sg(h - 1.0)
        vr = st * -0.3 + (1 - st) * h
        spikes.append(st)
        vs.append(vr)
    (torch.stack(spikes).sum() + torch.stack(vs).sum()).backward()
    assert 0 < s.mean() < 1
    assert torch.equal(s, torch.stack(spikes).detach())
    torch.testing.assert_close(v, torch.stack(vs).detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(x.grad, xr.grad, rtol=1e-5, atol=1e-6)
    print("kernels ok")
""")


@pytest.mark.skipif(not TRITON_INSTALLED, reason="the optional 'triton' package is not installed")
def test_kernel_module_loads_and_computes_under_triton_interpret(tmp_path: Path) -> None:
    """A fresh interpreter with TRITON_INTERPRET=1 (how a user runs the kernels on CPU)."""
    result = _run([sys.executable, "-c", _KERNEL_CHECK], tmp_path, _env(TRITON_INTERPRET="1"))
    assert result.returncode == 0 and "kernels ok" in result.stdout, report(result)


# ---- the `triton` marker: skip when missing, fail when broken -----------------------------------

_MARKED_TEST = textwrap.dedent("""
    import pytest

    @pytest.mark.triton
    def test_needs_triton():
        import triton  # noqa: F401
""")

_HIDE_TRITON = textwrap.dedent("""
    import importlib.util

    _find_spec = importlib.util.find_spec
    importlib.util.find_spec = lambda name, *a: None if name == "triton" else _find_spec(name, *a)
""")


def _run_inner_suite(tmp_path: Path, test_source: str, pythonpath: Path | None = None
                     ) -> subprocess.CompletedProcess[str]:
    """Run pytest on one test file next to a copy of tests/conftest.py."""
    suite = tmp_path / "suite"
    suite.mkdir()
    shutil.copy(TESTS / "conftest.py", suite / "conftest.py")
    (suite / "test_inner.py").write_text(test_source, encoding="utf-8")
    env = _env(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",  # faster: no nbval, xdist, … in there
               **({"PYTHONPATH": str(pythonpath)} if pythonpath else {}))
    return _run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs",
                 "-o", "addopts=", "test_inner.py"], suite, env)


def test_marker_fails_when_triton_is_installed_but_broken(tmp_path: Path) -> None:
    fake = tmp_path / "site" / "triton"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "raise ImportError('libtriton.so: cannot open shared object file (simulated)')\n",
        encoding="utf-8")
    result = _run_inner_suite(tmp_path, _MARKED_TEST, pythonpath=tmp_path / "site")
    assert result.returncode == 1, report(result)
    assert "1 error" in result.stdout and "skipped" not in result.stdout, report(result)
    assert "libtriton.so" in result.stdout, report(result)


def test_marker_skips_only_when_triton_is_not_installed(tmp_path: Path) -> None:
    result = _run_inner_suite(tmp_path, _HIDE_TRITON + _MARKED_TEST)
    assert result.returncode == 0, report(result)
    assert "1 skipped" in result.stdout, report(result)
    assert "'triton' package is not installed" in result.stdout, report(result)


@pytest.mark.skipif(not TRITON_INSTALLED, reason="the optional 'triton' package is not installed")
def test_marker_runs_the_test_where_triton_works(tmp_path: Path) -> None:
    result = _run_inner_suite(tmp_path, _MARKED_TEST)
    assert result.returncode == 0 and "1 passed" in result.stdout, report(result)
