"""The wait: connect with the agent's key until the gateway admits it, saying what it waits for.

Each attempt is one full connect with exactly what the agent will present. The gateway keeps one pending
request per device and ask: a retry with the same role, scopes and key refreshes it (same ``requestId``;
2026.9 also restarts its 5-minute TTL from the retry), so waiting never piles up requests. ``hello-ok``
means approved (or already paired: then it returns at once). A changed ``requestId`` means the earlier
request went away — rejected, expired or superseded — and is said so. Progress lines carry the requestId,
the elapsed time and the command a human could run instead of the sidecar.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from sidecar.errors import (
    AuthFailed,
    DeviceIdentityRequired,
    GatewayError,
    MissingScope,
    PairingRequired,
    PrepairRefused,
    PrepairTimeout,
    ProtocolMismatch,
)
from sidecar.gateway.client import GatewayClient
from sidecar.identity.keys import DeviceIdentity
from sidecar.prepair.config import PrepairConfig

RETRY_S = 1.0  # between connects while the request is pending (each costs the gateway ~30 ms)
PROGRESS_EVERY_S = 10.0
FATAL = (AuthFailed, DeviceIdentityRequired, MissingScope, ProtocolMismatch)  # waiting cannot fix these


@dataclass(frozen=True)
class PrepairResult:
    already_paired: bool
    request_id: str | None  # the request that was approved (None: already paired)
    elapsed_s: float
    attempts: int

    def log_line(self) -> str:
        if self.already_paired:
            return f"pre-pairing: device already paired ({self.elapsed_s:.1f} s)"
        return (
            f"pre-pairing: request {self.request_id} approved after {self.elapsed_s:.1f} s "
            f"({self.attempts} connects); the agent's first connect will be admitted"
        )


def approve_hint(request_id: str) -> str:
    return f"openclaw devices approve {request_id}"


class _Waiter:
    def __init__(self, cfg: PrepairConfig, say: Callable[[str], None]) -> None:
        self.cfg = cfg
        self.say = say
        self.started = time.monotonic()
        self.request_id: str | None = None
        self.last_progress = -PROGRESS_EVERY_S
        self.last_problem: str | None = None
        self.attempts = 0

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def pending(self, exc: PairingRequired) -> None:
        rid = exc.request_id
        if rid != self.request_id:
            if self.request_id is not None:
                self.say(
                    f"pre-pairing: request {self.request_id} is gone (rejected, expired or superseded); "
                    f"the gateway opened request {rid}"
                )
            self.request_id = rid
            self.last_progress = -PROGRESS_EVERY_S
        if self.elapsed - self.last_progress >= PROGRESS_EVERY_S:
            self.last_progress = self.elapsed
            shown = rid or "(no requestId from the gateway)"
            hint = f"; to approve by hand: {approve_hint(rid)}" if rid else ""
            self.say(
                f"pre-pairing: waiting for approval of request {shown} ({exc.reason or 'not-paired'}), "
                f"{self.elapsed:.0f} s of {self.cfg.timeout_s:.0f} s{hint}"
            )

    def unreachable(self, exc: GatewayError) -> None:
        problem = f"{type(exc).__name__}: {exc}"
        if problem != self.last_problem or self.elapsed - self.last_progress >= PROGRESS_EVERY_S:
            self.last_problem = problem
            self.last_progress = self.elapsed
            self.say(f"pre-pairing: gateway {self.cfg.url} not answering yet ({problem}); retrying")

    def timeout(self) -> PrepairTimeout:
        if self.request_id:
            what = (
                f"request {self.request_id} was not approved within {self.cfg.timeout_s:.0f} s "
                f"(OPENCLAW_PREPAIR_TIMEOUT). Approve it by hand: {approve_hint(self.request_id)}; "
                f"or ask the sidecar why not: openclaw-sidecar explain {self.request_id}"
            )
        else:
            what = (
                f"the gateway at {self.cfg.url} did not admit the device within {self.cfg.timeout_s:.0f} s "
                f"(OPENCLAW_PREPAIR_TIMEOUT); last problem: {self.last_problem or 'none'}"
            )
        return PrepairTimeout(f"pre-pairing gave up: {what}", request_id=self.request_id)


async def prepair(
    identity: DeviceIdentity, cfg: PrepairConfig, say: Callable[[str], None], *, retry_s: float = RETRY_S
) -> PrepairResult:
    """Return once the device is admitted; raise PrepairTimeout, or PrepairRefused."""
    w = _Waiter(cfg, say)
    say(f"pre-pairing: connecting to {cfg.url} as the agent will ({cfg.describe()})")
    while True:
        w.attempts += 1
        client = GatewayClient(
            cfg.url,
            token=cfg.token,
            identity=identity,
            client_id=cfg.client_id,
            client_mode=cfg.client_mode,
            role=cfg.role,
            scopes=cfg.scopes,
            display_name=cfg.display_name,
            platform=cfg.platform,
            device_family=cfg.device_family,
            connect_timeout=min(10.0, cfg.timeout_s),
        )
        try:
            await client.connect()
        except PairingRequired as exc:
            w.pending(exc)
        except FATAL as exc:
            raise PrepairRefused(f"pre-pairing: the gateway refused the connection: {exc}") from exc
        except GatewayError as exc:
            w.unreachable(exc)
        else:
            await client.close()
            return PrepairResult(w.request_id is None, w.request_id, w.elapsed, w.attempts)
        if w.elapsed + retry_s > cfg.timeout_s:
            raise w.timeout()
        await asyncio.sleep(retry_s)


def run(identity: DeviceIdentity, cfg: PrepairConfig, say: Callable[[str], None]) -> PrepairResult:
    return asyncio.run(prepair(identity, cfg, say))
