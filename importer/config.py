"""Settings of a run, from four layers: flag > environment > config file > default.

``load_settings()`` is the only place that reads ``config.yaml`` and the environment. Every
problem becomes one :class:`ConfigError` naming where the bad value came from (the file and
key, the environment variable, or the flag) and what was expected.

The token is never a setting of the file or a flag: it is read from the environment variable
named by ``token_env`` and held as a ``SecretStr``, so no repr, log or exception shows it.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from importer.errors import ConfigError

SANDBOX = "sandbox"
#: What a token looks like: a Private Integration token, or a JWT (OAuth access token).
_SECRET = re.compile(r"pit-[0-9a-f]{8}-[0-9a-f]{4}|eyJ[\w-]{10,}\.[\w-]{10,}\.")
DEFAULT_CONFIG = Path("config.yaml")
STATE_DIR = ".relimport"  # the default state folder's name (see Settings.state_dir)
API_VERSIONS = ("2021-07-28", "v3", "2023-02-21", "2021-04-15")

#: Environment variables that set a top-level key (flag > environment > file > default).
ENVIRONMENT = {
    "RELIMPORT_TARGET": "target",
    "RELIMPORT_LOCATION_ID": "location_id",
    "RELIMPORT_ASSOCIATION": "association",
    "RELIMPORT_FIRST_COLUMN": "first_column",
    "RELIMPORT_SECOND_COLUMN": "second_column",
    "RELIMPORT_CONCURRENCY": "concurrency",
    "RELIMPORT_OUT": "out",
    "RELIMPORT_API_VERSION": "api_version",
    "RELIMPORT_STATE_DIR": "state_dir",
}


#: Settings whose command-line flag is not simply the key with dashes.
FLAGS = {"target": "--base-url"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimitSettings(_Strict):
    max_requests: int = Field(100, ge=1, description="Requests allowed per window and location.")
    window_seconds: float = Field(10.0, gt=0, description="Length of the burst window.")
    daily_limit: int = Field(200_000, ge=1, description="Requests allowed per day and location.")
    daily_reserve: int = Field(
        0, ge=0, description="Stop when the day's remaining budget falls to this."
    )


class RetrySettings(_Strict):
    max_attempts: int = Field(6, ge=1, le=50, description="Attempts per request, first included.")
    backoff_initial: float = Field(0.5, ge=0, description="First back-off, seconds.")
    backoff_max: float = Field(30.0, ge=0, description="Longest back-off, seconds.")
    unreachable_failures: int = Field(
        10,
        ge=1,
        description="Stop the run when this many rows in a row got no answer at all (no "
        "connection, timeouts, after their retries)...",
    )
    unreachable_seconds: float = Field(
        30.0, ge=0, description="...over at least this many seconds (then exit 3, resumable)."
    )


class TimeoutSettings(_Strict):
    connect: float = Field(10.0, gt=0, description="Seconds to open a connection.")
    read: float = Field(30.0, gt=0, description="Seconds to wait for an answer.")


class Settings(_Strict):
    """Everything a run needs except the input file. Defaults are the documented ones."""

    target: str = Field(SANDBOX, description="'sandbox' or the API's base URL.")
    api_version: str = Field("2021-07-28", description="Value of the Version header.")
    token_env: str = Field("LEADWAY_TOKEN", description="Environment variable holding the token.")
    location_id: str | None = Field(None, description="The location (sub-account) id.")
    association: str | None = Field(None, description="Association key or id.")
    first_column: str | None = Field(None, description="Column holding the first record ids.")
    second_column: str | None = Field(None, description="Column holding the second record ids.")
    sheet: str | None = Field(None, description="Sheet to read in a workbook (default: the first).")
    encoding: str | None = Field(None, description="CSV encoding (default: detected).")
    header_row: int | None = Field(
        None,
        ge=1,
        description="Row holding the column titles, as a spreadsheet numbers it (default: the "
        "first row with a value, or the row below a title line that holds the columns).",
    )
    no_header: bool = Field(
        False, description="The file has no header row: columns are named by letter (A, B...)."
    )
    first_lookup: str = Field(
        "id",
        description="What the first column holds: id, or a natural key (email or phone for "
        "contacts; a property name of a custom object).",
    )
    second_lookup: str = Field("id", description="What the second column holds (as first_lookup).")
    association_column: str | None = Field(
        None, description="Column naming each row's association (key or id), if rows differ."
    )
    location_column: str | None = Field(
        None, description="Column holding each row's location id, if rows differ."
    )
    token_env_by_location: dict[str, str] = Field(
        default_factory=dict,
        description="Location id -> environment variable holding that location's token "
        "(others use token_env).",
    )
    strict_ids: bool = Field(False, description="Id shape mismatches are errors, not warnings.")
    split: str | None = Field(
        None,
        description="Separator of several ids in one cell (such as ';'): one relation per id, "
        "each with the row's number.",
    )
    check_records: bool = Field(
        False, description="Check before sending that every record exists and is of the right kind."
    )
    skip_existing: bool = Field(
        False, description="Read existing relations first and skip them, when that costs less."
    )
    swap: bool = Field(False, description="The first column holds the second side, and back.")
    order_check: bool = Field(
        True, description="Stop before sending when the ids show the columns are swapped."
    )
    phone_region: str = Field(
        "US", description="Country assumed for phone numbers written without +country code."
    )
    lookup_cache_hours: float = Field(
        12.0,
        ge=0,
        description="How long answers of record checks and look-ups are reused (0: never).",
    )
    ledger: bool = Field(
        True,
        description="Keep a ledger of the relations the API confirmed (in state_dir) and settle "
        "the pairs it holds without a request.",
    )
    ledger_verify_days: int = Field(
        7,
        ge=1,
        description="Drift repair: every record of the ledger is re-read at least once every "
        "this many runs or days.",
    )
    mirror: bool = Field(
        False,
        description="Delete the relations earlier runs created (the ledger says) that the "
        "file no longer holds; never one relimport did not create.",
    )
    max_deletes: int | None = Field(
        None,
        ge=0,
        description="--mirror stops before sending when it would delete more (default: 100, "
        "and at most 10 % of the ledger's pairs of the association).",
    )
    concurrency: int = Field(
        8, ge=1, le=64, description="Requests in flight at once, per location."
    )
    rate_limit: RateLimitSettings = RateLimitSettings()
    retry: RetrySettings = RetrySettings()
    timeouts: TimeoutSettings = TimeoutSettings()
    out: Path | None = Field(None, description="Result CSV path (default: results/<input>).")
    results_format: Literal["csv", "xlsx", "both"] = Field(
        "csv", description="csv; xlsx or both: an Excel workbook beside the result CSV too."
    )
    wait_lock: float = Field(
        0.0,
        ge=0,
        description="Seconds to wait when another run holds the result file or a location "
        "(0: stop at once, exit 2).",
    )
    state_dir: Path | None = Field(
        None,
        description="Folder of what outlives a run (locks, the ledger of known relations); "
        "default: .relimport beside the config file, else in the current folder. A relative "
        "path in config.yaml is read from the config file's folder.",
    )
    token: SecretStr | None = Field(None, exclude=True, repr=False)
    #: Location -> its own token, from the variables of token_env_by_location that are set.
    location_tokens: dict[str, SecretStr] = Field(default_factory=dict, exclude=True, repr=False)
    notices: tuple[str, ...] = Field((), exclude=True, description="Warnings for the user.")

    @field_validator(
        "target",
        "api_version",
        "location_id",
        "association",
        "first_column",
        "second_column",
        "sheet",
        "encoding",
        "token_env",
        "first_lookup",
        "second_lookup",
        "association_column",
        "location_column",
        "phone_region",
        mode="before",
    )
    @classmethod
    def _as_text(cls, value: object) -> object:
        """YAML reads `2021-07-28` as a date and `7` as a number: all of these are text."""
        if isinstance(value, int | float | date) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("target")
    @classmethod
    def _check_target(cls, value: str) -> str:
        if value == SANDBOX:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "expected 'sandbox' or a URL such as https://services.leadconnectorhq.com"
            )
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ValueError("plain http:// is only allowed for 127.0.0.1/localhost; use https://")
        return value.rstrip("/")

    @field_validator("token_env")
    @classmethod
    def _check_variable(cls, value: str) -> str:
        return _variable_name(value)

    @field_validator("token_env_by_location")
    @classmethod
    def _check_variables(cls, value: dict[str, str]) -> dict[str, str]:
        return {location: _variable_name(str(name)) for location, name in value.items()}

    @field_validator("first_lookup", "second_lookup")
    @classmethod
    def _check_lookup(cls, value: str) -> str:
        value = value.strip()
        if not value or any(c.isspace() for c in value):
            raise ValueError("expected id, email, phone or a property name (one word)")
        return value

    @field_validator("split")
    @classmethod
    def _check_split(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 1 or value.isalnum() or value.isspace()):
            raise ValueError("expected one character that separates ids, such as ; or |")
        return value

    @field_validator("phone_region")
    @classmethod
    def _check_region(cls, value: str) -> str:
        import phonenumbers

        value = value.strip().upper()
        if value == "US":  # the default: no need to load the phone metadata to know it
            return value
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("expected a two-letter country code such as US, MX, ES or GB")
        return value

    @field_validator("api_version")
    @classmethod
    def _check_version(cls, value: str) -> str:
        if value not in API_VERSIONS:
            raise ValueError(f"expected one of {', '.join(API_VERSIONS)}")
        return value

    @property
    def state_folder(self) -> Path:
        """The state folder (``state_dir`` as :func:`load_settings` resolved it)."""
        return self.state_dir if self.state_dir is not None else Path(STATE_DIR)

    @property
    def is_sandbox(self) -> bool:
        return self.target == SANDBOX

    def sides(self) -> tuple[tuple[str, str], tuple[str, str]]:
        """(column, lookup) of the association's first side, then its second (after --swap)."""
        first = (self.first_column or "", self.first_lookup)
        second = (self.second_column or "", self.second_lookup)
        return (second, first) if self.swap else (first, second)


