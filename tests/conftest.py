"""Shared pytest configuration of the test suite.

The ``triton`` marker: a test that needs the optional Triton package. It is skipped only when
Triton is not installed at all (``importlib.util.find_spec('triton')`` is None). Where Triton is
installed (CI installs it with the ``test`` extra), ``import triton`` runs before the test, so a
broken install or toolchain fails the run instead of silently skipping the Triton tests.

Time limits (pytest-timeout, configured in pyproject.toml): every test gets ``timeout`` seconds;
a test marked ``browser`` (one JupyterLab and Chromium session that runs every lesson with a
slider, each under its own deadline) gets :data:`BROWSER_TIMEOUT_S` unless it sets its own
``@pytest.mark.timeout``.
"""

from __future__ import annotations

import importlib
import importlib.util

import pytest

TRITON_MISSING_REASON = "the optional 'triton' package is not installed"
BROWSER_TIMEOUT_S = 1200


def triton_installed() -> bool:
    """Whether a ``triton`` package is installed (importable or not)."""
    return importlib.util.find_spec("triton") is not None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "triton: needs the optional Triton package; skipped only when it is not "
                   "installed, a failing `import triton` fails the test")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("triton") is None:
        return
    if not triton_installed():
        pytest.skip(TRITON_MISSING_REASON)
    importlib.import_module("triton")  # installed: an ImportError here is a failure


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("browser") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(BROWSER_TIMEOUT_S))
