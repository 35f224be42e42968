"""Start and stop a real JupyterLab server for browser tests, leaving nothing behind.

The server runs on 127.0.0.1 on a free port with no token or password, in a temporary Jupyter
home (runtime, settings, workspaces and checkpoint directories) whose settings turn autosave
off (the notebooks under test are never written), render every notebook cell
(``windowingMode: none``), and silence the news and update toasts. ``window.jupyterapp`` is
exposed so that tests can run JupyterLab commands.

On exit the server gets SIGTERM (it shuts its kernels down), then every process it started that
is still alive is killed by PID, and :class:`JupyterLabServer` asserts that none is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO

import psutil

__all__ = ["JUPYTERLAB_SETTINGS", "JupyterLabServer", "ServerError", "free_port"]

#: Settings written into the temporary ``JUPYTERLAB_SETTINGS_DIR`` (plugin id -> settings).
JUPYTERLAB_SETTINGS: dict[str, dict[str, object]] = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


class ServerError(RuntimeError):
    """The JupyterLab server did not start, or did not stop cleanly."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_settings(settings_dir: Path, settings: dict[str, dict[str, object]]) -> None:
    """Write ``settings`` as ``<plugin id>.jupyterlab-settings`` files under ``settings_dir``."""
    for plugin, values in settings.items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2), encoding="utf-8")


