"""Around the agent: the gateway's pairing state, Docker, sub-agents, config and script hazards."""

from __future__ import annotations

from sidecar.doctor.finding import APPROVE_HINT, PERSIST_HINT, Entry

ENTRIES = (
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
        "pairing.node-commands-pending",
        "error",
        "pairing",
        "The node is paired, but its commands await approval",
        "Since OpenClaw 2026.3.31 a node host's declared commands (its capability surface) need their own "
        "approval after the device pairing; until then the node is connected but every command is dropped "
        "(its log says `node capability surface is awaiting operator approval`).",
        "on the gateway host: openclaw nodes approve {request_id} (or `openclaw-sidecar nodes approve "
        "{request_id}`). To let openclaw-sidecar approve it: label the container "
        "openclaw.pairing.node-commands with the commands it may have (or *), and for admin-sensitive ones "
        "(system.run, system.which, browser.proxy, fs.listDir, ...) also set "
        "OPENCLAW_PAIRING_ALLOW_NODE_ADMIN_COMMANDS=true on the sidecar",
    ),
    Entry(
        "pairing.node-commands-rejected",
        "error",
        "pairing",
        "The node's commands were refused (or their request expired)",
        "The node is paired and connected, but its capability surface is not approved and no request is "
        "pending: it was rejected (the sidecar rejects a surface that declares commands beyond the "
        "container's label) or it expired after 5 minutes. Its commands stay disabled.",
        "read why: `docker compose logs pairing-sidecar | grep node-commands` (the audit record's reason "
        "names the commands beyond the label); widen the label openclaw.pairing.node-commands (or set "
        "OPENCLAW_PAIRING_ALLOW_NODE_ADMIN_COMMANDS=true for admin-sensitive ones), then restart the node "
        "so it asks again, and approve: openclaw nodes approve <requestId>",
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
