"""Run every check, then read them together the way the seed's flowchart does.

The flowchart's first question is "which 1008 is it?": error A (no identity presented) or error B (an
identity presented, not approved). The second is "why here?" — and that answer comes from the other
checks, so the error's finding is built last, with what they saw:

- error A + a Control UI URL that is not a secure context → ``error-a.insecure-context``;
- error B + an identity that is not on a persistent mount (seen from inside the container, or from
  Docker) → ``error-b.new-device-per-redeploy``; the separate persistence finding is folded into it;
- error B's fix names the request to approve *now*: the pasted requestId, unless the gateway shows it
  was superseded (then the pairing check names the new one).

Exit codes: 1 when any error or warning is found, else 2 when something could not be checked (or
nothing at all was checkable), else 0.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sidecar.doctor.checks import Outcome, docker, hazards, identity, pairing, subagents, url
from sidecar.doctor.classify import Classification, classify, last_error_in
from sidecar.doctor.findings import Finding, finding
from sidecar.doctor.options import DoctorOptions

EXIT_HEALTHY, EXIT_FINDINGS, EXIT_UNCHECKED = 0, 1, 2
PERSISTENCE_IDS = ("identity.not-persistent", "docker.identity-in-writable-layer")
REDEPLOY_REASONS = (None, "not-paired")


@dataclass(frozen=True)
class Diagnosis:
    outcomes: tuple[Outcome, ...]
    classification: Classification | None = None

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for o in self.outcomes for f in o.findings)

    @property
    def exit_code(self) -> int:
        statuses = {o.status for o in self.outcomes}
        if "problems" in statuses:
            return EXIT_FINDINGS
        if "unchecked" in statuses or statuses <= {"skipped"}:
            return EXIT_UNCHECKED
        return EXIT_HEALTHY

    def outcome(self, name: str) -> Outcome | None:
        return next((o for o in self.outcomes if o.name == name), None)


def read_error(opts: DoctorOptions) -> tuple[Classification | None, str | None]:
    """The error to explain: ``--error``, else the latest refusal in the ``--log`` files."""
    if opts.error_text:
        return classify(opts.error_text), None
    for path in opts.log_files:
        try:
            text = path.read_text(errors="replace")
        except OSError as exc:
            return None, f"cannot read --log {path}: {exc.strerror}"
        found = last_error_in(text)
        if found is not None:
            return found, None
    if opts.log_files:
        return None, "no current connect error in " + ", ".join(map(str, opts.log_files))
    return None, None


def _take(outcomes: list[Outcome], ids: tuple[str, ...]) -> tuple[Finding, Outcome] | None:
    """Remove the first finding with one of ``ids`` (it is folded into another); also its outcome."""
    for i, outcome in enumerate(outcomes):
        for f in outcome.findings:
            if f.id in ids:
                outcomes[i] = replace(outcome, findings=tuple(x for x in outcome.findings if x is not f))
                return f, outcome
    return None


def error_finding(c: Classification, outcomes: list[Outcome], opts: DoctorOptions) -> Finding:
    """The finding for the pasted/logged error, specialised by what the other checks saw."""
    seen = c.text if len(c.text) <= 300 else c.text[:300] + "…"
    ui = next((o for o in outcomes if o.name == "url" and o.skipped is None), None)
    secure_url = (
        str(ui.facts.get("secure_url", "http://localhost:18789/")) if ui else "http://localhost:18789/"
    )
    request_id = c.request_id or pairing.UNKNOWN_REQUEST
    if c.is_error_a:
        insecure = _take(outcomes, ("url.insecure-context",))
        if insecure is not None:
            return finding("error-a.insecure-context", f"{seen}; {insecure[0].seen}", secure_url=secure_url)
        return finding(c.finding_id, seen, secure_url=secure_url)
    if c.is_error_b and c.reason in REDEPLOY_REASONS:
        lost = _take(outcomes, PERSISTENCE_IDS)
        if lost is not None:
            path = lost[1].facts.get("persist_path") or opts.identity_dir or opts.state_dir
            return finding(
                "error-b.new-device-per-redeploy", f"{seen}; {lost[0].seen}", path=path, request_id=request_id
            )
    ident = next((o for o in outcomes if o.name == "identity"), None)
    device_id = (ident.facts.get("device_id") if ident else None) or opts.device_id or "<deviceId>"
    return finding(
        c.finding_id,
        seen,
        request_id=request_id,
        device_id=device_id,
        scope=c.scope or "operator.pairing",
        secure_url=secure_url,
    )


def diagnose(opts: DoctorOptions, now_ms: int | None = None) -> Diagnosis:
    classification, log_problem = read_error(opts)
    outcomes: list[Outcome] = [url.check(opts.ui_url), identity.check(opts), subagents.check(opts)]
    device_id = opts.device_id or outcomes[1].facts.get("device_id")
    request_id = opts.request_id or (classification.request_id if classification else None)
    outcomes.append(pairing.check(opts, device_id, request_id, now_ms))
    outcomes.append(docker.check(opts))
    outcomes.append(hazards.check(opts))
    if classification is not None:
        outcomes.insert(0, Outcome("error", (error_finding(classification, outcomes, opts),)))
    elif log_problem is not None:
        outcomes.insert(0, Outcome("error", skipped=log_problem))
    else:
        outcomes.insert(0, Outcome("error", skipped="no --error text and no --log given"))
    return Diagnosis(tuple(outcomes), classification)
