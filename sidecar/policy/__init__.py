"""The approval policy: pure (request, workloads, paired, settings, history, now) → Decision.

No I/O and no clock anywhere in this package; see ``ladder.decide`` and docs/policy.md.
"""

from sidecar.policy.decision import Action, Decision
from sidecar.policy.history import History
from sidecar.policy.ladder import LADDERS, decide

__all__ = ["LADDERS", "Action", "Decision", "History", "decide"]
