"""A gateway connection just long enough for one command (``once``, ``explain``), outside ``run``.

The same session factory as ``run`` (same auth, same backoff), but it gives up after ``timeout`` with the
session's own error, or a GatewayUnreachable naming the variables to check, and always tears down.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sidecar.approver.ports import PairingClient, SessionFactory
from sidecar.errors import GatewayUnreachable
from sidecar.gateway.models import GatewayEvent


@contextlib.asynccontextmanager
async def connect_once(
    session_factory: SessionFactory,
    *,
    gateway_url: str,
    timeout: float,  # noqa: ASYNC109 - the CLI's own deadline
    grace_s: float,
) -> AsyncIterator[PairingClient]:
    connected: asyncio.Future[PairingClient] = asyncio.get_running_loop().create_future()
    errors: list[object] = []

    async def on_connect(client: PairingClient, reconnected: bool) -> None:
        if not connected.done():
            connected.set_result(client)

    async def on_event(event: GatewayEvent) -> None:
        return None

    async def on_disconnect(*args: object) -> None:
        errors.extend(a for a in args if a)

    stop = asyncio.Event()
    session = session_factory(on_connect, on_event, on_disconnect)
    task = asyncio.create_task(session.run(stop))
    try:
        waiters: list[asyncio.Future[Any]] = [connected, task]
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if not connected.done():
            failure = task.exception() if task.done() and not task.cancelled() else None
            last = failure or getattr(session, "last_error", None) or next(reversed(errors), None)
            if isinstance(last, BaseException):
                raise last
            raise GatewayUnreachable(
                f"no connection to the gateway at {gateway_url} within {timeout:g} s "
                "(check OPENCLAW_GATEWAY_URL and OPENCLAW_GATEWAY_TOKEN)"
            )
        yield connected.result()
    finally:
        stop.set()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            async with asyncio.timeout(grace_s):
                await task
        task.cancel()
