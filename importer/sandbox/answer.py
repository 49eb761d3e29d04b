"""What the sandbox answers to one request, and how the answer reaches the client (shared by
the core, which makes answers, and the transport and server, which deliver them)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Action(Enum):
    """How the answer reaches the client."""

    RESPOND = "respond"  # after ``delay`` seconds
    DROP = "drop"  # after ``delay`` seconds, close the connection without a response
    TIMEOUT = "timeout"  # respond after ``delay`` seconds, which is meant to exceed the timeout


@dataclass(frozen=True, slots=True)
class Answer:
    """What the sandbox answers to one request."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    delay: float = 0.0
    action: Action = Action.RESPOND

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)
