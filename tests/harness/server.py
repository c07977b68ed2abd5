"""A ComfyUI server in a subprocess on 127.0.0.1 (a free port), with the pack installed.

ComfyUI re-lists model folders on every request (``folder_paths.get_filename_list`` compares
folder mtimes), so a checkpoint written while the server runs is visible to the next
``object_info`` / prompt without a restart; :meth:`ComfyHost.restart` exists for everything else
(e.g. after changing the pack's Python code).
"""
from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable, Mapping, Optional

import requests

from tests.harness.base_dir import PACK_LINK_NAME, BaseDirectory
from tests.harness.client import ComfyClient, ComfyHostError, poll_until
from tests.harness.hosts import REPO_ROOT, HostSpec, find_comfyui_dir

PORT_ATTEMPTS = 3  # a free port can be taken between probing and binding


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ComfyHost(BaseDirectory, ComfyClient):
    """A ComfyUI server in a subprocess, with the pack linked in under ``PACK_LINK_NAME``; its
    files (:class:`BaseDirectory`) and its API (:class:`ComfyClient`) in one object.

    Use as a context manager or call :meth:`start` / :meth:`stop`. ``extra_args`` go to main.py;
    ``$PTDIT_COMFY_ARGS`` (space-separated) is appended too, and ``$PTDIT_COMFY_GPU=1`` drops
    ``--cpu``. ``extra_custom_nodes`` maps link name -> directory of further (test-only) node packs.
    """

    def __init__(self, comfy_dir: Optional[os.PathLike] = None, *,
                 pack_dir: os.PathLike = REPO_ROOT, pack_name: str = PACK_LINK_NAME,
                 base_dir: Optional[os.PathLike] = None, python: Optional[str] = None,
                 extra_args: Iterable[str] = (), extra_custom_nodes: Mapping[str, os.PathLike] = {},
                 cpu: Optional[bool] = None, disable_api_nodes: bool = True,
                 startup_timeout: float = 300.0):
        found = Path(comfy_dir).resolve() if comfy_dir else find_comfyui_dir()
        if found is None:
            raise ComfyHostError("no ComfyUI found: set COMFYUI_PATH or run scripts/setup_comfyui.sh "
                                 f"(looked for {REPO_ROOT / '.comfyui'})")
        self.comfy_dir = found
        self.python = python or os.environ.get("PTDIT_COMFY_PYTHON") or sys.executable
        self.cpu = os.environ.get("PTDIT_COMFY_GPU", "0") != "1" if cpu is None else cpu
        self.disable_api_nodes = disable_api_nodes
        self.extra_args = list(extra_args) + os.environ.get("PTDIT_COMFY_ARGS", "").split()
        self.startup_timeout = startup_timeout
        self.spec: Optional[HostSpec] = None  # set by from_spec
        self.port: Optional[int] = None
        self.proc: Optional[subprocess.Popen] = None
        self.startup_seconds: Optional[float] = None
        self._log_file = None
        self._log_offset = 0
        BaseDirectory.__init__(self, base_dir, {pack_name: pack_dir, **extra_custom_nodes})
        ComfyClient.__init__(self)
        atexit.register(self.stop)

    @classmethod
    def from_spec(cls, spec: HostSpec, **kw) -> "ComfyHost":
        """A host for one :class:`HostSpec` (its checkout, interpreter and frontend)."""
        extra = list(spec.server_args) + list(kw.pop("extra_args", ()))
        host = cls(spec.comfy_dir, python=spec.python, extra_args=extra, **kw)
        host.spec = spec
        return host

    # ------------------------------------------------------------------ process
    def command(self) -> list:
        cmd = [self.python, "main.py", "--listen", "127.0.0.1", "--port", str(self.port),
               "--base-directory", str(self.base_dir), "--database-url", f"sqlite:///{self.database_path}",
               "--disable-auto-launch"]
        if self.cpu:
            cmd.append("--cpu")
        if self.disable_api_nodes:
            cmd.append("--disable-api-nodes")
        return cmd + self.extra_args

    def start(self) -> "ComfyHost":
        if self.running:
            return self
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            try:
                self._spawn_and_wait()
                break
            except ComfyHostError:
                self._kill()
                if attempt == PORT_ATTEMPTS or "address already in use" not in self.current_log().lower():
                    raise
        return self

    def _spawn_and_wait(self) -> None:
        env = dict(os.environ)
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
        env.setdefault("DO_NOT_TRACK", "1")
        env["PYTHONUNBUFFERED"] = "1"
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(f"\n===== {' '.join(self.command())}\n".encode())
        self._log_file.flush()
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.command(), cwd=self.comfy_dir, env=env,
                                     stdout=self._log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        if not poll_until(self._answers, self.startup_timeout, 0.5):
            raise ComfyHostError(f"ComfyUI did not answer on {self.url} within "
                                 f"{self.startup_timeout:.0f} s\n" + self.log_tail())
        self.startup_seconds = time.monotonic() - t0
        self.connect_events()

    def _answers(self) -> bool:
        """Whether ``/system_stats`` answers; :class:`ComfyHostError` if the process has exited."""
        if self.proc.poll() is not None:
            raise ComfyHostError(f"ComfyUI exited with code {self.proc.returncode} while starting\n"
                                 + self.log_tail())
        try:
            return self._http.get(self.url + "/system_stats", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        if not self.running:
            raise ComfyHostError("ComfyUI is not running\n" + self.log_tail())

    def _kill(self) -> None:
        self.disconnect_events()
        if self.proc is not None and self.proc.poll() is None:
            try:  # the server runs in its own session: end its whole process group, by id
                os.killpg(self.proc.pid, signal.SIGINT)
                self.proc.wait(timeout=15)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=15)
        self.proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def stop(self, remove_base: bool = True) -> None:
        """Stop the server; remove the base directory if this host created it."""
        self._kill()
        if remove_base:
            self.remove_base()

    def restart(self) -> "ComfyHost":
        """Stop and start again with the same base directory (models, outputs and log kept).
        Needed after changing the pack's code; not needed for new model files."""
        self._kill()
        self.prepare_base()
        return self.start()

    def __enter__(self) -> "ComfyHost":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ log
    def log_end(self) -> int:
        """The log's length in bytes now: an offset for ``log_text`` that skips what came before."""
        if self._log_file is not None:
            self._log_file.flush()
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_text(self, offset: int = 0) -> str:
        """The log from byte ``offset`` on."""
        if self._log_file is not None:
            self._log_file.flush()
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def log_tail(self, chars: int = 6000) -> str:
        text = self.log_text()
        return f"----- {self.log_path} (last {chars} chars) -----\n{text[-chars:]}"

    def current_log(self) -> str:
        """The log of the current server process only (since the last (re)start)."""
        return self.log_text(self._log_offset)

    def diagnostics(self) -> str:
        return self.log_tail()
