"""The finding catalogue is a contract: stable ids, known severities, the generated troubleshooting page."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from sidecar.doctor import catalogue_md, fix
from sidecar.doctor.findings import CATALOGUE, SECTIONS, SEVERITIES, finding

ROOT = Path(__file__).resolve().parents[2]
ID_RE = re.compile(r"^[a-z][a-z-]*\.[a-z][a-z0-9-]*$")


def test_troubleshooting_page_is_generated_from_the_catalogue() -> None:
    committed = (ROOT / "docs" / "troubleshooting.md").read_text()
    assert committed == catalogue_md.render(), (
        "docs/troubleshooting.md is out of date: run "
        "`python -m sidecar.doctor.catalogue_md > docs/troubleshooting.md`"
    )


def test_every_entry_is_well_formed() -> None:
    for entry_id, entry in CATALOGUE.items():
        assert ID_RE.match(entry_id), entry_id
        assert entry.severity in SEVERITIES, entry_id
        assert entry.section in SECTIONS, entry_id
        assert entry.title, entry_id
        assert entry.why, entry_id
        assert entry.fix, entry_id
        assert not entry.fixable or entry.severity in ("error", "warning"), entry_id
        params = {name: f"<{name}>" for name in entry.placeholders()}
        made = finding(entry_id, "seen", **params)
        assert "{" not in made.fix.replace("{openclaw", ""), (entry_id, made.fix)


def test_the_seed_findings_exist() -> None:
    for required in (
        "error-a.insecure-context",
        "error-a.device-identity-required",
        "error-b.pairing-required",
        "error-b.new-device-per-redeploy",
        "identity.legacy-json-in-sqlite-state",
        "pairing.superseded",
        "config.dangerously-disable-device-auth",
        "script.approve-latest",
        "script.approve-all",
    ):
        assert required in CATALOGUE


def test_fix_module_cannot_reach_a_gateway() -> None:
    """--fix never approves: its module imports nothing that talks to a gateway or a container."""
    tree = ast.parse(Path(fix.__file__).read_text())
    imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    assert not [
        m for m in imported if m.startswith(("sidecar.gateway", "sidecar.sources", "websockets", "docker"))
    ]
    called = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert not called & {"approve", "reject", "remove", "call", "list_pairing", "connect"}


def test_every_finding_has_a_test() -> None:
    """Each finding id is asserted somewhere in the doctor tests (integration tests build it for real)."""
    texts = "".join(p.read_text() for p in (ROOT / "tests").rglob("test_doctor*.py"))
    untested = [entry_id for entry_id in CATALOGUE if f'"{entry_id}"' not in texts]
    assert untested == []


def test_readme_troubleshooting_section_is_generated_from_the_catalogue() -> None:
    readme = (ROOT / "README.md").read_text()
    begin, end = readme.find(catalogue_md.README_BEGIN), readme.find(catalogue_md.README_END)
    assert begin >= 0, "README.md has no generated troubleshooting section"
    committed = readme[begin : end + len(catalogue_md.README_END)]
    assert committed == catalogue_md.readme_section(), (
        "README.md's troubleshooting section is out of date: replace it with the output of "
        "`python -m sidecar.doctor.catalogue_md --readme`"
    )