def _variable_name(value: str) -> str:
    """The name of an environment variable; a token pasted here instead is never echoed."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        if _SECRET.search(value) or len(value) > 40:
            raise ValueError(
                "expected the NAME of an environment variable (such as LEADWAY_TOKEN), and "
                "this looks like a token itself: never put the token in settings"
            )
        raise ValueError("expected the name of an environment variable, such as LEADWAY_TOKEN")
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class _Layer:
    """One source of values, named the way the user would find it."""

    values: Mapping[str, Any]
    names: Mapping[str, str]  # top-level key -> "config.yaml", "$RELIMPORT_X", "--flag"
    notices: tuple[str, ...] = ()
    folder: Path | None = None  # the config file's folder (the file layer only)


def load_settings(
    *,
    config_path: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings: flag > environment > config file > default.

    ``config_path`` None means ``./config.yaml`` when it exists. ``flags`` maps setting names
    to values given on the command line (None = not given).
    """
    environ = os.environ if environ is None else environ
    file_layer = _file_layer(config_path)
    env_layer = _Layer(
        {key: environ[var] for var, key in ENVIRONMENT.items() if environ.get(var)},
        {key: f"the environment variable {var}" for var, key in ENVIRONMENT.items()},
    )
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    flag_layer = _Layer(given, {k: FLAGS.get(k, "--" + k.replace("_", "-")) for k in given})
    merged: dict[str, Any] = {}
    for layer in (file_layer, env_layer, flag_layer):
        merged.update(layer.values)
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as error:
        raise ConfigError(_explain(error, (flag_layer, env_layer, file_layer))) from None
    if settings.first_column and settings.first_column == settings.second_column:
        layers = (flag_layer, env_layer, file_layer)
        source = next(
            (
                x.names[k]
                for x in layers
                for k in ("second_column", "first_column")
                if k in x.values
            ),
            "settings",
        )
        raise ConfigError(
            f"{source}: first_column and second_column are both '{settings.first_column}'; "
            "each side of the relation needs its own column."
        )
    if settings.no_header and settings.header_row is not None:
        raise ConfigError(
            "header_row and no_header are both set: a file has a header row or none. "
            "Keep one of them."
        )
    if file_layer.notices:
        settings = settings.model_copy(update={"notices": file_layer.notices})
    state_dir = _state_dir(settings, file_layer, env_layer, flag_layer)
    settings = settings.model_copy(update={"state_dir": state_dir})
    tokens = {
        location: token
        for location, variable in settings.token_env_by_location.items()
        if (token := _token(environ, variable)) is not None
    }
    return settings.model_copy(
        update={"token": _token(environ, settings.token_env), "location_tokens": tokens}
    )


