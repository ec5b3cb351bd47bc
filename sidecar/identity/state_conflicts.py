"""What both identity stores say when they refuse: the conflict message and the recovery for damage."""

from __future__ import annotations

from sidecar.errors import IdentityConflict

REGENERATE = (
    "run the entrypoint once with --regenerate (it moves the damaged identity aside, never deletes it)"
)


def conflict_error(where: str, current: str, wanted: str) -> IdentityConflict:
    """The state dir holds another device than the configured one: say which, and how to resolve it."""
    return IdentityConflict(
        f"{where} holds device {current}, but the configured identity is device {wanted}. "
        "Nothing was changed. To keep the configured one, set "
        "OPENCLAW_IDENTITY_ON_CONFLICT=replace-state (the old one is saved as *.replaced-<timestamp>); "
        "to keep the state's one, point OPENCLAW_DEVICE_ID at an empty slot (it is adopted there).",
        device_ids=(current, wanted),
    )
