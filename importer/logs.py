"""The log file: ``--log-file PATH`` with ``--log-format text|json``, one event a line.

Debug level holds one event per request (method, path, status, milliseconds, the location's
``X-RateLimit-Remaining``), written by the client; never a header or a body. A filter masks
anything that looks like a token, whatever wrote it, as a second line of defence. The JSON
formatter is twelve lines of our own: one flat object per event, the fields of ``extra``
included, is all the scheduler needs, and no package does exactly that without setup of its
own.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from importer.errors import ConfigError

#: What a secret looks like in text: a bearer header, a Private Integration token, a JWT.
_SECRET = re.compile(r"Bearer\s+\S+|pit-[0-9A-Za-z-]{8,}|eyJ[\w-]+\.[\w-]+\.[\w-]*")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def mask(text: str) -> str:
    return _SECRET.sub("[redacted]", text)


class _Redact(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage())
        record.args = None
        return True


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        event.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        return mask(json.dumps(event, ensure_ascii=False, default=str))


def configure(path: Path, form: str = "text", level: str = "debug") -> None:
    """Send relimport's events to ``path`` (appended), one a line."""
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(
            f"{path}: the folder {folder} does not exist, so the log file cannot be written "
            f"there. Create it (mkdir -p {folder}) or choose another --log-file."
        )
    try:
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            f"{path}: the log file cannot be written ({error.strerror or error}). "
            "Choose another --log-file."
        ) from None
    handler.addFilter(_Redact())
    handler.setFormatter(
        _Json() if form == "json" else logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    )
    logger = logging.getLogger("relimport")
    for old in [h for h in logger.handlers if getattr(h, "relimport", False)]:
        logger.removeHandler(old)  # one log file at a time (the library may be called again)
        old.close()
    handler.relimport = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if level == "debug" else logging.INFO)