def _state_dir(settings: Settings, file_layer: _Layer, *later: _Layer) -> Path:
    """Where state lives: as set (a relative path in config.yaml is read from the config
    file's folder), else ``.relimport`` beside the config file that was read, else here."""
    value = settings.state_dir
    if value is None:
        return (file_layer.folder or Path()) / STATE_DIR
    from_file = not any("state_dir" in layer.values for layer in later)
    if from_file and file_layer.folder is not None and not value.is_absolute():
        return file_layer.folder / value
    return value


def _token(environ: Mapping[str, str], variable: str) -> SecretStr | None:
    token = environ.get(variable, "").strip()
    if not token:
        return None
    if not all("!" <= character <= "~" for character in token):  # never echo the token itself
        raise ConfigError(
            f"The token in the environment variable {variable} contains characters "
            "no token has (spaces, line breaks, accents or quotes from a word processor). "
            "Copy it again from the CRM and set the variable anew."
        )
    return SecretStr(token)


def _file_layer(config_path: Path | None) -> _Layer:
    path = config_path if config_path is not None else DEFAULT_CONFIG
    if config_path is None and not path.exists():
        return _Layer({}, {})
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: the config file does not exist. Check the --config path."
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: the config file cannot be read ({error}).") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(
            f"{path}: not valid YAML{where}. Check the indentation and quotes."
        ) from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected keys and values (a YAML mapping) at the top level.")
    for secret in ("token", "api_key", "access_token"):
        if secret in data:
            raise ConfigError(
                f"{path}: key '{secret}': the token is never read from the config file. "
                f"Remove it and set the environment variable named by token_env instead."
            )
    for side in ("first", "second"):
        if side in data:
            data = _side_layer(data, side, path)
    notices: tuple[str, ...] = ()
    if _SECRET.search(text) and path.stat().st_mode & 0o044:
        notices = (
            f"{path}: warning: this file seems to hold a token (it is never read from here) "
            "and other users of this machine can read it. Remove the token, or at least "
            f"run: chmod 600 {path}",
        )
    return _Layer(data, dict.fromkeys(data, str(path)), notices, path.parent)


