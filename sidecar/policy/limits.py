"""How often: churn and rate limits (held back, never rejected), and the dev-approve-all time box and cap.

All of it reads the immutable History with ``ctx.now_ms``; nothing here has a clock of its own.
"""

from __future__ import annotations

from sidecar.policy.context import Context, short
from sidecar.policy.decision import Outcome, hold, passed, skip


def check_churn(ctx: Context) -> Outcome:
    s = ctx.settings
    since = ctx.now_ms - s.rate_window_ms
    ids = ctx.history.request_ids_since(ctx.request.device_id, since) | {ctx.request.request_id}
    window = f"{s.rate_window_ms // 1000} s"
    if len(ids) > s.churn_threshold:
        return hold(
            f"device {short(ctx.request.device_id)} opened {len(ids)} pairing requests in {window} "
            f"(more than {s.churn_threshold}): held back",
            ctx.workload,
            requestIds=sorted(ids),
        )
    return passed(f"{len(ids)} request id(s) from this device in {window} (threshold {s.churn_threshold})")


def check_rate_limit(ctx: Context) -> Outcome:
    s, w = ctx.settings, ctx.workload
    assert w is not None, "check_rate_limit runs after the request is attributed"
    since, window = ctx.now_ms - s.rate_window_ms, f"{s.rate_window_ms // 1000} s"
    mine, total = ctx.history.approvals_since(since, w.id), ctx.history.approvals_since(since)
    if mine >= s.rate_limit_per_container:
        return hold(
            f"container {w.name} had {mine} approvals in {window} (limit {s.rate_limit_per_container})",
            w,
        )
    if total >= s.rate_limit_global:
        return hold(f"{total} approvals in {window} reached the global budget ({s.rate_limit_global})", w)
    return passed(f"{mine} approval(s) for the container and {total} in total in {window}")


# --- dev-approve-all -----------------------------------------------------------------------------------


def check_dev_window(ctx: Context) -> Outcome:
    s, h = ctx.settings, ctx.history
    ends = h.started_ms + s.dev_window_ms
    if ctx.now_ms > ends:
        return skip(
            f"dev-approve-all time box of {s.dev_window_ms // 1000} s after start is over (ended at {ends})"
        )
    return passed(f"inside the dev-approve-all time box of {s.dev_window_ms // 1000} s (ends at {ends})")


def check_dev_cap(ctx: Context) -> Outcome:
    s, h = ctx.settings, ctx.history
    if h.approved_total >= s.dev_max_approvals:
        return skip(f"dev-approve-all cap of {s.dev_max_approvals} approvals reached")
    return passed(f"{h.approved_total} of {s.dev_max_approvals} dev-approve-all approvals used")
