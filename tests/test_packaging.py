"""Packaging: pyproject.toml and environment.yml agree; version, py.typed, CI entry point."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import sys
from pathlib import Path

import pytest
import torch
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

import sgcourse

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the tomli backport (needs "tomli; python_version < '3.11'" in the test extra)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
ENVIRONMENT = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
PROJECT = canonicalize_name(PYPROJECT["project"]["name"])
# conda-forge name -> PyPI name, where they differ
CONDA_TO_PIP = {"pytorch-cpu": "torch", "matplotlib-base": "matplotlib"}
# conda entries that are the environment itself, not project dependencies
CONDA_ONLY = {"python", "pip"}
ENV_EXTRAS = ("lessons", "classroom", "test", "dev")  # what the conda environment installs


def _expand(requirements: list[str], extras: dict[str, list[str]],
            seen: frozenset[str] = frozenset()) -> list[Requirement]:
    """Requirements with self-references such as ``sgcourse[lessons]`` replaced by the extras."""
    out: list[Requirement] = []
    for line in requirements:
        req = Requirement(line)
        if canonicalize_name(req.name) != PROJECT:
            out.append(req)
            continue
        for extra in sorted(req.extras):
            assert extra in extras, f"{line!r} refers to an unknown extra {extra!r}"
            assert extra not in seen, f"extra {extra!r} refers to itself"
            out += _expand(extras[extra], extras, seen | {extra})
    return out


def _pyproject_requirements() -> dict[str, tuple[SpecifierSet, str]]:
    extras = PYPROJECT["project"]["optional-dependencies"]
    lines = list(PYPROJECT["project"]["dependencies"])
    for extra in ENV_EXTRAS:
        lines.append(f"{PYPROJECT['project']['name']}[{extra}]")
    result: dict[str, tuple[SpecifierSet, str]] = {}
    for req in _expand(lines, extras):
        key = canonicalize_name(req.name)
        value = (req.specifier, str(req.marker or ""))
        assert result.get(key, value) == value, f"{key} is declared twice, differently"
        result[key] = value
    return result


_CONDA_SPEC = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)\s*(?P<spec>[<>=!~,.\w\s*]*)$")


def _environment_entries() -> tuple[list[str], list[str]]:
    conda: list[str] = []
    pip: list[str] = []
    for item in ENVIRONMENT["dependencies"]:
        if isinstance(item, dict):
            assert set(item) == {"pip"}, item
            pip += item["pip"]
        else:
            conda.append(item)
    return conda, pip


def _environment_requirements() -> dict[str, tuple[SpecifierSet, str]]:
    conda, pip = _environment_entries()
    result: dict[str, tuple[SpecifierSet, str]] = {}
    for item in conda:
        match = _CONDA_SPEC.match(item)
        assert match, f"cannot parse conda spec {item!r}"
        name = match["name"]
        if name in CONDA_ONLY:
            continue
        key = canonicalize_name(CONDA_TO_PIP.get(name, name))
        assert key not in result, f"{key} listed twice in environment.yml"
        result[key] = (SpecifierSet(match["spec"].replace(" ", "")), "")
    for line in pip:
        if line.startswith("-e"):
            continue
        req = Requirement(line)
        key = canonicalize_name(req.name)
        assert key not in result, f"{key} listed twice in environment.yml"
        result[key] = (req.specifier, str(req.marker or ""))
    return result


# --------------------------------------------------------------------------- environment.yml


def test_environment_uses_conda_forge_only() -> None:
    assert ENVIRONMENT["name"] == "sgcourse"
    channels = ENVIRONMENT["channels"]
    assert channels[0] == "conda-forge"
    assert "defaults" not in channels


def test_environment_matches_pyproject_dependencies() -> None:
    ours = _pyproject_requirements()
    theirs = _environment_requirements()
    assert sorted(theirs) == sorted(ours), "dependency names drifted"
    for name, (specifier, marker) in ours.items():
        conda_specifier, conda_marker = theirs[name]
        assert conda_specifier == specifier, f"{name}: {conda_specifier} vs pyproject {specifier}"
        assert conda_marker == marker, f"{name}: marker {conda_marker!r} vs pyproject {marker!r}"


def test_environment_python_matches_requires_python() -> None:
    conda, _ = _environment_entries()
    python = [c for c in conda if re.match(r"python\b", c) and not c.startswith("python-")]
    assert len(python) == 1
    spec = SpecifierSet(python[0].removeprefix("python").strip())
    assert spec == SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert "pip" in conda  # the pip section needs conda's pip


def test_environment_installs_the_project_last_in_editable_mode() -> None:
    _, pip = _environment_entries()
    assert pip[-1] == "-e ."
    assert isinstance(ENVIRONMENT["dependencies"][-1], dict)  # the pip section ends the file


def test_drift_is_detected() -> None:
    """The comparison itself can fail: a changed bound or a missing package is noticed."""
    ours = _pyproject_requirements()
    theirs = dict(_environment_requirements())
    theirs["torch"] = (SpecifierSet(">=2.4,<2.16"), "")
    assert theirs != ours
    del theirs["torch"]
    assert sorted(theirs) != sorted(ours)
    assert "torch" in ours and "pytest" in ours and "ruff" in ours and "jupyterlab" in ours


# --------------------------------------------------------------------------- pyproject


def test_version_lives_in_one_place() -> None:
    assert "version" in PYPROJECT["project"]["dynamic"]
    assert "version" not in PYPROJECT["project"]
    attr = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    module_name, _, name = attr.rpartition(".")
    assert getattr(importlib.import_module(module_name), name) == sgcourse.__version__
    assert sgcourse.__version__ == importlib.metadata.version("sgcourse")
    assignments = [path for path in (ROOT / "sgcourse").rglob("*.py")
                   if re.search(r"^__version__\s*=", path.read_text(encoding="utf-8"), re.M)]
    assert [p.relative_to(ROOT).as_posix() for p in assignments] == ["sgcourse/_version.py"]


def test_py_typed_is_shipped() -> None:
    assert (ROOT / "sgcourse" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["sgcourse"]


def test_torch_range_admits_the_pinned_cpu_build() -> None:
    torch_req = next(Requirement(r) for r in PYPROJECT["project"]["dependencies"]
                     if canonicalize_name(Requirement(r).name) == "torch")
    assert torch_req.specifier.contains("2.13.0")
    assert torch_req.specifier.contains("2.13.0+cpu")
    assert torch_req.specifier.contains(torch.__version__)  # the torch this suite runs on
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for pinned in re.findall(r"torch==([\w.+]+)", ci):
        assert torch_req.specifier.contains(pinned), f".ci/run pins torch {pinned}"


@pytest.mark.parametrize("script", sorted(PYPROJECT["project"].get("scripts", {})))
def test_console_scripts_resolve(script: str) -> None:
    target = PYPROJECT["project"]["scripts"][script]
    module_name, _, attr = target.partition(":")
    assert callable(getattr(importlib.import_module(module_name), attr))


# --------------------------------------------------------------------------- CI entry point


def test_ci_entry_point_runs_pytest() -> None:
    ci = ROOT / ".ci" / "run"
    assert ci.is_file()
    assert os.access(ci, os.X_OK), ".ci/run must be executable"
    text = ci.read_text(encoding="utf-8")
    assert text.startswith("#!")
    assert re.search(r"^[^#\n]*\bpytest\b", text, re.M), ".ci/run never calls pytest"


def test_import_is_light_and_submodules_load_on_first_use() -> None:
    """``import sgcourse`` must not import torch (``sgcourse check`` runs without it)."""
    import subprocess
    import sys

    code = ("import sys, sgcourse; assert 'torch' not in sys.modules; "
            "m = sgcourse.surrogate; assert 'torch' in sys.modules; print(m.__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "sgcourse.surrogate"
