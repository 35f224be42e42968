"""``python -m sgcourse check``: the report, the exit code, and what it tells a learner to do.

The subprocess tests simulate missing or broken packages with a ``sitecustomize`` module put
first on ``PYTHONPATH``: it installs an import hook that hides (ModuleNotFoundError) or breaks
(RuntimeError while importing) the packages named in environment variables. Nothing in
``sgcourse`` knows about it.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sgcourse.course import check

REPO = Path(__file__).resolve().parents[1]

SITECUSTOMIZE = textwrap.dedent('''
    import importlib.abc
    import importlib.util
    import os
    import sys

    HIDE = set(filter(None, os.environ.get("SGTEST_HIDE", "").split(",")))
    BREAK = set(filter(None, os.environ.get("SGTEST_BREAK", "").split(",")))


    class _Broken(importlib.abc.Loader):
        def create_module(self, spec):
            return None

        def exec_module(self, module):
            raise RuntimeError("simulated broken install of " + module.__name__)


    class _Hook(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            top = name.partition(".")[0]
            if top in HIDE:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            if name in BREAK:
                return importlib.util.spec_from_loader(name, _Broken())
            return None


    sys.meta_path.insert(0, _Hook())
''')


def run_check(tmp_path: Path, *, hide: str = "", broken: str = "",
              args: tuple[str, ...] = ("check",),
              env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    env["SGTEST_HIDE"] = hide
    env["SGTEST_BREAK"] = broken
    env.update(env_extra or {})
    result = subprocess.run([sys.executable, "-m", "sgcourse", *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert "Error in sitecustomize" not in result.stderr, result.stderr  # the hook must work
    return result


def line_of(report: str, name: str) -> str:
    """The report line whose name column is exactly ``name``."""
    pattern = re.compile(r"^  (?:TOO OLD|\S+)\s+" + re.escape(name) + r"(?:\s{2,}|$)")
    for line in report.splitlines():
        if pattern.match(line):
            return line
    raise AssertionError(f"no line for {name!r} in:\n{report}")


def test_complete_environment_is_ready(tmp_path: Path) -> None:
    result = run_check(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for name in ("Python", "sgcourse", "torch", "numpy", "JupyterLab", "ipykernel",
                 "python3 kernel", "ipywidgets",
                 "ipywidgets in JupyterLab", "matplotlib", "nbval", "nbgrader", "CUDA",
                 "Triton"):
        assert name in out, f"{name} missing from the report:\n{out}"
    assert "@jupyter-widgets/jupyterlab-manager" in out
    torch_line = line_of(out, "torch")
    assert "CPU build" in torch_line or "CUDA" in torch_line
    assert out.rstrip().splitlines()[-1].startswith("Ready")
    assert "What to do" not in out or "(optional)" in out


def test_missing_and_broken_packages_say_what_to_do(tmp_path: Path) -> None:
    result = run_check(tmp_path, hide="matplotlib", broken="sklearn")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert line_of(out, "matplotlib").split()[0] == "MISSING"
    assert line_of(out, "scikit-learn").split()[0] == "BROKEN"
    assert "simulated broken install of sklearn" in out
    todo = out.split("What to do:")[1]
    assert f"{sys.executable} -m pip install 'matplotlib>=" in todo
    assert "--force-reinstall 'scikit-learn>=" in todo
    assert "NOT ready: 2 problem(s)" in out


def test_missing_torch_points_to_the_cpu_build(tmp_path: Path) -> None:
    # Also proves that `python -m sgcourse check` itself never needs torch.
    result = run_check(tmp_path, hide="torch")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert line_of(out, "torch").split()[0] == "MISSING"
    assert "'torch>=2.4' --index-url https://download.pytorch.org/whl/cpu" not in out
    assert "install --index-url https://download.pytorch.org/whl/cpu 'torch>=" in out


def test_missing_optional_packages_do_not_fail(tmp_path: Path) -> None:
    result = run_check(tmp_path, hide="nbval,triton,nbgrader")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "optional" in line_of(result.stdout, "nbval")
    nbgrader = line_of(result.stdout, "nbgrader")
    assert "optional" in nbgrader and "classroom grading" in nbgrader
    assert "-e '.[classroom]'" in result.stdout.split("What to do:")[1]


@pytest.mark.parametrize("program", ["/nonexistent/python3", sys.executable])
def test_python3_kernel_from_another_environment(tmp_path: Path, program: str) -> None:
    # A kernel spec earlier on JUPYTER_PATH shadows this environment's 'python3' kernel, as a
    # stale user-level spec does.
    spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [program, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3", "language": "python"}), encoding="utf-8")
    result = run_check(tmp_path, env_extra={"JUPYTER_PATH": str(tmp_path / "jupyter")})
    line = line_of(result.stdout, "python3 kernel")
    if program == sys.executable:
        assert result.returncode == 0, result.stdout
        assert line.split()[0] == "ok"
    else:
        assert result.returncode == 1, result.stdout
        assert line.split()[0] == "BROKEN" and "cannot import sgcourse" in line
        assert f"{sys.executable} -m ipykernel install --user" in result.stdout


def test_no_command_prints_help(tmp_path: Path) -> None:
    result = run_check(tmp_path, args=())
    assert result.returncode == 2
    assert "check" in result.stderr


# -- in process: the front end of ipywidgets, and a CUDA build without a GPU --------------------

def report_with(monkeypatch: pytest.MonkeyPatch, dirs: list[Path]) -> tuple[int, str]:
    monkeypatch.setattr(check, "labextension_dirs", lambda: dirs)
    out = io.StringIO()
    code = check.main([], out=out)
    return code, out.getvalue()


def test_missing_widget_extension_fails_with_fix(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    code, out = report_with(monkeypatch, [tmp_path])
    assert code == 1
    assert line_of(out, "ipywidgets in JupyterLab").split()[0] == "MISSING"
    assert "--force-reinstall 'jupyterlab_widgets>=3'" in out.split("What to do:")[1]


def test_mismatched_widget_extension_is_broken(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    manager = tmp_path / "@jupyter-widgets" / "jupyterlab-manager"
    manager.mkdir(parents=True)
    (manager / "package.json").write_text(json.dumps({"version": "3.1.0"}), encoding="utf-8")
    code, out = report_with(monkeypatch, [tmp_path])
    assert code == 1
    assert "does not match ipywidgets" in line_of(out, "ipywidgets in JupyterLab")


def test_cuda_build_without_gpu_warns_but_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, out = report_with(monkeypatch, check.labextension_dirs())
    assert code == 0, out
    assert "CUDA 12.8 build" in line_of(out, "torch")
    warning = line_of(out, "torch build")
    assert warning.split()[0] == "warning" and "multi-GB download" in warning
    assert "--index-url https://download.pytorch.org/whl/cpu" in out.split("What to do:")[1]


def test_old_version_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    real_version = check.importlib.metadata.version

    def fake_version(name: str) -> str:
        return "3.1.0" if name == "matplotlib" else real_version(name)

    monkeypatch.setattr(check.importlib.metadata, "version", fake_version)
    code, out = report_with(monkeypatch, check.labextension_dirs())
    assert code == 1
    assert line_of(out, "matplotlib").split()[:2] == ["TOO", "OLD"]
    assert "--upgrade 'matplotlib>=" in out


def test_version_helpers() -> None:
    assert check.version_tuple("2.13.0+cpu") == (2, 13, 0)
    assert check.version_tuple("1.26.0rc1") == (1, 26, 0)
    assert check.version_tuple("3.2") < check.version_tuple("3.10")
    minimums = check.minimum_versions()
    assert minimums["torch"] == "2.4" and minimums["ipywidgets"] == "8.1"
