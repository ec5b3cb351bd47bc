"""Which operator scopes an approver must hold (pure), so every caller asks for the least it needs.

Facts (openclaw-protocol.md §6, 2026.9.6 ``approveDevicePairing``): ``device.pair.*`` needs
``operator.pairing``; approving a ``node``-role request needs ``operator.admin``; and since 2026.6 a
non-admin approver must itself hold every operator scope the request (plus the device's already approved
operator token) asks for, else ``missing scope: <scope>``. ``operator.admin`` satisfies any
``operator.*`` scope and ``operator.write`` satisfies ``operator.read``.
"""

from __future__ import annotations

from collections.abc import Iterable

from sidecar.gateway.models import PairedDevice, PendingRequest

PAIRING = "operator.pairing"
ADMIN = "operator.admin"
KNOWN_OPERATOR_SCOPES = frozenset(
    {
        "operator.admin",
        "operator.read",
        "operator.write",
        "operator.approvals",
        "operator.pairing",
        "operator.sessions.read",
        "operator.sessions.write",
        "operator.questions",
        "operator.talk",
        "operator.talk.secrets",
    }
)
_IMPLIED = {"operator.write": frozenset({"operator.read"})}


def covers(granted: Iterable[str], needed: Iterable[str]) -> bool:
    have = set(granted)
    if ADMIN in have:
        return all(s.startswith("operator.") for s in needed)
    for scope in list(have):
        have |= _IMPLIED.get(scope, frozenset())
    return all(s in have for s in needed)


def approver_scopes(
    *, node_approvals: bool = False, approvable_scopes: Iterable[str] = ()
) -> tuple[str, ...]:
    """Scopes for a long-lived approver: ``operator.pairing`` plus what it may hand out.

    ``approvable_scopes`` are the operator scopes the policy allows containers to receive (2026.6+ refuses
    to let an approver grant scopes it does not hold); ``node_approvals`` adds ``operator.admin``.
    """
    extra = sorted({s.strip() for s in approvable_scopes if s.strip()} - {PAIRING, ADMIN})
    return (PAIRING, *extra, *((ADMIN,) if node_approvals else ()))


def scopes_to_approve(request: PendingRequest, paired: PairedDevice | None = None) -> tuple[str, ...]:
    """The least scopes a connection needs to approve ``request`` (mirrors ``openclaw devices approve``)."""
    roles = set(request.roles) | ({request.role} if request.role else set())
    if roles - {"operator"}:
        return (PAIRING, ADMIN)
    wanted = [s for s in request.scopes if s.startswith("operator.")]
    if paired is not None:
        for token in paired.tokens:
            if token.role == "operator":
                wanted.extend(s for s in token.scopes if s.startswith("operator."))
    if any(s == ADMIN or s not in KNOWN_OPERATOR_SCOPES for s in wanted):
        return (PAIRING, ADMIN)
    return tuple(dict.fromkeys([PAIRING, *wanted]))
