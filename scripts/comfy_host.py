"""Run the pack inside a real ComfyUI server and talk to it over its HTTP/websocket API.

:class:`ComfyHost` never writes into the ComfyUI checkout it runs (``$COMFYUI_PATH`` or
``<repo>/.comfyui``). Everything mutable lives in a private *base directory* handed to ComfyUI with
``--base-directory``::

    <base>/custom_nodes/ComfyUI-PTDiT -> <repo>        (symlink, fixed name whatever the checkout is called)
    <base>/custom_nodes/<extra>       -> test-only node packs (see ``extra_custom_nodes``)
    <base>/models/<folder>/           tests write tiny checkpoints here (diffusion_models, vae, ...)
    <base>/input  <base>/output  <base>/temp  <base>/user  <base>/comfyui.db
    <base>/server.log                 stdout+stderr of the server (all restarts appended)

The user's ``custom_nodes`` are therefore *not* loaded; ComfyUI still reads an
``extra_model_paths.yaml`` sitting in its own directory, if the checkout has one.

ComfyUI re-lists model folders on every request (``folder_paths.get_filename_list`` compares
folder mtimes), so a checkpoint written while the server runs is visible to the next
``object_info`` / prompt without a restart; :meth:`ComfyHost.restart` exists for everything else
(e.g. after changing the pack's Python code).
"""
from __future__ import annotations

import asyncio
import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
PACK_LINK_NAME = "ComfyUI-PTDiT"


class ComfyHostError(RuntimeError):
    """The server could not be started, died, or did not answer in time (message has the log tail)."""


class PromptRejected(Exception):
    """``POST /prompt`` answered 400: validation failed before anything ran.

    ``error`` is ComfyUI's ``{"type", "message", "details", "extra_info"}``; ``node_errors`` maps
    node id -> ``{"errors": [{"type", "message", "details", "extra_info"}], "dependent_outputs",
    "class_type"}``.
    """

    def __init__(self, error: Mapping[str, Any], node_errors: Mapping[str, Any]):
        self.error = dict(error or {})
        self.node_errors = dict(node_errors or {})
        super().__init__(f"{self.error.get('type')}: {self.error.get('message')} "
                         f"{json.dumps(self.node_errors)[:2000]}")

    def error_types(self, node_id: Optional[str] = None) -> list:
        """Every ``errors[].type`` (for one node, or all nodes)."""
        ids = [node_id] if node_id is not None else list(self.node_errors)
        return [e.get("type") for i in ids for e in self.node_errors.get(i, {}).get("errors", [])]


@dataclass
class Submission:
    """What ``POST /prompt`` answered; ``ok`` is False for a 400 (nothing was queued)."""
    ok: bool
    prompt_id: Optional[str]
    error: dict = field(default_factory=dict)
    node_errors: dict = field(default_factory=dict)
    number: Optional[float] = None


@dataclass
class Result:
    """One finished prompt from ``/history/<id>``."""
    prompt_id: str
    status: str                   # "success" or "error" (interrupted prompts report "error")
    completed: bool
    outputs: dict                 # node id -> {"images": [{"filename","subfolder","type"}], ...}
    messages: list                # [(event, data)]: execution_start, execution_cached,
                                  # execution_success | execution_error | execution_interrupted
    raw: dict

    @property
    def ok(self) -> bool:
        return self.status == "success" and self.completed

    @property
    def interrupted(self) -> bool:
        return any(ev == "execution_interrupted" for ev, _ in self.messages)

    @property
    def error(self) -> Optional[dict]:
        """The ``execution_error`` payload: node_id, node_type, exception_type,
        exception_message, traceback (list of str), current_inputs... or None."""
        for ev, data in self.messages:
            if ev == "execution_error":
                return data
        return None

    def describe(self) -> str:
        e = self.error
        if e:
            tb = "".join(e.get("traceback") or [])
            return (f"prompt {self.prompt_id} failed in node {e.get('node_id')} ({e.get('node_type')}): "
                    f"{e.get('exception_type')}: {e.get('exception_message')}\n{tb}")
        return f"prompt {self.prompt_id}: status={self.status} completed={self.completed}"


