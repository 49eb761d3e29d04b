from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from importer import logs
from importer.errors import ConfigError


@pytest.fixture
def relimport_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("relimport")
    yield logger
    for handler in logger.handlers[:]:
        logger.removeHandler(handler)
        handler.close()


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("Authorization: Bearer abc.def", "Authorization: [redacted]"),
        ("token pit-00000000-0000-4000-8000-000000000001 here", "token [redacted] here"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "jwt [redacted]"),
        ("POST /associations/relations -> 201", "POST /associations/relations -> 201"),
    ],
)
def test_mask(text: str, masked: str) -> None:
    assert logs.mask(text) == masked


def test_json_events_carry_their_fields_and_never_a_secret(
    tmp_path: Path, relimport_logger: logging.Logger
) -> None:
    path = tmp_path / "run.log"
    logs.configure(path, "json", "debug")
    logging.getLogger("relimport.http").debug(
        "GET %s -> %s", "/x", 200, extra={"event": "request", "status": 200}
    )
    relimport_logger.info("oops Bearer pit-1234567890abcdef", extra={"event": "summary"})
    first, second = (json.loads(line) for line in path.read_text().splitlines())
    assert (first["message"], first["event"], first["status"]) == ("GET /x -> 200", "request", 200)
    assert second["message"] == "oops [redacted]"


def test_a_missing_log_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        logs.configure(tmp_path / "missing" / "run.log")
    folder = tmp_path / "missing"
    assert str(caught.value) == (
        f"{folder}/run.log: the folder {folder} does not exist, so the log file cannot be "
        f"written there. Create it (mkdir -p {folder}) or choose another --log-file."
    )


def test_an_unwritable_log_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="the log file cannot be written"):
        logs.configure(tmp_path)  # a folder, not a file
