"""What the policy answers, and the small outcome values its checks return.

A :class:`Decision` is the whole answer for one pending request: the action, the *named* check that
decided it, a human reason (it goes verbatim into the audit log and ``explain``), and the evidence the
decision was based on. Checks return :class:`Outcome` values; the ladder turns the first non-passing
one into a Decision. Keeping these plain frozen values is what lets the policy be tested as a table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sidecar.sources.workloads import Workload


class Action(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    IGNORE = "ignore"


class Verdict(StrEnum):
    """How a check stops the ladder (the action follows from it and from the settings)."""

    PASS = "pass"  # noqa: S105 — go on to the next check (not a password)
    SKIP = "skip"  # not for us, or nothing to do (silent, expired, resolved, not ours) → ignore
    HOLD = "hold"  # ours, but not now (rate limits, churn, identity not readable yet) → ignore, retry later
    FAIL = "fail"  # a labelled container's request fails a check → reject (or ignore, per on_check_failure)


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    reason: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    workload: Workload | None = None  # the container the request was attributed to, once known
    transient: bool = False  # the same inputs may pass later (time windows); re-evaluate on every pass


def passed(reason: str, workload: Workload | None = None, /, **evidence: Any) -> Outcome:
    return Outcome(Verdict.PASS, reason, evidence, workload)


def skip(reason: str, workload: Workload | None = None, /, **evidence: Any) -> Outcome:
    return Outcome(Verdict.SKIP, reason, evidence, workload)


def hold(reason: str, workload: Workload | None = None, /, **evidence: Any) -> Outcome:
    return Outcome(Verdict.HOLD, reason, evidence, workload, transient=True)


def fail(reason: str, workload: Workload | None = None, /, **evidence: Any) -> Outcome:
    return Outcome(Verdict.FAIL, reason, evidence, workload)


@dataclass(frozen=True)
class Decision:
    """The policy's answer for one pending request.

    ``check`` names the check that decided (``all-passed`` for an approval); ``transient`` says the
    same inputs may decide differently later (rate limits, time windows), so callers re-evaluate instead
    of caching it.
    """

    action: Action
    check: str
    reason: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    workload: Workload | None = None
    transient: bool = False

    @property
    def acts(self) -> bool:
        """True when carrying it out needs an approve/reject RPC."""
        return self.action is not Action.IGNORE

    @property
    def key(self) -> tuple[str, str, str]:
        """What identifies a decision for de-duplication: same key, same audit line."""
        return (self.action.value, self.check, self.reason)

    def audit_action(self, trusted: bool) -> str:
        """The action as recorded: without the trusted flag, approve/reject become would-approve/-reject."""
        if trusted or not self.acts:
            return self.action.value
        return f"would-{self.action.value}"


APPROVED_CHECK = "all-passed"
