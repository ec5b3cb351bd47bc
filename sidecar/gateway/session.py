"""Keep one gateway connection alive, and tell the caller whenever it is (re)established.

Events are best-effort (the gateway drops them for slow consumers, and none are sent while we are
disconnected), so correctness comes from reconciling: after *every* successful connect the session
calls ``on_connect(client, reconnected)`` and the caller re-lists ``device.pair.list``. The session:

- subscribes ``on_event`` to each new client *before* ``on_connect``, so nothing slips between the two;
- retries with tenacity's exponential backoff with jitter, capped at ``max_backoff``; a
  ``GatewayStarting`` refusal waits the gateway's ``retryAfterMs`` instead;
- when the gateway wants to pair *this* device (we run away from its loopback), logs the requestId and
  the one command that approves it, once per requestId, and keeps retrying — the approval then takes
  effect on the next attempt without a restart;
- keeps retrying on auth/config refusals too (logged as errors): fail closed means no approvals happen,
  not that the process dies; ``last_error`` exposes the reason to health checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_never,
    wait_random_exponential,
)

from sidecar.errors import (
    AuthFailed,
    DeviceIdentityRequired,
    GatewayError,
    GatewayStarting,
    MissingScope,
    PairingRequired,
    ProtocolMismatch,
)
from sidecar.gateway.client import GatewayClient
from sidecar.gateway.models import GatewayEvent

log = logging.getLogger("sidecar.gateway.session")
PAIRING_RETRY_MAX = 10.0
STABLE_AFTER = 10.0  # seconds a connection must live to reset the reconnect backoff

ConnectCallback = Callable[[GatewayClient, bool], Awaitable[None]]
EventCallback = Callable[[GatewayEvent], Awaitable[None] | None]
DisconnectCallback = Callable[[BaseException | None], Awaitable[None] | None]


class _Stopped(Exception):
    """Internal: the stop event was set while (re)connecting."""


class GatewaySession:
    def __init__(
        self,
        factory: Callable[[], GatewayClient],
        *,
        on_connect: ConnectCallback,
        on_event: EventCallback,
        on_disconnect: DisconnectCallback | None = None,
        max_backoff: float = 30.0,
        initial_backoff: float = 0.5,
    ) -> None:
        self._factory = factory
        self._on_connect = on_connect
        self._on_event = on_event
        self._on_disconnect = on_disconnect
        self.max_backoff = max_backoff
        self.initial_backoff = initial_backoff
        self.client: GatewayClient | None = None
        self.last_error: BaseException | None = None
        self.connects = 0
        self._announced: set[str | None] = set()
        self._flaps = 0
        # "Full jitter": uniform(0, min(max_backoff, initial_backoff * 2**attempt)).
        self._backoff = wait_random_exponential(multiplier=initial_backoff, max=max_backoff)

    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.connected

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, serve, reconnect — until ``stop`` is set. Returns after closing the connection."""
        while not stop.is_set():
            try:
                client = await self._connect(stop)
            except _Stopped:
                return
            self.connects += 1
            started = time.monotonic()
            try:
                error = await self._serve(client, stop)
            finally:
                self.client = None
                await client.close()
            await _maybe_await(self._on_disconnect, error)
            # A connection that keeps dying young (gateway flapping, reconcile failing every time) must
            # not turn into a reconnect storm: back off like a failed connect.
            self._flaps = self._flaps + 1 if time.monotonic() - started < STABLE_AFTER else 0
            if not stop.is_set():
                delay = min(self.max_backoff, self.initial_backoff * 2**self._flaps)
                await _sleep_or_stop(stop, random.uniform(delay / 2, delay))  # noqa: S311 - jitter

    async def _serve(self, client: GatewayClient, stop: asyncio.Event) -> BaseException | None:
        """Run one connection; returns the error that ended it (None when we were asked to stop)."""
        self.client = client
        unsubscribe = client.subscribe(self._on_event)
        try:
            try:
                await self._on_connect(client, self.connects > 1)
            except GatewayError as exc:  # the connection broke during reconcile: just reconnect
                log.warning("gateway call failed while reconciling after connect: %s", exc)
                self.last_error = exc
                return exc
            stopping = asyncio.ensure_future(stop.wait())
            closing = asyncio.ensure_future(client.wait_closed())
            try:
                await asyncio.wait({stopping, closing}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
                if not closing.done():
                    closing.cancel()
            if closing.done() and not closing.cancelled():
                error = closing.result()
                if error is not None:
                    log.warning("gateway connection lost: %s", error)
                    self.last_error = error
                return error
            return None
        finally:
            unsubscribe()

    async def _connect(self, stop: asyncio.Event) -> GatewayClient:
        async def sleep(seconds: float) -> None:
            await _sleep_or_stop(stop, seconds)

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(GatewayError),
            wait=self._wait,
            stop=stop_never,
            sleep=sleep,
            before_sleep=self._log_failure,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if stop.is_set():
                    raise _Stopped
                client = self._factory()
                try:
                    hello = await client.connect()
                except BaseException:
                    await client.close()
                    raise
                self.last_error = None
                log.info(
                    "connected to the gateway at %s (OpenClaw %s, protocol %d)",
                    client.url,
                    hello.server_version,
                    hello.protocol,
                )
                return client
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, GatewayStarting) and exc.retry_after_ms is not None:
            return exc.retry_after_ms / 1000
        delay = float(self._backoff(state))
        if isinstance(exc, PairingRequired):
            return min(delay, PAIRING_RETRY_MAX)  # pick up the approval soon after it happens
        return delay

    def _log_failure(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        self.last_error = exc
        delay = state.upcoming_sleep
        if isinstance(exc, PairingRequired):
            if exc.request_id not in self._announced:
                self._announced.add(exc.request_id)
                target = exc.request_id or "<requestId from `openclaw devices list`>"
                log.warning(
                    "the gateway must approve this sidecar's own device (%s). Approve it once on the gateway "
                    "host with: openclaw devices approve %s (waiting and retrying)",
                    exc.reason or "pairing required",
                    target,
                )
            return
        needs_operator = AuthFailed | DeviceIdentityRequired | MissingScope | ProtocolMismatch
        level = logging.ERROR if isinstance(exc, needs_operator) else logging.WARNING
        log.log(
            level,
            "cannot connect to the gateway (attempt %d, retry in %.1f s): %s",
            state.attempt_number,
            delay,
            exc,
        )


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=max(seconds, 0))


async def _maybe_await(callback: Callable[..., Any] | None, *args: Any) -> None:
    if callback is None:
        return
    try:
        result = callback(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("on_disconnect callback failed (continuing)")