def _side_layer(data: dict[str, Any], side: str, path: Path) -> dict[str, Any]:
    """``first: {column: "Teacher email", lookup: email}`` is first_column and first_lookup."""
    value = data.pop(side)
    if not isinstance(value, dict) or not set(value) <= {"column", "lookup"}:
        raise ConfigError(
            f"{path}: '{side}': expected the keys column and lookup, e.g. "
            f'{side}: {{column: "Teacher email", lookup: email}}.'
        )
    for key in ("column", "lookup"):
        if key in value:
            if f"{side}_{key}" in data:
                raise ConfigError(
                    f"{path}: both '{side}.{key}' and '{side}_{key}' are set; keep one of them."
                )
            data[f"{side}_{key}"] = value[key]
    return data


def _explain(error: ValidationError, layers: tuple[_Layer, ...]) -> str:
    """One line per problem: where the value came from, the key, what was expected."""
    lines = []
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"])
        top = str(problem["loc"][0]) if problem["loc"] else ""
        source = next((layer.names[top] for layer in layers if top in layer.values), "settings")
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see the README's configuration reference)"
            close = _close_key(problem["loc"])
            if close:
                message = f"unknown key (did you mean '{close}')"
        elif (
            "input" in problem
            and not isinstance(problem["input"], dict)
            and not top.startswith("token_env")  # perhaps a token pasted: never echoed
        ):
            message += f" (got {problem['input']!r})"
        where = f"{source}: '{key}'" if layers[-1].names.get(top) == source else source
        lines.append(f"{where}: {message}.")
    return "\n".join(lines)


def _close_key(location: tuple[int | str, ...]) -> str | None:
    """The known key nearest a misspelt one (``first_colum`` -> ``first_column``), if any."""
    import difflib

    model: type[BaseModel] = Settings
    for part in location[:-1]:  # a nested key: rate_limit.max_request
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    known = [name for name in model.model_fields if name not in ("token", "location_tokens")]
    found = difflib.get_close_matches(str(location[-1]), known, n=1, cutoff=0.75)
    return ".".join([*map(str, location[:-1]), found[0]]) if found else None


def describe_settings() -> list[tuple[str, str, str, str]]:
    """(key, default, environment variable, description) for every setting."""
    variables = {key: var for var, key in ENVIRONMENT.items()}
    rows: list[tuple[str, str, str, str]] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            if name in ("token", "notices", "location_tokens"):
                continue
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, f"{prefix}{name}.")
                continue
            default = "(none)" if field.default is None else str(field.default)
            variable = variables.get(prefix + name, "")
            rows.append((prefix + name, default, variable, field.description or ""))

    walk(Settings, "")
    return rows


def reference_table() -> str:
    """The configuration reference of the README, generated from the settings model."""
    lines = ["| key | default | environment | meaning |", "|---|---|---|---|"]
    for key, default, variable, description in describe_settings():
        shown = f"`{variable}`" if variable else ""
        lines.append(f"| `{key}` | `{default}` | {shown} | {description} |")
    return "\n".join(lines)
