"""The exceptions of relimport: problems with the *run*, never with a single row.

A problem in one row is an :class:`importer.models.Issue` or an
:class:`importer.models.Outcome`, a value that ends up in the results. An exception stops
something, and its class says what the caller should do::

    RelimportError                 root: every message is written for a person
    ├── ConfigError                bad settings: stop before sending (exit 2)
    ├── InputError                 unusable input file or missing column: stop (exit 2)
    ├── LockedError                another run holds the result file or a location (exit 2)
    ├── NothingToDo                no row to process (--only found none): success (exit 0)
    ├── BudgetExhaustedError       a location's daily budget is spent: stop that location
    │   └── LocationRefusingError  the API has answered only 429 for minutes: stop it too
    └── ApiError                   raised only by the client, for one HTTP exchange
        ├── RetryableError         429, 5xx, timeout, dropped connection: try again later
        │   ├── RateLimitedError   429: the whole location pauses
        │   └── UnreachableError   no answer at all (no connection, timeout): many in a row stop
        │                          the run (see Sender)
        ├── RejectedError          the API refused this row (4xx): the row fails, the run goes on
        │   └── DuplicateRelationError   the relation already exists
        └── AuthError              401/403: stop the run, remaining rows are not sent

No exception's text ever contains the token.
"""

from __future__ import annotations


class RelimportError(Exception):
    """Root of every error relimport raises on purpose."""


class ConfigError(RelimportError):
    """The settings are wrong: a config file, a flag or an environment variable."""


class InputError(RelimportError):
    """The input file cannot be used as a whole (the message names the file, and line or column)."""


class LockedError(RelimportError):
    """Another relimport run holds this run's result file or one of its locations."""


class NothingToDo(RelimportError):
    """The run has no row to process, which is not a problem (e.g. --only matched none)."""


class BudgetExhaustedError(RelimportError):
    """A location's daily request budget has reached its reserve."""

    def __init__(self, location_id: str, message: str) -> None:
        super().__init__(message)
        self.location_id = location_id


class LocationRefusingError(BudgetExhaustedError):
    """The API has refused every request of a location with 429 for a sustained time."""


class ApiError(RelimportError):
    """One HTTP exchange with the API did not succeed."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


class RetryableError(ApiError):
    """Worth trying again: a 429, a 5xx, a timeout or a dropped connection.

    ``maybe_written`` is true when the request may have reached the server (5xx, read timeout,
    connection dropped after sending): a create may then exist although no 201 came back.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        maybe_written: bool = False,
    ) -> None:
        super().__init__(message, status=status, retry_after=retry_after)
        self.maybe_written = maybe_written


class RateLimitedError(RetryableError):
    """429: over the location's rate limit."""


class UnreachableError(RetryableError):
    """No answer came: the connection failed, timed out or dropped (the API or the network
    may be down). ``maybe_written`` unless the request surely never left. ``reason`` is what
    happened, without the advice the message may add."""

    def __init__(self, message: str, *, reason: str = "", maybe_written: bool = False) -> None:
        super().__init__(message, maybe_written=maybe_written)
        self.reason = reason or message


class RejectedError(ApiError):
    """The API refused this request for a reason that retrying will not fix."""


class DuplicateRelationError(RejectedError):
    """The relation already exists (the API's 400 'duplicate relation')."""


class AuthError(ApiError):
    """The token is invalid, lacks a scope, or may not access the location."""
