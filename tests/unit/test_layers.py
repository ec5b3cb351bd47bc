"""The house's layers, enforced: imports run one way (docs/DESIGN.md, "Layers"), and there are no circles.

Every import counts — top level, inside functions, and under TYPE_CHECKING — because a lazy import is
still a dependency, and a circle hidden in a function is still a circle. A new package must be given a
layer here (and in DESIGN.md) before it can import anything.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Lowest first. A module may import its own package and any package on a LOWER layer, nothing else.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"sidecar", "errors"}),
    frozenset({"envvars", "exitcodes", "metrics", "health"}),
    frozenset({"trust"}),
    frozenset({"settings", "identity"}),
    frozenset({"gateway", "sources"}),
    frozenset({"policy", "prepair"}),
    frozenset({"approver", "doctor"}),
    frozenset({"service"}),
    frozenset({"cli", "entrypoint"}),
    frozenset({"__main__"}),
)
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}
# Narrower rules on top of the ranks.
FORBIDDEN = {
    "doctor": {"policy", "approver"},  # doctor diagnoses; it never decides or approves
    "entrypoint": {"settings", "gateway", "sources", "policy", "approver", "doctor", "service", "cli"},
}
IDENTITY_THIRD_PARTY = {"cryptography"}  # identity runs in small agent images: stdlib + cryptography only


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {"entrypoint": ROOT / "entrypoint.py"}
    for path in (ROOT / "sidecar").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def package_of(module: str) -> str:
    if module == "entrypoint":
        return "entrypoint"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "sidecar"


def imports(path: Path, known: frozenset[str] = frozenset()) -> set[str]:
    """Modules imported by ``path``: ``from pkg import mod`` counts as ``pkg.mod`` when that is a module."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                names.add(sub if sub in known else node.module)
    return names


def graph() -> dict[str, set[str]]:
    known = modules()
    names = frozenset(known)
    return {m: {t for t in imports(p, names) if t in known and t != m} for m, p in known.items()}


def test_every_package_has_a_layer() -> None:
    missing = {package_of(m) for m in modules()} - set(RANK)
    assert not missing, f"give these packages a layer in LAYERS and docs/DESIGN.md: {sorted(missing)}"


def test_imports_run_downward_only() -> None:
    wrong: list[str] = []
    for module, targets in graph().items():
        here = package_of(module)
        for target in targets:
            there = package_of(target)
            if there == here or (there == "sidecar" and target == "sidecar"):
                continue
            if RANK[there] >= RANK[here] or there in FORBIDDEN.get(here, set()):
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_no_circles() -> None:
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert not circles, f"import circles: {circles}"


def test_identity_needs_only_the_standard_library_and_cryptography() -> None:
    stdlib = set(sys.stdlib_module_names)
    foreign: list[str] = []
    for module, path in modules().items():
        if package_of(module) != "identity":
            continue
        for name in imports(path):
            top = name.split(".")[0]
            if top in stdlib or top in IDENTITY_THIRD_PARTY or top == "__future__":
                continue
            if top == "sidecar" and package_of(name) in {"sidecar", "errors", "envvars", "identity"}:
                continue
            foreign.append(f"{module} -> {name}")
    assert not foreign, foreign


@pytest.mark.parametrize("package", ["policy"])
def test_policy_is_pure(package: str) -> None:
    """No I/O and no clock in the policy: time arrives as an argument."""
    banned = {"time", "socket", "subprocess", "os", "asyncio", "docker", "websockets", "requests"}
    found = defaultdict(set)
    for module, path in modules().items():
        if package_of(module) == package:
            for name in imports(path):
                if name.split(".")[0] in banned:
                    found[module].add(name)
    assert not found, dict(found)