@dataclass(frozen=True)
class HostSpec:
    """One ComfyUI configuration to run the pack in.

    ``label`` names it in test ids (``comfyui-0.33.0``); ``python`` runs its server;
    ``front_end_root`` (or None for the frontend the host ships) is passed as ``--front-end-root``;
    ``browser_only`` marks a second frontend on a backend that already has a spec of its own, on
    which only the browser tier runs.
    """
    label: str
    comfy_dir: Path
    python: str
    front_end_root: Optional[Path] = None
    browser_only: bool = False

    @property
    def server_args(self) -> list:
        return ["--front-end-root", str(self.front_end_root)] if self.front_end_root else []


HOSTS_MANIFEST = REPO_ROOT / ".hosts" / "hosts.json"


def host_specs() -> list:
    """The hosts to test on: ``$COMFYUI_PATH`` alone if set (run by ``$PTDIT_COMFY_PYTHON`` or this
    interpreter), else every configuration ``scripts/setup_comfyui.sh`` listed in ``.hosts/hosts.json``
    whose checkout and interpreter exist. Empty when nothing is prepared."""
    if os.environ.get("COMFYUI_PATH"):
        found = find_comfyui_dir()
        if found is None:
            return []
        version = comfyui_version(found)
        return [HostSpec(f"comfyui-{version}", found, os.environ.get("PTDIT_COMFY_PYTHON") or sys.executable)]
    if not HOSTS_MANIFEST.is_file():
        return []
    specs = []
    for row in json.loads(HOSTS_MANIFEST.read_text()):
        spec = HostSpec(row["label"], Path(row["comfy_dir"]), row["python"],
                        Path(row["front_end_root"]) if row.get("front_end_root") else None,
                        bool(row.get("browser_only")))
        if (spec.comfy_dir / "main.py").is_file() and Path(spec.python).is_file():
            specs.append(spec)
    return specs


def comfyui_version(comfy_dir: Path) -> str:
    """``__version__`` from a checkout's ``comfyui_version.py`` ("unknown" if it has none)."""
    text = (Path(comfy_dir) / "comfyui_version.py")
    found = re.search(r'__version__\s*=\s*"([^"]+)"', text.read_text()) if text.is_file() else None
    return found.group(1) if found else "unknown"


