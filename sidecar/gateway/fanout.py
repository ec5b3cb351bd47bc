"""Event fan-out that never blocks the socket reader.

Each subscriber gets its own bounded queue and task. The reader only ever calls ``put_nowait``; a slow or
stuck subscriber fills its own queue and then loses its *oldest* events (logged), exactly like the
gateway's own ``dropIfSlow`` broadcasts — which is why consumers also reconcile by polling
``device.pair.list``. One subscriber's exception is logged and does not affect others.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable

from sidecar.gateway.models import GatewayEvent

log = logging.getLogger("sidecar.gateway")

EventCallback = Callable[[GatewayEvent], Awaitable[None] | None]
_STOP = object()


class _Subscriber:
    def __init__(self, callback: EventCallback, maxsize: int) -> None:
        self.callback = callback
        self.queue: asyncio.Queue[object] = asyncio.Queue(maxsize=maxsize)
        self.task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.failures = 0

    def offer(self, item: object) -> None:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run(), name="gateway-subscriber")
        while True:
            try:
                self.queue.put_nowait(item)
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()  # drop the oldest, keep the newest
                self.dropped += 1
                if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                    log.warning("event subscriber is slow: %d event(s) dropped so far", self.dropped)

    async def _run(self) -> None:
        while True:
            item = await self.queue.get()
            if item is _STOP:
                return
            assert isinstance(item, GatewayEvent)
            try:
                result = self.callback(item)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failures += 1
                if self.failures == 1:
                    log.exception("event subscriber failed on %s (continuing)", item.event)
                elif self.failures in (10, 100) or self.failures % 1000 == 0:
                    log.error("event subscriber has failed %d times (continuing)", self.failures)

    def stop(self) -> None:
        if self.task is not None:
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(_STOP)

    async def drain(self, grace: float) -> None:
        """Let queued events finish (bounded), then make sure the task is gone."""
        if self.task is None:
            return
        self.stop()
        try:
            await asyncio.wait_for(asyncio.shield(self.task), grace)
        except (TimeoutError, asyncio.CancelledError):
            self.task.cancel()
        except Exception:  # noqa: S110 - the task logs its own failures
            pass


class Fanout:
    """The set of subscribers of one client."""

    def __init__(self, maxsize: int = 1024) -> None:
        self._subs: list[_Subscriber] = []
        self._maxsize = maxsize

    def subscribe(self, callback: EventCallback) -> Callable[[], None]:
        sub = _Subscriber(callback, self._maxsize)
        self._subs.append(sub)

        def unsubscribe() -> None:
            if sub in self._subs:
                self._subs.remove(sub)
                sub.stop()
                if sub.task is not None and sub.queue.full():
                    sub.task.cancel()

        return unsubscribe

    def publish(self, event: GatewayEvent) -> None:
        for sub in list(self._subs):
            sub.offer(event)

    async def close(self, grace: float = 1.0) -> None:
        subs, self._subs = self._subs, []
        await asyncio.gather(*(s.drain(grace) for s in subs), return_exceptions=True)
