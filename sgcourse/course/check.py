"""``python -m sgcourse check``: is this environment ready for the lessons, and if not, what to do.

Reports Python, sgcourse, torch (CPU or CUDA build), numpy, JupyterLab, ipykernel (and whether the
``python3`` kernel the lessons use runs an interpreter with sgcourse), ipywidgets and its JupyterLab
front end (the ``@jupyter-widgets/jupyterlab-manager`` lab extension), matplotlib,
scikit-learn, tqdm, nbval, nbgrader (classroom grading), CUDA (device name) and Triton. Every
missing, too old or broken item comes with the command that fixes it, run with the very
interpreter that ran the check.

Exit code 0 when everything the lessons need is present (CUDA, Triton, nbval and nbgrader are
optional), 1 otherwise. Importing this module imports nothing heavy: each package is imported
only when it is checked, so the check works (and says what to do) when torch itself is missing.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TextIO

__all__ = [
    "Item",
    "Report",
    "labextension_dirs",
    "main",
    "run_checks",
]

#: Minimum versions when sgcourse's own metadata cannot be read (it is read from pyproject).
FALLBACK_MINIMUMS: dict[str, str] = {
    "torch": "2.4",
    "numpy": "1.24",
    "jupyterlab": "4.2",
    "ipykernel": "6.29",
    "ipywidgets": "8.1",
    "matplotlib": "3.8",
    "tqdm": "4.66",
    "scikit-learn": "1.4",
    "nbval": "0.11",
    "nbgrader": "0.9.6",
    "triton": "3.2",
}
#: ipywidgets major version -> the major version of the lab extension that can render it.
WIDGET_MANAGER_FOR_IPYWIDGETS = {8: 5, 7: 3}
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
MIN_PYTHON = (3, 10)


@dataclass
class Item:
    """One line of the report."""

    name: str
    status: str  # "ok", "missing", "old", "broken", "warn" or "info"
    detail: str
    required: bool = True
    fix: str | None = None

    @property
    def problem(self) -> bool:
        """Whether this item stops the lessons from working."""
        return self.required and self.status in ("missing", "old", "broken")


@dataclass
class Report:
    items: list[Item] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not any(item.problem for item in self.items)

    def add(self, item: Item) -> Item:
        self.items.append(item)
        return item


# -- helpers ----------------------------------------------------------------------------------

def _pip(*requirements: str, extra: str = "") -> str:
    python = shlex.quote(sys.executable or "python")
    args = " ".join(shlex.quote(r) for r in requirements)
    return f"{python} -m pip install {extra}{args}"


def version_tuple(version: str) -> tuple[int, ...]:
    """The leading numeric release of ``version``: ``"2.13.0+cpu"`` -> ``(2, 13, 0)``."""
    numbers = []
    for part in re.split(r"[.+-]", version):
        match = re.match(r"\d+", part)
        if match is None:
            break
        numbers.append(int(match.group()))
        if match.group() != part:
            break
    return tuple(numbers)


def minimum_versions() -> dict[str, str]:
    """The ``>=`` bounds declared by the installed sgcourse (pyproject), else the fallback."""
    minimums = dict(FALLBACK_MINIMUMS)
    try:
        requirements = importlib.metadata.requires("sgcourse") or []
    except importlib.metadata.PackageNotFoundError:
        return minimums
    for requirement in requirements:
        match = re.match(r"\s*([A-Za-z0-9_.\-]+)[^;]*?>=\s*([0-9][0-9.]*)", requirement)
        if match:
            minimums[match.group(1).lower()] = match.group(2).rstrip(".")
    return minimums


def _distribution_version(distribution: str, module: ModuleType | None) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return str(getattr(module, "__version__", "unknown"))


def _import(module_name: str) -> tuple[ModuleType | None, BaseException | None]:
    try:
        return importlib.import_module(module_name), None
    except ImportError as error:
        return None, error
    except Exception as error:  # a package that is installed but fails while importing
        return None, error


def check_package(report: Report, *, name: str, module: str, distribution: str,
                  minimums: dict[str, str], required: bool = True,
                  fix: str | None = None, why: str = "") -> tuple[Item, ModuleType | None]:
    """Import ``module``; report its version, or what is wrong and the command that fixes it."""
    minimum = minimums.get(distribution.lower())
    requirement = f"{distribution}>={minimum}" if minimum else distribution
    install = fix or _pip(requirement)
    imported, error = _import(module)
    if imported is None:
        assert error is not None
        not_found = isinstance(error, ModuleNotFoundError) and (error.name or "").split(".")[
            0] == module.split(".")[0]
        if not_found:
            status, detail = "missing", "not installed" + (f" ({why})" if why else "")
        else:
            status = "broken"
            detail = f"installed but fails to import: {type(error).__name__}: {error}"
            install = fix or _pip(requirement, extra="--force-reinstall ")
        return report.add(Item(name, status, detail, required, install)), None
    version = _distribution_version(distribution, imported)
    if minimum and version_tuple(version) < version_tuple(minimum):
        item = Item(name, "old", f"{version} is older than the {minimum} the lessons need",
                    required, _pip(requirement, extra="--upgrade "))
        return report.add(item), imported
    return report.add(Item(name, "ok", version, required)), imported


# -- the individual checks --------------------------------------------------------------------

def check_python(report: Report) -> None:
    version = ".".join(str(v) for v in sys.version_info[:3])
    if sys.version_info[:2] < MIN_PYTHON:
        report.add(Item("Python", "old", f"{version} ({sys.executable}); sgcourse needs "
                        f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer", True,
                        "install Python 3.11 and create a fresh virtual environment with it"))
    else:
        report.add(Item("Python", "ok", f"{version} ({sys.executable})"))


def check_sgcourse(report: Report) -> None:
    try:
        from sgcourse._version import __version__
    except Exception as error:  # pragma: no cover - we are running from inside sgcourse
        report.add(Item("sgcourse", "broken", str(error), True, _pip("-e", ".[lessons]")))
        return
    location = Path(__file__).resolve().parents[1]
    report.add(Item("sgcourse", "ok", f"{__version__} ({location})"))


def check_torch(report: Report, minimums: dict[str, str]) -> None:
    item, torch = check_package(report, name="torch", module="torch", distribution="torch",
                                minimums=minimums, fix=None)
    if item.status in ("missing", "old", "broken"):
        # A plain `pip install torch` from PyPI is a multi-GB CUDA build on Linux.
        flags = {"missing": "", "old": "--upgrade ", "broken": "--force-reinstall "}[item.status]
        requirement = f"torch>={minimums['torch']}" if "torch" in minimums else "torch"
        item.fix = (f"{_pip(requirement, extra=f'{flags}--index-url {CPU_TORCH_INDEX} ')}   "
                    f"(CPU build, enough for every lesson; with an NVIDIA GPU drop --index-url)")
    if torch is None:
        report.add(Item("CUDA", "info", "unknown (torch is not importable)", required=False))
        return
    cuda_build = getattr(torch.version, "cuda", None)
    hip_build = getattr(torch.version, "hip", None)
    if cuda_build:
        item.detail += f", CUDA {cuda_build} build"
    elif hip_build:
        item.detail += f", ROCm {hip_build} build"
    else:
        item.detail += ", CPU build"
    try:
        available = bool(torch.cuda.is_available())
        count = torch.cuda.device_count() if available else 0
        names = [torch.cuda.get_device_name(i) for i in range(count)]
    except Exception as error:  # a broken driver is reported, not fatal: the CPU still works
        report.add(Item("CUDA", "warn", f"torch.cuda failed: {error}; lessons run on the CPU",
                        required=False))
        return
    if available:
        report.add(Item("CUDA", "ok", f"available: {count} device(s): {', '.join(names)}",
                        required=False))
    else:
        report.add(Item("CUDA", "info", "no GPU visible: the lessons run on the CPU (that is "
                        "fine; every lesson is sized for a laptop CPU)", required=False))
        if cuda_build or hip_build:
            report.add(Item(
                "torch build", "warn",
                f"torch {item.detail.split(',')[0]} is a GPU build, but this machine has no "
                "usable GPU: it is a multi-GB download you do not need", required=False,
                fix=_pip("torch", extra=f"--force-reinstall --index-url {CPU_TORCH_INDEX} ")
                + "   (optional: frees several GB)"))


def labextension_dirs() -> list[Path]:
    """Every directory JupyterLab searches for prebuilt extensions, in its own order."""
    dirs: list[Path] = []
    try:
        from jupyter_core.paths import jupyter_path

        dirs.extend(Path(p) for p in jupyter_path("labextensions"))
    except Exception:
        pass
    fallback = Path(sys.prefix) / "share" / "jupyter" / "labextensions"
    if fallback not in dirs:
        dirs.append(fallback)
    return dirs


def find_widget_manager(dirs: Sequence[Path]) -> tuple[Path, str] | None:
    """``(directory, version)`` of the first ``@jupyter-widgets/jupyterlab-manager`` found."""
    for base in dirs:
        package = base / "@jupyter-widgets" / "jupyterlab-manager" / "package.json"
        if package.is_file():
            try:
                version = str(json.loads(package.read_text(encoding="utf-8"))["version"])
            except (OSError, ValueError, KeyError):
                version = "unknown"
            return package.parent, version
    return None


def check_widget_frontend(report: Report, ipywidgets: ModuleType | None,
                          dirs_provider: Callable[[], list[Path]] | None = None) -> None:
    """The JupyterLab front end of ipywidgets: without it sliders show as plain text."""
    dirs_provider = dirs_provider or labextension_dirs
    name = "ipywidgets in JupyterLab"
    fix = _pip("--force-reinstall", "jupyterlab_widgets>=3") + "   then restart JupyterLab"
    found = find_widget_manager(dirs_provider())
    if found is None:
        report.add(Item(name, "missing", "the @jupyter-widgets/jupyterlab-manager lab extension "
                        "is not installed: widgets would show as text such as 'VBox(...)'",
                        True, fix))
        return
    directory, version = found
    detail = f"@jupyter-widgets/jupyterlab-manager {version} ({directory})"
    if ipywidgets is not None:
        major = version_tuple(str(getattr(ipywidgets, "__version__", "0")))[:1]
        wanted = WIDGET_MANAGER_FOR_IPYWIDGETS.get(major[0]) if major else None
        have = version_tuple(version)[:1]
        if wanted is not None and have and have[0] != wanted:
            report.add(Item(name, "broken", f"{detail} does not match ipywidgets "
                            f"{ipywidgets.__version__} (needs {wanted}.x)", True,
                            _pip("--upgrade", "ipywidgets", "jupyterlab_widgets")
                            + "   then restart JupyterLab"))
            return
    report.add(Item(name, "ok", detail))


def check_kernel(report: Report) -> None:
    """The ``python3`` kernel the lessons ask for must run an interpreter that has sgcourse.

    A stale ``python3`` kernel spec (from another environment, in the user's Jupyter directory)
    is the classic cause of ``ModuleNotFoundError: No module named 'sgcourse'`` in a notebook.
    """
    name = "python3 kernel"
    fix = f"{shlex.quote(sys.executable)} -m ipykernel install --user   then restart JupyterLab"
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except Exception as error:
        report.add(Item(name, "missing", f"jupyter_client is not importable ({error})", True,
                        _pip("jupyterlab", "ipykernel")))
        return
    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        report.add(Item(name, "missing", "no 'python3' kernel is installed", True, fix))
        return
    except Exception as error:
        report.add(Item(name, "broken", f"the 'python3' kernel spec cannot be read: {error}",
                        True, fix))
        return
    program = spec.argv[0] if spec.argv else ""
    version = f"python{sys.version_info[0]}"
    # jupyter_client runs a spec whose program is "python", "python3" or "python3.X" with the
    # interpreter of the server itself.
    generic = {"python", version, f"{version}.{sys.version_info[1]}"}
    same = program in generic or (
        bool(program) and Path(program).resolve() == Path(sys.executable).resolve())
    if same:
        report.add(Item(name, "ok", f"runs this Python ({spec.resource_dir})"))
        return
    try:
        probe = subprocess.run([program, "-c", "import sgcourse"], capture_output=True,
                               text=True, timeout=120, check=False)
        works = probe.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        works = False
    if works:
        report.add(Item(name, "ok", f"runs {program}, which can import sgcourse"))
    else:
        report.add(Item(name, "broken", f"runs {program} (spec in {spec.resource_dir}), which "
                        "cannot import sgcourse: notebooks would fail with ModuleNotFoundError",
                        True, fix))


def check_triton(report: Report, minimums: dict[str, str], cuda_ok: bool) -> None:
    if not (sys.platform.startswith("linux") and os.uname().machine == "x86_64"):
        report.add(Item("Triton", "info", "not available on this platform (optional: only the "
                        "fused GPU kernels use it)", required=False))
        return
    item, triton = check_package(report, name="Triton", module="triton", distribution="triton",
                                 minimums=minimums, required=False,
                                 why="optional: fused GPU kernels only")
    if triton is not None and not cuda_ok:
        item.status = "info"
        item.detail += " (installed; unused without a CUDA GPU)"


def run_checks(dirs_provider: Callable[[], list[Path]] | None = None) -> Report:
    """Run every check and return the report (nothing is printed)."""
    report = Report()
    minimums = minimum_versions()
    check_python(report)
    check_sgcourse(report)
    check_torch(report, minimums)
    check_package(report, name="numpy", module="numpy", distribution="numpy", minimums=minimums)
    check_package(report, name="JupyterLab", module="jupyterlab", distribution="jupyterlab",
                  minimums=minimums)
    check_package(report, name="ipykernel", module="ipykernel", distribution="ipykernel",
                  minimums=minimums)
    check_kernel(report)
    _, ipywidgets = check_package(report, name="ipywidgets", module="ipywidgets",
                                  distribution="ipywidgets", minimums=minimums)
    check_widget_frontend(report, ipywidgets, dirs_provider)
    check_package(report, name="matplotlib", module="matplotlib", distribution="matplotlib",
                  minimums=minimums)
    check_package(report, name="scikit-learn", module="sklearn", distribution="scikit-learn",
                  minimums=minimums)
    check_package(report, name="tqdm", module="tqdm", distribution="tqdm", minimums=minimums)
    check_package(report, name="nbval", module="nbval", distribution="nbval", minimums=minimums,
                  required=False, why="optional: only the test suite uses it")
    check_package(report, name="nbgrader", module="nbgrader", distribution="nbgrader",
                  minimums=minimums, required=False, fix=_pip("-e", ".[classroom]"),
                  why="optional: only classroom grading uses it")
    cuda_ok = any(i.name == "CUDA" and i.status == "ok" for i in report.items)
    check_triton(report, minimums, cuda_ok)
    return report


MARKS = {"ok": "ok", "missing": "MISSING", "old": "TOO OLD", "broken": "BROKEN",
         "warn": "warning", "info": "-"}


def format_report(report: Report) -> str:
    lines = ["sgcourse check: is this environment ready for the lessons?", ""]
    width = max(len(item.name) for item in report.items)
    for item in report.items:
        mark = MARKS.get(item.status, item.status)
        if item.status in ("missing", "old", "broken") and not item.required:
            mark = "optional"
        lines.append(f"  {mark:<8} {item.name:<{width}}  {item.detail}")
    todo = [item for item in report.items if item.fix and (item.problem or item.status
                                                           in ("warn", "missing", "broken"))]
    if todo:
        lines += ["", "What to do:"]
        for item in todo:
            tag = "" if item.problem else " (optional)"
            lines.append(f"  - {item.name}{tag}: {item.fix}")
    lines.append("")
    if report.ready:
        lines.append("Ready: everything the lessons need is installed. Start with: "
                     "python -m sgcourse lab")
    else:
        count = sum(item.problem for item in report.items)
        lines.append(f"NOT ready: {count} problem(s) above. Run the commands under 'What to do', "
                     "then run `python -m sgcourse check` again.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Print the report; return 0 when the lessons can run, 1 otherwise."""
    del argv  # no options yet
    stream = out or sys.stdout
    report = run_checks()
    print(format_report(report), file=stream)
    return 0 if report.ready else 1
