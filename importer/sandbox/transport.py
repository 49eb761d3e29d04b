"""The sandbox as an ``httpx.AsyncBaseTransport``: the API in-process, with no socket at all.

Use it as ``httpx.AsyncClient(transport=sandbox.transport(), base_url="https://sandbox.invalid")``.
Delays are awaited with the injected ``sleep`` (``asyncio.sleep`` by default), and honour the
client's read timeout: an answer later than ``request.extensions["timeout"]["read"]`` becomes
``httpx.ReadTimeout`` after sleeping that long. A dropped connection is
``httpx.RemoteProtocolError``, raised after the sandbox processed (and maybe wrote) the request.
"""

from __future__ import annotations

import asyncio
from email.utils import formatdate
from typing import TYPE_CHECKING

import httpx

from importer.sandbox.answer import Action
from importer.timing import Sleep

if TYPE_CHECKING:
    from importer.sandbox.core import Sandbox


class SandboxTransport(httpx.AsyncBaseTransport):
    """Carries httpx requests to a :class:`Sandbox` and its answers back."""

    def __init__(self, sandbox: Sandbox, *, sleep: Sleep = asyncio.sleep) -> None:
        self._sandbox = sandbox
        self._sleep = sleep

    @property
    def sandbox(self) -> Sandbox:
        """The sandbox behind this transport (what state kept beside it, a ledger, lives on)."""
        return self._sandbox

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        target = request.url.raw_path.decode("ascii")
        answer = self._sandbox.handle(request.method, target, dict(request.headers), body)
        timeout = request.extensions.get("timeout", {}).get("read")
        if timeout is not None and answer.delay > timeout:
            await self._sleep(timeout)
            raise httpx.ReadTimeout("sandbox: no answer within the read timeout", request=request)
        if answer.delay > 0:
            await self._sleep(answer.delay)
        if answer.action is Action.DROP:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        return httpx.Response(
            answer.status,
            headers=[*answer.headers, ("Date", formatdate(usegmt=True))],  # as a server sends
            content=answer.body,
            request=request,
        )
