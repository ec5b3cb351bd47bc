"""Refused connections: error A (device identity required), error B (pairing required), others, URLs."""

from __future__ import annotations

from sidecar.doctor.finding import APPROVE_HINT, PERSIST_HINT, Entry

ENTRIES = (
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
        "gateway.state-disk-full",
        "error",
        "connection",
        "The gateway cannot write its state: its state volume (SQLite) is full",
        "OpenClaw keeps pairing state in SQLite on its state volume. When that is full the gateway keeps "
        "running and reports healthy, but it cannot store a pairing request: a new device's connect is "
        "closed with code 1000 and no reason, device.pair.list answers UNAVAILABLE, and its log says "
        "`database or disk is full` once, then `Device pairing read publication was replaced` on every "
        "attempt (2026.9.6). No request is created, so nothing can be approved, by hand or by the sidecar. "
        "The sidecar (`device.pair.list failed: ... (UNAVAILABLE)`) and identity-init (`not answering yet "
        "(GatewayClosed ... code 1000 ...)`) do not name the disk.",
        "free space on the gateway's state volume (compose: volume gateway-state at /home/node/.openclaw; "
        "see how full: `cd compose && docker compose exec openclaw-gateway df -h /home/node/.openclaw`; a "
        "named volume lives on the host's Docker disk, `df -h /var/lib/docker`). Do not delete "
        "state/openclaw.sqlite* (the paired devices). Nothing else is needed: once the gateway can write "
        "again the sidecar approves the next request by itself (seconds; the gateway may go on answering "
        "`Device pairing read publication was replaced` for up to a minute after space is back, no restart "
        "needed). An identity-init that waited longer than OPENCLAW_PREPAIR_TIMEOUT (120 s) has exited 7: "
        "run `cd compose && docker compose up -d` again. See docs/deployment.md, Known limits",
    ),
    Entry(
        "gateway.owner-lease-held",
        "error",
        "connection",
        "The gateway will not start: a dead gateway's owner lease is still in its state",
        "OpenClaw 2026.9 records which process owns its state directory: a lease in its SQLite state, "
        "renewed every 30 s and valid for 5 min. A gateway that ended without releasing it (kill -9, OOM, an "
        "engine or host crash) leaves it behind, and a successor takes it over at once only under the same "
        "host name, once it sees the old process is gone. A container's default host name is its id, new on "
        "every recreate (openclaw/openclaw#155644): the recreated gateway exits with `Another Gateway owner "
        "lease is still active` and restarts until the lease expires, up to 5 min. It is also what a "
        "second gateway on the same state directory rightly gets.",
        "nothing to delete: the lease expires by itself within 5 min of the dead gateway's last heartbeat, "
        "and `make up` waits for that. To stop it recurring, run the gateway under a fixed host name: this "
        "project's compose file (`hostname: openclaw-gateway`) and Kubernetes manifest do; add the line to a "
        "compose file of your own. If another gateway really runs on the same state (this project's stack: "
        "`docker ps --filter volume=openclaw-pairing_gateway-state`), stop one of them. Never delete "
        "state/openclaw.sqlite* (the paired devices)",
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
)
