"""The websocket of a ComfyUI server: its JSON messages (``progress``, ``executing``, ...) for one
client id, collected in a background thread."""
from __future__ import annotations

import asyncio
import json
import threading
from typing import Optional


class EventListener:
    """Connects to ``<url>/ws?clientId=<client_id>`` and keeps every JSON message, reconnecting
    when the server restarts; binary frames (previews) are only counted."""

    def __init__(self, url: str, client_id: str):
        self.url, self.client_id = url, client_id
        self.messages: list = []
        self.binary_frames = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._listen()), daemon=True, name="comfy-ws")
        self._thread.start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    async def _listen(self) -> None:
        import aiohttp  # a ComfyUI requirement, so present in the venv that runs the server

        ws_url = self.url.replace("http://", "ws://") + f"/ws?clientId={self.client_id}"
        closing = (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE)
        while not self._stop.is_set():
            try:
                async with aiohttp.ClientSession() as session, session.ws_connect(ws_url, heartbeat=20) as ws:
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
                        elif msg.type in closing:
                            break
            except Exception:
                pass
            self._connected.clear()
            if not self._stop.is_set():
                await asyncio.sleep(0.5)

    def select(self, prompt_id: Optional[str] = None, type: Optional[str] = None) -> list:
        """The messages so far (``{"type", "data"}``), optionally only those whose ``data.prompt_id``
        and type (``progress``, ``executing``, ``executed``...) match."""
        with self._lock:
            msgs = list(self.messages)
        if prompt_id is not None:
            msgs = [m for m in msgs if isinstance(m.get("data"), dict) and m["data"].get("prompt_id") == prompt_id]
        if type is not None:
            msgs = [m for m in msgs if m.get("type") == type]
        return msgs

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
