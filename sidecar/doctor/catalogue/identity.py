"""The identity on disk: present, valid, in the storage the agent reads, persistent, private."""

from __future__ import annotations

from sidecar.doctor.finding import PERSIST_HINT, Entry

ENTRIES = (
    # --- identity ----------------------------------------------------------------------------------------
    Entry(
        "identity.missing",
        "error",
        "identity",
        "No device identity exists yet",
        "Without a stored identity the agent (or OpenClaw itself) makes a new key on start; if that key is "
        "not kept, every start is a new device.",
        "run `openclaw-entrypoint --init-only` (or `openclaw-sidecar doctor --fix`) to create it in {path}",
        fixable=True,
    ),
    Entry(
        "identity.corrupt",
        "error",
        "identity",
        "The stored identity is damaged",
        "OpenClaw 2026.6+ does not repair a damaged identity: it runs with a throw-away key, so every "
        "start is a new device. The file was left as it is.",
        "{recovery}",
    ),
    Entry(
        "identity.conflict",
        "error",
        "identity",
        "The slot and the agent's state dir hold different devices",
        "openclaw-entrypoint refuses to start rather than pick one: the approved device could be either.",
        "keep the slot's device: set OPENCLAW_IDENTITY_ON_CONFLICT=replace-state (the state's identity is "
        "saved as *.replaced-<timestamp>); keep the state's device: point OPENCLAW_DEVICE_ID at an empty "
        "slot (it is adopted there)",
    ),
    Entry(
        "identity.not-adopted",
        "warning",
        "identity",
        "The state dir has an identity but the identity slot is empty",
        "The key lives only in the agent's state dir; the slot on the identity volume is what survives a "
        "new container.",
        "run `openclaw-entrypoint --init-only` (or doctor --fix) to adopt it into {path}",
        fixable=True,
    ),
    Entry(
        "identity.not-materialized",
        "warning",
        "identity",
        "The slot's identity is not in the agent's state dir",
        "OpenClaw reads its identity only from its state dir; until the entrypoint writes it there, the "
        "agent makes a new key.",
        "start the agent through openclaw-entrypoint, or run `openclaw-entrypoint --init-only` (or doctor "
        "--fix) to write it into {path}",
        fixable=True,
    ),
    Entry(
        "identity.not-published",
        "warning",
        "identity",
        "The public identity (device.pub.json) is missing or stale",
        "openclaw-sidecar approves a request only if it matches the identity the container publishes; "
        "without it the request is never approved automatically.",
        "run `openclaw-entrypoint --init-only` (or doctor --fix) to publish {path}",
        fixable=True,
    ),
    Entry(
        "identity.not-persistent",
        "warning",
        "identity",
        "The identity is not on a persistent mount",
        "A directory in the container's writable layer or on tmpfs is lost when the container is recreated: "
        "the next container is a new device that needs a new approval (error B after every redeploy).",
        PERSIST_HINT,
    ),
    Entry(
        "identity.wrong-owner",
        "error",
        "identity",
        "Identity files are not owned by the agent user",
        "The agent (uid {uid}) must read its key; a key it cannot read makes OpenClaw 2026.6+ use a "
        "throw-away key, i.e. a new device on every start.",
        "chown {uid}:{gid} {paths} (or run openclaw-entrypoint as root with OPENCLAW_UID/OPENCLAW_GID, or "
        "doctor --fix as root)",
        fixable=True,
    ),
    Entry(
        "identity.unsafe-mode",
        "warning",
        "identity",
        "Identity files or their directories are open to other users",
        "The private key lets anyone act as this approved device; key files must be 0600 and their "
        "directories not writable by others.",
        "{commands} (or doctor --fix)",
        fixable=True,
    ),
    Entry(
        "identity.legacy-json-in-sqlite-state",
        "error",
        "identity",
        "A legacy identity/device.json sits in a 2026.8+ state dir",
        "OpenClaw 2026.8+ keeps the identity in state/openclaw.sqlite; while identity/device.json exists its "
        "writable loaders refuse to start ('Legacy device identity exists at ... Run \"openclaw doctor "
        "--fix\"').",
        "openclaw-sidecar doctor --fix (imports it into the SQLite row, verifies it, then moves the JSON "
        "aside), or `openclaw doctor --fix --non-interactive` with OPENCLAW_STATE_DIR={state_dir}",
        fixable=True,
    ),
    Entry(
        "identity.legacy-conflict",
        "error",
        "identity",
        "identity/device.json and the SQLite identity are different devices",
        "OpenClaw 2026.9 uses the SQLite identity and keeps the JSON; other 2026.8+ commands refuse to "
        "start while the JSON exists. Which device was approved decides which one to keep.",
        "keep the SQLite device: move {path} out of the state dir; keep the JSON device: set "
        "OPENCLAW_IDENTITY_ON_CONFLICT=replace-state and restart through openclaw-entrypoint",
    ),
    Entry(
        "identity.sqlite-in-json-era",
        "error",
        "identity",
        "The identity is only in SQLite, but the installed OpenClaw reads identity/device.json",
        "OpenClaw up to 2026.7 ignores the SQLite identity and generates a random key: a new device on "
        "every start.",
        "doctor --fix writes the same key to {path}; or set OPENCLAW_IDENTITY_FORMAT=json for "
        "openclaw-entrypoint",
        fixable=True,
    ),
    Entry(
        "identity.format-unknown",
        "warning",
        "identity",
        "The OpenClaw version, and so the identity storage, is unknown",
        "OpenClaw up to 2026.7 reads identity/device.json, 2026.8+ the SQLite state; writing the wrong one "
        "means a new device (or a refused start), so the entrypoint refuses to guess.",
        "set OPENCLAW_VERSION (e.g. 2026.9.6) or OPENCLAW_IDENTITY_FORMAT=sqlite|json in the agent's "
        "environment",
    ),
    Entry(
        "identity.config-invalid",
        "error",
        "identity",
        "The identity settings are invalid",
        "openclaw-entrypoint validates its settings before touching a key and refuses to start when "
        "they are wrong or contradict each other.",
        "{message}",
    ),
)
