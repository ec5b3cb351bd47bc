"""A pod's allowance from its annotations: roles, scopes and node commands (label values cannot hold
commas or "*", so pods carry them as ``openclaw.pairing/*`` annotations; the policy reads label keys)."""

from __future__ import annotations

from sidecar.sources.kubernetes.pods import pod_info, policy_labels


def pod(annotations: dict[str, str]) -> dict[str, object]:
    return {
        "metadata": {
            "name": "agent-0",
            "namespace": "agents",
            "uid": "u-1",
            "labels": {"openclaw.pairing.auto-approve": "true", "openclaw.pairing.roles": "operator"},
            "annotations": annotations,
        },
        "spec": {"serviceAccountName": "agent", "nodeName": "n1", "containers": []},
        "status": {"phase": "Running", "podIP": "10.0.0.7", "podIPs": [{"ip": "10.0.0.7"}]},
    }


def test_annotations_become_the_allowance_the_policy_reads() -> None:
    info = pod_info(
        pod(
            {
                "openclaw.pairing/roles": "node",
                "openclaw.pairing/scopes": "",
                "openclaw.pairing/node-commands": "*",
                "other/annotation": "ignored",
            }
        )
    )
    labels = policy_labels(
        info, "openclaw.pairing.roles", "openclaw.pairing.scopes", "openclaw.pairing.node-commands"
    )
    assert labels["openclaw.pairing.roles"] == "node"
    assert labels["openclaw.pairing.scopes"] == ""
    assert labels["openclaw.pairing.node-commands"] == "*"


def test_without_annotations_the_labels_stand() -> None:
    labels = policy_labels(pod_info(pod({})), "openclaw.pairing.roles", "openclaw.pairing.scopes")
    assert labels["openclaw.pairing.roles"] == "operator"
    assert "openclaw.pairing.node-commands" not in labels


def test_a_pod_counts_while_an_init_container_runs_so_pre_pairing_can_be_approved() -> None:
    """Pre-pairing runs in an init container: the pod is Pending then, with its IP, and must count."""
    initializing = pod({})
    initializing["status"] = {
        "phase": "Pending",
        "podIPs": [{"ip": "10.0.0.7"}],
        "initContainerStatuses": [
            {"name": "identity-init", "state": {"terminated": {"exitCode": 0}}},
            {"name": "prepair", "state": {"running": {"startedAt": "2026-12-06T05:00:00Z"}}},
        ],
    }
    assert pod_info(initializing).running
    waiting = dict(initializing, status={"phase": "Pending", "podIPs": [{"ip": "10.0.0.7"}]})
    assert not pod_info(waiting).running  # scheduled, nothing running yet
    no_ip = dict(initializing, status={**initializing["status"], "podIPs": []})  # type: ignore[dict-item]
    assert not pod_info(no_ip).running
    going = pod({})
    going["metadata"]["deletionTimestamp"] = "2026-12-06T05:00:00Z"  # type: ignore[index]
    assert not pod_info(going).running
    assert pod_info(pod({})).running