class JupyterLabServer:
    """A JupyterLab server rooted at ``root_dir``, as a context manager.

    >>> with JupyterLabServer(repo_root) as lab:          # doctest: +SKIP
    ...     page.goto(lab.notebook_url("lessons/02_surrogate_gradients.ipynb"))

    ``startup_timeout`` is generous because CI machines can be loaded; the log of the server is
    kept in ``log_path`` and quoted in every error.
    """

    def __init__(
        self,
        root_dir: Path,
        *,
        startup_timeout: float = 90.0,
        python: str = sys.executable,
        extra_env: dict[str, str] | None = None,
        trusted: tuple[str, ...] = (),
    ) -> None:
        self.root_dir = Path(root_dir).resolve()
        self.startup_timeout = startup_timeout
        self.python = python
        self.extra_env = dict(extra_env or {})
        #: Notebooks (relative to root_dir) to sign as trusted in the server's private data dir.
        self.trusted = tuple(trusted)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._log_file: IO[bytes] | None = None
        self.log_path: Path | None = None
        self.started_pids: set[int] = set()
        self.kernel_ids_seen: set[str] = set()
        #: PIDs that had to be killed because they outlived the server's SIGTERM.
        self.killed_after_sigterm: list[int] = []

    # -- URLs ---------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lab_url(self) -> str:
        """The URL of JupyterLab with a fresh (reset) workspace."""
        return f"{self.base_url}/lab?reset"

    def notebook_url(self, relative_path: str) -> str:
        """The URL that opens ``relative_path`` (relative to ``root_dir``) in a fresh workspace."""
        return f"{self.base_url}/lab/tree/{relative_path}?reset"

    def api(self, path: str, timeout: float = 5.0) -> object:
        """GET ``/api/<path>`` and return the decoded JSON."""
        with urllib.request.urlopen(f"{self.base_url}/api/{path}", timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))

    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no server log)"
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    # -- life cycle ---------------------------------------------------------------------------
    def __enter__(self) -> JupyterLabServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Do not mask the test's own failure with a cleanup failure: report both.
        try:
            self.stop()
        except ServerError:
            if exc is None:
                raise

    def start(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="sgcourse-lab-")
        home = Path(self._tmp.name)
        settings_dir = home / "settings"
        write_settings(settings_dir, JUPYTERLAB_SETTINGS)
        (home / "workspaces").mkdir()
        (home / "runtime").mkdir()
        (home / "config").mkdir()
        (home / "data").mkdir()
        (home / "checkpoints").mkdir()
        if self.trusted:
            self._sign(home / "data")
        env = dict(os.environ)
        env.update(
            JUPYTER_RUNTIME_DIR=str(home / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(settings_dir),
            JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
            # No user-level config or extensions may change what the test sees.
            JUPYTER_CONFIG_DIR=str(home / "config"),
            JUPYTER_DATA_DIR=str(home / "data"),
            JUPYTER_PLATFORM_DIRS="1",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        self.port = free_port()
        command = [
            self.python, "-m", "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--port-retries=0",
            "--ServerApp.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={self.root_dir}",
            # JupyterLab checkpoints every notebook it opens: keep them out of the repository.
            f"--FileCheckpoints.root_dir={home / 'checkpoints'}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=None",
            "--ServerApp.open_browser=False",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")
        self.log_path = home / "server.log"
        log_file = open(self.log_path, "wb")  # closed in stop()
        self._log_file = log_file
        self.process = subprocess.Popen(
            command,
            cwd=self.root_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started_pids.add(self.process.pid)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _sign(self, data_dir: Path) -> None:
        """Mark ``self.trusted`` as trusted for this server only (its signature database)."""
        import nbformat
        from nbformat.sign import NotebookNotary

        notary = NotebookNotary(data_dir=str(data_dir))
        for relative in self.trusted:
            notary.sign(nbformat.read(str(self.root_dir / relative), as_version=4))
        notary.store.close()

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        last_error = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"JupyterLab exited with code {self.process.returncode} before it was ready."
                    f"\n--- server log ---\n{self.log_text()}"
                )
            try:
                status = self.api("status", timeout=2.0)
                if isinstance(status, dict) and "started" in status:
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as error:
                last_error = repr(error)
            time.sleep(0.25)
        raise ServerError(
            f"JupyterLab did not answer /api/status within {self.startup_timeout:.0f} s "
            f"(last error: {last_error}).\n--- server log ---\n{self.log_text()}"
        )

    def descendants(self) -> list[psutil.Process]:
        """Live processes started by the server (kernels and their children)."""
        if self.process is None:
            return []
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def remember_processes(self) -> None:
        """Record the PIDs of the server's descendants and the ids of its kernels.

        Called before stopping (and may be called by tests at any time), so that processes that
        outlive the server can still be found by PID.
        """
        for proc in self.descendants():
            self.started_pids.add(proc.pid)
        # Kernels name their connection file, which lies in our private runtime directory: this
        # finds them even if they were re-parented.
        if self._tmp is not None:
            runtime = str(Path(self._tmp.name) / "runtime")
            for proc in psutil.process_iter(["cmdline"]):
                with contextlib.suppress(psutil.Error):
                    if any(runtime in part for part in proc.info["cmdline"] or ()):
                        self.started_pids.add(proc.pid)
        try:
            kernels = self.api("kernels")
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, ValueError):
            return
        if isinstance(kernels, list):
            self.kernel_ids_seen.update(str(k.get("id")) for k in kernels if isinstance(k, dict))

    def alive(self) -> list[psutil.Process]:
        """The processes recorded in :attr:`started_pids` that are still running."""
        alive = []
        for pid in sorted(self.started_pids):
            try:
                proc = psutil.Process(pid)
                if proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
            except psutil.NoSuchProcess:
                continue
        return alive

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM the server, kill what is left by PID, and check that nothing is running."""
        if self.process is None:
            self._cleanup_tmp()
            return
        self.remember_processes()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        leftovers = [p for p in self.alive() if p.pid != self.process.pid]
        for proc in leftovers:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(leftovers, timeout=10)
        still_alive = self.alive()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        killed = [p.pid for p in leftovers]
        self.process = None
        if still_alive:
            raise ServerError(
                "processes started by the JupyterLab server are still running after stop(): "
                + ", ".join(f"{p.pid} {p.name()}" for p in still_alive)
            )
        self.killed_after_sigterm = killed
        self._cleanup_tmp()

    def _cleanup_tmp(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