def find_comfyui_dir() -> Optional[Path]:
    """``$COMFYUI_PATH`` if set (must be valid), else ``<repo>/.comfyui`` if prepared, else None."""
    env = os.environ.get("COMFYUI_PATH")
    candidates = [Path(env).expanduser()] if env else [REPO_ROOT / ".comfyui"]
    for c in candidates:
        if (c / "main.py").is_file() and (c / "nodes.py").is_file() and (c / "comfy").is_dir():
            return c.resolve()
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _EventListener:
    """Collects the JSON websocket messages of one client id in a background thread."""

    def __init__(self, url: str, client_id: str):
        self.url, self.client_id = url, client_id
        self.messages: list = []
        self.binary_frames = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="comfy-ws")
        self._thread.start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        import aiohttp  # a ComfyUI requirement, so present in the venv that runs the server
        ws_url = self.url.replace("http://", "ws://") + f"/ws?clientId={self.client_id}"
        while not self._stop.is_set():
            try:
                async with aiohttp.ClientSession() as session:
                    async with session.ws_connect(ws_url, heartbeat=20) as ws:
                        self._connected.set()
                        while not self._stop.is_set():
                            try:
                                msg = await ws.receive(timeout=0.5)
                            except Exception:  # timeout: check the stop flag
                                continue
                            if msg.type == aiohttp.WSMsgType.TEXT:
                                with self._lock:
                                    self.messages.append(json.loads(msg.data))
                            elif msg.type == aiohttp.WSMsgType.BINARY:
                                self.binary_frames += 1
                            elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR,
                                              aiohttp.WSMsgType.CLOSE):
                                break
            except Exception:
                pass
            self._connected.clear()
            if not self._stop.is_set():
                await asyncio.sleep(0.5)

    def snapshot(self) -> list:
        with self._lock:
            return list(self.messages)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class ComfyHost:
    """A ComfyUI server in a subprocess, with the pack linked in under ``PACK_LINK_NAME``.

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
        self.pack_dir = Path(pack_dir).resolve()
        self.pack_name = pack_name
        self._own_base = base_dir is None
        self.base_dir = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix="ptdit-comfy-"))
        self.python = python or os.environ.get("PTDIT_COMFY_PYTHON") or sys.executable
        if cpu is None:
            cpu = os.environ.get("PTDIT_COMFY_GPU", "0") != "1"
        self.cpu = cpu
        self.disable_api_nodes = disable_api_nodes
        self.extra_args = list(extra_args) + os.environ.get("PTDIT_COMFY_ARGS", "").split()
        self.extra_custom_nodes = {k: Path(v).resolve() for k, v in extra_custom_nodes.items()}
        self.startup_timeout = startup_timeout
        self.spec: Optional[HostSpec] = None  # set by from_spec
        self.client_id = uuid.uuid4().hex
        self.port: Optional[int] = None
        self.proc: Optional[subprocess.Popen] = None
        self.startup_seconds: Optional[float] = None
        self._log_file = None
        self._events: Optional[_EventListener] = None
        self._http = requests.Session()
        self._prepare_base()
        atexit.register(self.stop)

    @classmethod
    def from_spec(cls, spec: HostSpec, **kw) -> "ComfyHost":
        """A host for one :class:`HostSpec` (its checkout, interpreter and frontend)."""
        extra = list(spec.server_args) + list(kw.pop("extra_args", ()))
        host = cls(spec.comfy_dir, python=spec.python, extra_args=extra, **kw)
        host.spec = spec
        return host

    # ------------------------------------------------------------------ layout
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def models_dir(self) -> Path:
        return self.base_dir / "models"

    @property
    def output_dir(self) -> Path:
        return self.base_dir / "output"

    @property
    def input_dir(self) -> Path:
        return self.base_dir / "input"

    @property
    def temp_dir(self) -> Path:
        return self.base_dir / "temp"

    @property
    def user_dir(self) -> Path:
        return self.base_dir / "user"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "server.log"

    def model_path(self, folder: str, name: str) -> Path:
        """Where to write a model file so that ComfyUI lists it under ``folder`` as ``name``
        (``folder`` is a models/ sub-folder such as ``diffusion_models``, ``vae``, ``text_encoders``)."""
        p = self.models_dir / folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def _prepare_base(self) -> None:
        for sub in ("custom_nodes", "models", "input", "output", "user", "temp"):
            (self.base_dir / sub).mkdir(parents=True, exist_ok=True)
        links = {self.pack_name: self.pack_dir, **self.extra_custom_nodes}
        for name, target in links.items():
            link = self.base_dir / "custom_nodes" / name
            if link.is_symlink() or link.exists():
                if link.is_symlink() and link.resolve() == target:
                    continue
                link.unlink() if link.is_symlink() else shutil.rmtree(link)
            link.symlink_to(target, target_is_directory=True)

    # ------------------------------------------------------------------ process
    def command(self) -> list:
        cmd = [self.python, "main.py", "--listen", "127.0.0.1", "--port", str(self.port),
               "--base-directory", str(self.base_dir),
               "--database-url", f"sqlite:///{self.base_dir / 'comfyui.db'}",
               "--disable-auto-launch"]
        if self.cpu:
            cmd.append("--cpu")
        if self.disable_api_nodes:
            cmd.append("--disable-api-nodes")
        return cmd + self.extra_args

    def start(self) -> "ComfyHost":
        if self.running:
            return self
        last_error = None
        for _attempt in range(3):  # a free port can be taken between probing and binding
            self.port = _free_port()
            try:
                self._spawn_and_wait()
                return self
            except ComfyHostError as e:
                last_error = e
                self._kill()
                if "address already in use" not in self.log_text(self._log_offset).lower():
                    raise
        raise last_error

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
        deadline = t0 + self.startup_timeout
        while True:
            if self.proc.poll() is not None:
                raise ComfyHostError(f"ComfyUI exited with code {self.proc.returncode} while starting\n"
                                     + self.log_tail())
            try:
                r = self._http.get(self.url + "/system_stats", timeout=5)
                if r.status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise ComfyHostError(f"ComfyUI did not answer on {self.url} within "
                                     f"{self.startup_timeout:.0f} s\n" + self.log_tail())
            time.sleep(0.5)
        self.startup_seconds = time.monotonic() - t0
        self._events = _EventListener(self.url, self.client_id)
        self._events.wait_connected(10)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _kill(self) -> None:
        if self._events is not None:
            self._events.stop()
            self._events = None
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
        if remove_base and self._own_base and self.base_dir.exists() and \
                os.environ.get("PTDIT_KEEP_COMFY_BASE") != "1":
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def restart(self) -> "ComfyHost":
        """Stop and start again with the same base directory (models, outputs and log kept).
        Needed after changing the pack's code; not needed for new model files."""
        self._kill()
        self._prepare_base()
        return self.start()

    def __enter__(self) -> "ComfyHost":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ log
    def log_text(self, offset: int = 0) -> str:
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
        return self.log_text(getattr(self, "_log_offset", 0))

    # ------------------------------------------------------------------ HTTP API
    def _check_alive(self) -> None:
        if not self.running:
            raise ComfyHostError("ComfyUI is not running\n" + self.log_tail())

    def get(self, path: str, **kw) -> requests.Response:
        self._check_alive()
        return self._http.get(self.url + path, timeout=kw.pop("timeout", 60), **kw)

    def post(self, path: str, payload: Any = None, **kw) -> requests.Response:
        self._check_alive()
        return self._http.post(self.url + path, json=payload if payload is not None else {},
                               timeout=kw.pop("timeout", 60), **kw)

    def object_info(self, node_class: Optional[str] = None) -> dict:
        """All node definitions (or one: ``{}`` when unknown)."""
        r = self.get("/object_info" + (f"/{node_class}" if node_class else ""), timeout=120)
        r.raise_for_status()
        data = r.json()
        return data.get(node_class, {}) if node_class else data

    def system_stats(self) -> dict:
        r = self.get("/system_stats")
        r.raise_for_status()
        return r.json()

    def models(self, folder: str) -> list:
        """File names ComfyUI lists for a model folder (``GET /models/<folder>``)."""
        r = self.get(f"/models/{folder}")
        r.raise_for_status()
        return r.json()

    def submit(self, prompt: Mapping[str, Any], extra_data: Optional[dict] = None,
               prompt_id: Optional[str] = None) -> Submission:
        """``POST /prompt``; never raises for a rejected prompt (``ok`` False, errors filled in)."""
        body: dict = {"prompt": prompt, "client_id": self.client_id}
        if extra_data:
            body["extra_data"] = extra_data
        if prompt_id:
            body["prompt_id"] = prompt_id
        r = self.post("/prompt", body)
        if r.status_code == 400:
            data = r.json()
            return Submission(False, None, data.get("error") or {}, data.get("node_errors") or {})
        r.raise_for_status()
        data = r.json()
        return Submission(True, data["prompt_id"], {}, data.get("node_errors") or {},
                          data.get("number"))

    def queue_prompt(self, prompt: Mapping[str, Any], **kw) -> str:
        """Queue a prompt (API format) and return its id; :class:`PromptRejected` on a 400."""
        s = self.submit(prompt, **kw)
        if not s.ok:
            raise PromptRejected(s.error, s.node_errors)
        return s.prompt_id

    def history(self, prompt_id: str) -> Optional[dict]:
        r = self.get(f"/history/{prompt_id}")
        r.raise_for_status()
        return r.json().get(prompt_id)

    def wait(self, prompt_id: str, timeout: float = 120.0, poll: float = 0.2) -> Result:
        """Block until the prompt is in the history (finished, failed or interrupted)."""
        deadline = time.monotonic() + timeout
        while True:
            entry = self.history(prompt_id)
            if entry is not None and entry.get("status") is not None:
                st = entry["status"]
                return Result(prompt_id, st.get("status_str"), bool(st.get("completed")),
                              entry.get("outputs") or {},
                              [tuple(m) for m in st.get("messages") or []], entry)
            if time.monotonic() > deadline:
                raise ComfyHostError(f"prompt {prompt_id} not finished after {timeout:.0f} s; "
                                     f"queue={self.queue()}\n" + self.log_tail())
            time.sleep(poll)

    def run(self, prompt: Mapping[str, Any], timeout: float = 120.0, check: bool = True) -> Result:
        """Queue, wait, and (with ``check``) raise AssertionError with the traceback on failure."""
        result = self.wait(self.queue_prompt(prompt), timeout)
        if check and not result.ok:
            raise AssertionError(result.describe())
        return result

    def queue(self) -> dict:
        r = self.get("/queue")
        r.raise_for_status()
        return r.json()

    def wait_running(self, prompt_id: str, timeout: float = 60.0) -> None:
        """Block until the prompt is the one executing (e.g. before :meth:`interrupt`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(item[1] == prompt_id for item in self.queue()["queue_running"]):
                return
            if self.history(prompt_id) is not None:
                return
            time.sleep(0.1)
        raise ComfyHostError(f"prompt {prompt_id} did not start within {timeout:.0f} s")

    def interrupt(self, prompt_id: Optional[str] = None) -> None:
        """``POST /interrupt`` (only that prompt when given and running, else whatever runs)."""
        self.post("/interrupt", {"prompt_id": prompt_id} if prompt_id else {}).raise_for_status()

    def free(self, unload_models: bool = True, free_memory: bool = True) -> None:
        """Ask ComfyUI to unload models / drop its caches before the next prompt."""
        self.post("/free", {"unload_models": unload_models,
                            "free_memory": free_memory}).raise_for_status()

    def events(self, prompt_id: Optional[str] = None, type: Optional[str] = None) -> list:
        """Websocket messages received so far (``{"type", "data"}``), optionally filtered by
        ``data.prompt_id`` and message type (``progress``, ``executing``, ``executed``...)."""
        msgs = self._events.snapshot() if self._events else []
        if prompt_id is not None:
            msgs = [m for m in msgs if isinstance(m.get("data"), dict)
                    and m["data"].get("prompt_id") == prompt_id]
        if type is not None:
            msgs = [m for m in msgs if m.get("type") == type]
        return msgs

    # ------------------------------------------------------------------ files
    def output_files(self, result: Result, node_id: Optional[str] = None,
                     kind: str = "images") -> list:
        """Paths of the files a finished prompt reported under ``outputs[node][kind]``."""
        roots = {"output": self.output_dir, "temp": self.temp_dir, "input": self.input_dir}
        files = []
        for nid, out in result.outputs.items():
            if node_id is not None and str(nid) != str(node_id):
                continue
            for item in out.get(kind, []) or []:
                if isinstance(item, dict) and "filename" in item:
                    root = roots.get(item.get("type", "output"), self.output_dir)
                    files.append(root / item.get("subfolder", "") / item["filename"])
        return files

    def view(self, item: Mapping[str, str]) -> bytes:
        """Download one output through ``GET /view`` (as the frontend does)."""
        r = self.get("/view", params={"filename": item["filename"], "subfolder": item.get("subfolder", ""),
                                      "type": item.get("type", "output")})
        r.raise_for_status()
        return r.content
