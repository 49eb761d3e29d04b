"""Plain helpers shared by the test modules (fixtures live in conftest.py): the demo
association, a row judge as the run builds it, the record grid, relimport in a process."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from importer.api import Retries, RetryPolicy, connect, limiter_for
from importer.config import Settings
from importer.models import Association, SourceRow
from importer.sandbox import STUDENT_TEACHER_ID, Sandbox
from importer.validate import AnswerCache, Checks, Judgement, Lookups

#: The sandbox's student_teacher association (importer/sandbox/seed.py), as the API gives it.
STUDENT_TEACHER = Association(
    id=STUDENT_TEACHER_ID,
    key="student_teacher",
    first_object_key="custom_objects.students",
    first_object_label="Student",
    second_object_key="contact",
    second_object_label="Teacher",
)


def bound_checks(
    settings: Settings, header: tuple[str, ...], association: Association = STUDENT_TEACHER
) -> Checks:
    """A run's :class:`Checks` for one location and association, its columns found in
    ``header`` and its association known (as the pre-flight leaves them)."""
    checks = Checks(settings, "in.csv")
    checks.bind(header)
    checks.associations[settings.location_id or "", settings.association or ""] = association
    return checks


def lookups_for(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> Lookups:
    """Look-ups through ``transport`` (a fresh sandbox's unless given), answers in memory."""
    client = connect(settings, limiter_for(settings), transport=transport or Sandbox().transport())
    return Lookups(client, Retries(RetryPolicy()), AnswerCache(None, "sandbox", 0), 4)


def judge_for(settings: Settings, header: tuple[str, ...]) -> Callable[[SourceRow], Judgement]:
    """``judge(row)`` as the run calls it for each row, nothing asked of the API (ids as
    written, records not checked: nothing to resolve)."""
    checks = bound_checks(settings, header)
    lookups = lookups_for(settings)
    return lambda row: checks.judge(row, lookups)


class RefusingSearch(httpx.AsyncBaseTransport):
    """The sandbox, but the contact search refuses one e-mail with a 422."""

    def __init__(self, sandbox: Sandbox, email: str) -> None:
        self._inner = sandbox.transport()
        self._email = email

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/contacts/search" and self._email in request.content.decode():
            return httpx.Response(422, json={"statusCode": 422, "message": ["email is invalid"]})
        return await self._inner.handle_async_request(request)
