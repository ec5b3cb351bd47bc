"""The finding catalogue: every problem ``doctor`` can report, with a stable id, why it matters and the fix.

Why a catalogue rather than messages scattered through the checks: the ids are a contract (scripts match
``--json`` output on them, ``docs/troubleshooting.md`` is generated from this table, and a unit test fails
when the two drift). A check only says *what it saw* and fills the placeholders of the fix; the words
that explain a problem live here, once.

Severity: ``error`` (this breaks pairing now, or explains the error the user pasted), ``warning`` (it will
break later: the next redeploy, the next upgrade), ``info`` (a fact worth knowing, never a failure) and
``unchecked`` (doctor could not look: the gateway or Docker was unreachable, the text was not recognised).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SEVERITIES = ("error", "warning", "info", "unchecked")
PROBLEM_SEVERITIES = frozenset({"error", "warning"})


@dataclass(frozen=True)
class Entry:
    """One catalogue row. ``fix`` is a template; ``{name}`` placeholders are filled by the check."""

    id: str
    severity: str
    section: str
    title: str
    why: str
    fix: str
    fixable: bool = False  # `doctor --fix` repairs it (only safe, local changes; never an approval)

    def placeholders(self) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(self.fix) if name}


@dataclass(frozen=True)
class Finding:
    """One problem seen on this system: the catalogue row plus what was seen and the concrete fix."""

    id: str
    severity: str
    title: str
    seen: str
    why: str
    fix: str
    fixable: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": self.severity,
            "title": self.title,
            "seen": self.seen,
            "why": self.why,
            "fix": self.fix,
            "fixable": self.fixable,
        }

    @property
    def is_problem(self) -> bool:
        return self.severity in PROBLEM_SEVERITIES


SECTIONS = {
    "error-a": "Error A: 1008 device identity required",
    "error-b": "Error B: 1008 pairing required",
    "connection": "Other connection refusals",
    "url": "Secure context",
    "identity": "Identity on disk",
    "pairing": "Pairing state at the gateway",
    "docker": "Docker",
    "subagent": "Sub-agents",
    "hazard": "Config and script hazards",
}

APPROVE_HINT = (
    "on the gateway host: openclaw devices approve {request_id} (the exact id; `--latest` only previews "
    "since 2026.4). To automate it for labelled containers, run openclaw-sidecar with "
    "OPENCLAW_TRUSTED_ENV=1 and label the agent container openclaw.pairing.auto-approve=true"
)
PERSIST_HINT = (
    'mount a volume at {path} (compose: `volumes: ["openclaw-identity:{path}"]`) and recreate the '
    "container; the identity created there is kept across `docker compose up --force-recreate`, so the "
    "device is approved once"
)

_ENTRIES = (
    # --- error A ---------------------------------------------------------------------------------------
    Entry(
        "error-a.insecure-context",
        "error",
        "error-a",
        "Error A: the browser made no device identity (insecure context)",
        "Browsers create the Control UI's device identity (WebCrypto) only in a secure context: https:// or "
        "localhost. Opened over plain http://<LAN IP>:18789 the UI connects without one and the gateway "
        "closes with 1008. Nothing is pending, so there is nothing to approve.",
        "open the Control UI over HTTPS (gateway.tls, or an HTTPS reverse proxy listed in "
        "gateway.trustedProxies) or through localhost: `ssh -N -L 18789:127.0.0.1:18789 <gateway host>`, "
        "then {secure_url}. Do not rely on gateway.controlUi.dangerouslyDisableDeviceAuth (ignored since "
        "2026.8)",
    ),
    Entry(
        "error-a.device-identity-required",
        "error",
        "error-a",
        "Error A: the client connected without a device identity",
        "The gateway requires a signed device identity for this connection and none was presented. It is "
        "not a pairing problem: no request was created, so approving cannot help.",
        "a browser: use https:// or http://localhost (see error-a.insecure-context); an agent or script: "
        "give it a persistent identity (openclaw-entrypoint with OPENCLAW_IDENTITY_DIR on a volume) so "
        "it presents one",
    ),
    # --- error B ---------------------------------------------------------------------------------------
    Entry(
        "error-b.pairing-required",
        "error",
        "error-b",
        "Error B: the device is not approved yet",
        "The client presented a device identity that the gateway has not approved, so the gateway created "
        "a pending request. Requests expire after 5 minutes, and a retry asking for another role or "
        "other scopes replaces the request id (2026.6+).",
        APPROVE_HINT,
    ),
    Entry(
        "error-b.new-device-per-redeploy",
        "error",
        "error-b",
        "Error B after every redeploy: the identity lives in the container's writable layer",
        "Each new container starts without the old key and generates a new one: a new device, a new "
        "pairing request, and old entries piling up on the gateway. Approving again only lasts until the "
        "next redeploy.",
        PERSIST_HINT + "; then approve it once: openclaw devices approve {request_id} on the gateway host "
        "(or let openclaw-sidecar approve labelled containers)",
    ),
    Entry(
        "error-b.role-upgrade",
        "error",
        "error-b",
        "Error B (role upgrade): the paired device asks for a higher role",
        "The device is paired, but this connection asked for a role it was not approved for; the gateway "
        "keeps the old approval and opened a repair request for the new role.",
        "if the new role is intended, " + APPROVE_HINT + "; otherwise connect with the approved role",
    ),
    Entry(
        "error-b.scope-upgrade",
        "error",
        "error-b",
        "Error B (scope upgrade): the paired device asks for more scopes",
        "The device is paired, but this connection asked for scopes beyond those approved; a repair "
        "request was opened for the extra scopes (a device cannot approve its own upgrade).",
        "if the extra scopes are intended, " + APPROVE_HINT + "; otherwise request only the approved "
        "scopes (label openclaw.pairing.scopes says what the sidecar may grant)",
    ),
    Entry(
        "error-b.metadata-upgrade",
        "error",
        "error-b",
        "Error B (metadata upgrade): the device's platform or family changed",
        "client.platform and client.deviceFamily are pinned at approval; a connection reporting "
        "different values must be approved again.",
        "keep client.platform/client.deviceFamily stable across restarts (same image, same client); to "
        "accept the change, " + APPROVE_HINT,
    ),
    # --- other refusals ----------------------------------------------------------------------------------
    Entry(
        "auth.token-mismatch",
        "error",
        "connection",
        "The shared gateway token is missing or wrong",
        "The gateway checks the shared token before anything else; with a wrong or missing token no "
        "device is even looked at, so no pairing request exists.",
        "set OPENCLAW_GATEWAY_TOKEN (or --token) to the gateway's gateway.auth.token (on the gateway host: "
        "`openclaw config get gateway.auth.token`); if the gateway's token was rotated, restart the clients "
        "with the new one",
    ),
    Entry(
        "auth.device-token-mismatch",
        "error",
        "connection",
        "The device token stored by the client is no longer valid",
        "After approval the gateway issues a per-device token; it was rotated or revoked on the gateway, "
        "or the client kept a token of another gateway.",
        "reconnect with the shared token (OPENCLAW_GATEWAY_TOKEN), or re-issue the device token on the "
        "gateway host: openclaw devices rotate --device {device_id} --role operator",
    ),
    Entry(
        "auth.missing-scope",
        "error",
        "connection",
        "The connection lacks a scope the call needs",
        "Since 2026.6 a client connecting from another host without a device identity is admitted with no "
        "scopes at all; only loopback cli/backend clients keep theirs. Approvers also need every scope "
        "they grant.",
        "run the command on the gateway host (loopback), or connect with an approved device identity that "
        "holds {scope}",
    ),
    Entry(
        "control-ui.origin-not-allowed",
        "error",
        "connection",
        "The Control UI was opened from an origin the gateway does not allow",
        "The gateway checks the browser's Origin against gateway.controlUi.allowedOrigins before any "
        "device check.",
        "open the Control UI from the gateway host, or add its origin: openclaw config set "
        "gateway.controlUi.allowedOrigins '[\"https://<host>\"]'",
    ),
    Entry(
        "device-auth.clock-skew",
        "error",
        "connection",
        "Device signature expired: the clocks differ by more than 2 minutes",
        "The connect signature carries a timestamp the gateway accepts only within 120 s of its own clock.",
        "synchronise the clocks of the client and the gateway host (NTP, e.g. `timedatectl set-ntp true`)",
    ),
    Entry(
        "device-auth.invalid",
        "error",
        "connection",
        "The device signature or key was rejected",
        "The device id must be the SHA-256 of the public key and the signature must verify; otherwise the "
        "gateway refuses before pairing is considered. A hand-edited or half-copied identity does this.",
        "restore the identity from its slot or a backup (openclaw-entrypoint --show prints the one in "
        "use); never edit deviceId or the keys by hand",
    ),
    Entry(
        "protocol.mismatch",
        "error",
        "connection",
        "Client and gateway speak no common protocol version",
        "OpenClaw 2026.2.x speaks protocol 3; 2026.6 and later require 4 (close 1002 'protocol mismatch').",
        "upgrade the older side so that both are 2026.6 or later (or both 2026.2.x)",
    ),
    Entry(
        "gateway.starting",
        "info",
        "connection",
        "The gateway is still starting",
        "2026.8+ gateways refuse connections (close 1013) until their start-up finishes; it is transient.",
        "retry in a few seconds; if it persists, read the gateway log for the step that hangs",
    ),
    Entry(
        "gateway.unreachable",
        "unchecked",
        "connection",
        "The gateway could not be reached",
        "Without a connection doctor cannot see the pairing state, and no client can pair either.",
        "check the URL (OPENCLAW_GATEWAY_URL or --gateway-url, default ws://127.0.0.1:18789) and that the "
        "gateway runs and listens there (`openclaw health` on the gateway host)",
    ),
    Entry(
        "url.plaintext-ws-refused",
        "error",
        "connection",
        "The OpenClaw client refused plaintext ws:// to a non-loopback host",
        "OpenClaw clients send the shared token and device proof in the clear over ws://, so they refuse it "
        "to anything but loopback unless told otherwise.",
        "use wss:// (gateway.tls or a TLS proxy); on a private network only, set "
        "OPENCLAW_ALLOW_INSECURE_PRIVATE_WS=1 for the client",
    ),
    Entry(
        "error.unrecognized",
        "unchecked",
        "connection",
        "The error text was not recognised",
        "Doctor knows the refusals of OpenClaw 2026.2 to 2026.9; this text matches none of them.",
        "paste the full line, including the close code (e.g. 'disconnected (1008): ...') and any "
        "requestId, or run doctor without --error to check the setup",
    ),
    # --- secure context ----------------------------------------------------------------------------------
    Entry(
        "url.insecure-context",
        "warning",
        "url",
        "The Control UI URL is not a secure context",
        "A browser on this URL creates no device identity, so the Control UI fails with error A "
        "('device identity required').",
        "use https:// or a localhost URL instead: {secure_url} (via `ssh -N -L "
        "18789:127.0.0.1:18789 <gateway host>`)",
    ),
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
    # --- pairing -----------------------------------------------------------------------------------------
    Entry(
        "pairing.paired",
        "info",
        "pairing",
        "The device is paired",
        "The gateway knows this device; connections asking for no more than its roles and scopes are "
        "admitted without a new request.",
        "nothing to do",
    ),
    Entry(
        "pairing.pending",
        "error",
        "pairing",
        "The device has a pending pairing request",
        "Until it is approved the device is refused with error B; the request expires 5 minutes after it "
        "was made (or last refreshed).",
        APPROVE_HINT,
    ),
    Entry(
        "pairing.superseded",
        "error",
        "pairing",
        "The requestId from the error was superseded by a newer request",
        "Since 2026.6 a device that retries with another role or other scopes gets a new requestId and "
        "the old one is dropped; approving the old id fails with 'No pending device request matches'.",
        "approve the current request instead: openclaw devices approve {request_id}",
    ),
    Entry(
        "pairing.request-gone",
        "warning",
        "pairing",
        "The requestId is no longer pending",
        "Pending requests expire after 5 minutes and rejected ones are deleted; approving it now fails.",
        "restart (or reconnect) the agent so it asks again, then approve the new request within 5 minutes "
        "(`openclaw devices list` shows it), or let openclaw-sidecar approve labelled containers",
    ),
    Entry(
        "pairing.unknown-device",
        "error",
        "pairing",
        "The gateway has no record of this device",
        "It is neither paired nor pending: the agent never connected with this identity, its request "
        "expired, or the agent actually uses another key (identity not where OpenClaw reads it).",
        "check that the agent presents device {device_id} (openclaw-entrypoint --show), restart it so it "
        "connects, and approve its request",
    ),
    Entry(
        "pairing.cannot-list",
        "unchecked",
        "pairing",
        "Doctor could not read the gateway's pairing list",
        "Listing needs operator.pairing: the gateway grants it to token-only clients on its loopback "
        "(the gateway host, the sidecar's network namespace) or to an approved device.",
        "run doctor on the gateway host or in the sidecar container, or pass --pairing-state-dir with an "
        "approved identity holding operator.pairing",
    ),
    # --- docker ------------------------------------------------------------------------------------------
    Entry(
        "docker.cannot-inspect",
        "unchecked",
        "docker",
        "Doctor could not inspect the container",
        "The Docker checks read the container's mounts, labels and environment through the Docker API.",
        "check the container name and that the Docker socket is reachable (DOCKER_HOST, "
        "/var/run/docker.sock)",
    ),
    Entry(
        "docker.identity-in-writable-layer",
        "error",
        "docker",
        "The container keeps its identity in its writable layer",
        "`docker compose up --force-recreate` (or any new image) replaces the writable layer: the next "
        "container is a new device, refused with error B until approved again.",
        PERSIST_HINT,
    ),
    Entry(
        "docker.identity-on-anonymous-volume",
        "warning",
        "docker",
        "The identity is on an anonymous volume",
        "Compose carries anonymous volumes over on --force-recreate, but `docker compose down -v`, "
        "`up -V` or `docker rm -v` drop them, and with them the approved device.",
        'use a named volume: `volumes: ["openclaw-identity:{path}"]`',
    ),
    Entry(
        "docker.missing-opt-in-label",
        "warning",
        "docker",
        "The container does not carry the opt-in label",
        "openclaw-sidecar only ever approves containers labelled openclaw.pairing.auto-approve=true; this "
        "one's requests wait for a manual approval.",
        'add to the service: `labels: {{openclaw.pairing.auto-approve: "true"}}` and recreate it',
    ),
    Entry(
        "docker.bad-identity-path-label",
        "error",
        "docker",
        "The openclaw.pairing.identity-path label is unusable",
        "The sidecar reads only an absolute, normalized *.pub.json path; anything else is refused, so the "
        "container is never approved.",
        "set the label to the published file, e.g. /home/node/.openclaw/identity/device.pub.json",
    ),
    Entry(
        "docker.published-identity-missing",
        "error",
        "docker",
        "The sidecar cannot read a valid published identity from the container",
        "Approval requires the pending request to match the identity the container publishes; without "
        "it the sidecar never approves.",
        "start the agent through openclaw-entrypoint (it publishes {path}), or point the label "
        "openclaw.pairing.identity-path at the file it publishes",
    ),
    Entry(
        "docker.identity-storage-mismatch",
        "error",
        "docker",
        "The identity was written for storage the container's OpenClaw release does not read",
        "identity-init writes the key where the release named by OPENCLAW_VERSION reads it "
        "(identity/device.json up to 2026.7, state/openclaw.sqlite from 2026.8). An agent on a release "
        "across that line finds no identity, creates its own key and asks to pair with it; the sidecar "
        "rejects that request, because it is not the key the container publishes.",
        "set OPENCLAW_VERSION={release} (compose/.env, or the identity-init container's environment), then "
        "`docker compose up -d --force-recreate identity-init agent`",
    ),
    Entry(
        "docker.no-sidecar",
        "warning",
        "docker",
        "No openclaw-sidecar container is running",
        "The container opts in to automatic approval, but nothing is running that would approve it.",
        "start the sidecar (`docker compose up -d <sidecar service>`, command `openclaw-sidecar run`)",
    ),
    Entry(
        "docker.sidecar-unhealthy",
        "error",
        "docker",
        "The openclaw-sidecar container is not healthy",
        "An unhealthy sidecar is not approving: its loop is stuck or it cannot reach the gateway.",
        "read `docker logs {container}` and its /readyz (which check fails: gateway, docker)",
    ),
    Entry(
        "docker.sidecar-untrusted",
        "error",
        "docker",
        "The sidecar runs without OPENCLAW_TRUSTED_ENV",
        "Without the trusted flag the sidecar only reports what it would approve and approves nothing "
        "(fail closed).",
        'in a trusted environment only, set `OPENCLAW_TRUSTED_ENV: "1"` in the environment of '
        "{container} and recreate it",
    ),
    Entry(
        "docker.sidecar-other-project",
        "warning",
        "docker",
        "The sidecar approves another compose project",
        "By default the sidecar considers only containers of its own compose project.",
        "run the agent in project {project}, or set OPENCLAW_PAIRING_PROJECT on the sidecar to the agent's "
        "project (or '*' for every project)",
    ),
    # --- sub-agents --------------------------------------------------------------------------------------
    Entry(
        "subagent.inherits-parent",
        "info",
        "subagent",
        "This agent presents its parent's device",
        "With OPENCLAW_INHERIT_PARENT_DEVICE=1 the sub-agent needs no approval of its own, but the gateway "
        "sees one device: same roles and scopes as the parent, and removing or rotating the device affects "
        "both. OpenClaw itself has no such setting; it is this project's.",
        "nothing to do if that is intended; to give the sub-agent its own device, unset "
        "OPENCLAW_INHERIT_PARENT_DEVICE and set OPENCLAW_IDENTITY_DIR (it then needs its own approval)",
    ),
    Entry(
        "subagent.parent-identity-missing",
        "error",
        "subagent",
        "The parent's identity is not available to inherit",
        "openclaw-entrypoint refuses to start a sub-agent that should present its parent's device when "
        "the parent's slot is not mounted (it never invents a device for it).",
        "mount the parent agent's slot directory (OPENCLAW_IDENTITY_DIR/<slot> of the parent) read-only at "
        "{path}, after the parent has started once",
    ),
    Entry(
        "subagent.parent-writable",
        "warning",
        "subagent",
        "The parent's identity is mounted writable into the sub-agent",
        "The sub-agent only needs to read the parent's key; a writable mount lets it replace the parent's "
        "identity.",
        "mount {path} read-only (`:ro`)",
    ),
    # --- hazards -----------------------------------------------------------------------------------------
    Entry(
        "config.dangerously-disable-device-auth",
        "warning",
        "hazard",
        "gateway.controlUi.dangerouslyDisableDeviceAuth is retired",
        "It is ignored since 2026.8 (openclaw doctor removes it): a setup that relied on it gets error A "
        "again after an upgrade.",
        "remove it from {location} and open the Control UI over https:// or localhost",
    ),
    Entry(
        "config.inherit-parent-device-key",
        "error",
        "hazard",
        "gateway.session.inheritParentDevice does not exist",
        "OpenClaw has no such setting; its config schema is closed, so an unknown key makes the config "
        "invalid and never shares a device.",
        "remove it from {location}; for sub-agents use this project's OPENCLAW_INHERIT_PARENT_DEVICE=1 with "
        "openclaw-entrypoint",
    ),
    Entry(
        "script.approve-latest",
        "error",
        "hazard",
        "A script relies on `openclaw devices approve` without a requestId (or with --latest)",
        "Since 2026.4 it only previews the newest request and exits 1: the script approves nothing.",
        "approve the exact id (`openclaw devices approve <requestId>`, ids from `openclaw devices list "
        "--json`) in {location}, or let openclaw-sidecar approve labelled containers",
    ),
    Entry(
        "script.approve-all",
        "error",
        "hazard",
        "A script uses `openclaw devices approve --all`, which never existed",
        "OpenClaw exits 1 with 'OpenClaw does not recognize option \"--all\".': nothing is approved.",
        "in {location}, approve exact ids, or run openclaw-sidecar, which approves only labelled containers "
        "whose published identity matches",
    ),
    Entry(
        "compose.app-openclaw-device-mount",
        "warning",
        "hazard",
        "A volume is mounted at /app/.openclaw, which OpenClaw never reads",
        "/app is the image's code dir; the state dir (and so the identity) is /home/node/.openclaw. The "
        "mount persists nothing and the identity is lost on recreate.",
        "in {location}, mount the volume at /home/node/.openclaw (or at OPENCLAW_IDENTITY_DIR)",
    ),
)

CATALOGUE: Mapping[str, Entry] = {entry.id: entry for entry in _ENTRIES}


def finding(finding_id: str, seen: str, **params: object) -> Finding:
    """Build a finding from the catalogue; every placeholder of the fix must be given (KeyError if not)."""
    entry = CATALOGUE[finding_id]
    values = {k: str(v) for k, v in params.items()}
    fix = entry.fix.format(**values)
    why = entry.why.format(**values)  # placeholders in the explanation too: never a literal "{uid}"
    return Finding(entry.id, entry.severity, entry.title, seen, why, fix, entry.fixable)
