"""ComfyUI's HTTP API as the frontend uses it: ``/object_info``, ``/prompt``, ``/history``,
``/queue``, ``/interrupt``, ``/free``, ``/models``, ``/view``, plus the websocket events."""
from __future__ import annotations

import time
import uuid
from typing import Any, Callable, Mapping, Optional

import requests

from tests.harness.events import EventListener
from tests.harness.results import PromptRejected, Result, Submission


class ComfyHostError(RuntimeError):
    """The server could not be started, died, or did not answer in time (message has the log tail)."""


def poll_until(check: Callable[[], Any], timeout: float, interval: float) -> Any:
    """Call ``check`` every ``interval`` s until it returns something truthy (returned) or
    ``timeout`` s have passed (None)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


class ComfyClient:
    """A client of the ComfyUI server at ``url`` with its own ``client_id`` (the id its websocket
    messages are sent to). Subclasses say whether the server still runs (:meth:`check_alive`) and
    what to add to error messages (:meth:`diagnostics`)."""

    def __init__(self, url: str = ""):
        self.url = url
        self.client_id = uuid.uuid4().hex
        self._http = requests.Session()
        self._events: Optional[EventListener] = None

    def check_alive(self) -> None:
        """Raise :class:`ComfyHostError` when the server is known to be gone."""

    def diagnostics(self) -> str:
        """Text appended to timeout errors (a host gives its log tail)."""
        return ""

    # ------------------------------------------------------------------ websocket
    def connect_events(self, timeout: float = 10.0) -> None:
        self.disconnect_events()
        self._events = EventListener(self.url, self.client_id)
        self._events.wait_connected(timeout)

    def disconnect_events(self) -> None:
        if self._events is not None:
            self._events.stop()
            self._events = None

    def events(self, prompt_id: Optional[str] = None, type: Optional[str] = None) -> list:
        """Websocket messages received so far (``{"type", "data"}``), optionally filtered by
        ``data.prompt_id`` and message type (``progress``, ``executing``, ``executed``...)."""
        return self._events.select(prompt_id, type) if self._events else []

    # ------------------------------------------------------------------ HTTP
    def get(self, path: str, **kw) -> requests.Response:
        self.check_alive()
        return self._http.get(self.url + path, timeout=kw.pop("timeout", 60), **kw)

    def post(self, path: str, payload: Any = None, **kw) -> requests.Response:
        self.check_alive()
        return self._http.post(self.url + path, json=payload if payload is not None else {},
                               timeout=kw.pop("timeout", 60), **kw)

    def get_json(self, path: str, **kw) -> Any:
        """``GET path``, raising for an HTTP error, decoded."""
        r = self.get(path, **kw)
        r.raise_for_status()
        return r.json()

    def object_info(self, node_class: Optional[str] = None) -> dict:
        """All node definitions (or one: ``{}`` when unknown)."""
        data = self.get_json("/object_info" + (f"/{node_class}" if node_class else ""), timeout=120)
        return data.get(node_class, {}) if node_class else data

    def system_stats(self) -> dict:
        return self.get_json("/system_stats")

    def models(self, folder: str) -> list:
        """File names ComfyUI lists for a model folder (``GET /models/<folder>``)."""
        return self.get_json(f"/models/{folder}")

    def queue(self) -> dict:
        return self.get_json("/queue")

    def history(self, prompt_id: str) -> Optional[dict]:
        return self.get_json(f"/history/{prompt_id}").get(prompt_id)

    def view(self, item: Mapping[str, str]) -> bytes:
        """Download one output through ``GET /view`` (as the frontend does)."""
        r = self.get("/view", params={"filename": item["filename"], "subfolder": item.get("subfolder", ""),
                                      "type": item.get("type", "output")})
        r.raise_for_status()
        return r.content

    # ------------------------------------------------------------------ prompts
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
        return Submission(True, data["prompt_id"], {}, data.get("node_errors") or {}, data.get("number"))

    def queue_prompt(self, prompt: Mapping[str, Any], **kw) -> str:
        """Queue a prompt (API format) and return its id; :class:`PromptRejected` on a 400."""
        s = self.submit(prompt, **kw)
        if not s.ok:
            raise PromptRejected(s.error, s.node_errors)
        return s.prompt_id

    def wait(self, prompt_id: str, timeout: float = 120.0, poll: float = 0.2) -> Result:
        """Block until the prompt is in the history (finished, failed or interrupted)."""
        def finished():
            entry = self.history(prompt_id)
            return entry if entry is not None and entry.get("status") is not None else None

        entry = poll_until(finished, timeout, poll)
        if entry is None:
            raise ComfyHostError(f"prompt {prompt_id} not finished after {timeout:.0f} s; "
                                 f"queue={self.queue()}\n" + self.diagnostics())
        return Result.from_history(prompt_id, entry)

    def run(self, prompt: Mapping[str, Any], timeout: float = 120.0, check: bool = True) -> Result:
        """Queue, wait, and (with ``check``) raise AssertionError with the traceback on failure."""
        result = self.wait(self.queue_prompt(prompt), timeout)
        if check and not result.ok:
            raise AssertionError(result.describe())
        return result

    def wait_running(self, prompt_id: str, timeout: float = 60.0) -> None:
        """Block until the prompt is the one executing (e.g. before :meth:`interrupt`)."""
        def started():
            running = any(item[1] == prompt_id for item in self.queue()["queue_running"])
            return running or self.history(prompt_id) is not None

        if not poll_until(started, timeout, 0.1):
            raise ComfyHostError(f"prompt {prompt_id} did not start within {timeout:.0f} s")

    def interrupt(self, prompt_id: Optional[str] = None) -> None:
        """``POST /interrupt`` (only that prompt when given and running, else whatever runs)."""
        self.post("/interrupt", {"prompt_id": prompt_id} if prompt_id else {}).raise_for_status()

    def free(self, unload_models: bool = True, free_memory: bool = True) -> None:
        """Ask ComfyUI to unload models / drop its caches before the next prompt."""
        self.post("/free", {"unload_models": unload_models, "free_memory": free_memory}).raise_for_status()
