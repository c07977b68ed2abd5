"""What ComfyUI's HTTP API answers: a queued or refused prompt (:class:`Submission`,
:class:`PromptRejected`) and a finished one (:class:`Result`, from ``/history/<id>``)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional


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

    @classmethod
    def from_history(cls, prompt_id: str, entry: Mapping[str, Any]) -> "Result":
        """The result a ``/history/<id>`` entry describes (one that has a ``status``)."""
        status = entry["status"]
        return cls(prompt_id, status.get("status_str"), bool(status.get("completed")), entry.get("outputs") or {},
                   [tuple(m) for m in status.get("messages") or []], dict(entry))

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
