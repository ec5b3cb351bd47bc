"""DockerSource in mode dev-approve-all: every running container on the project's networks, labelled or not.

And the other side of it: in modes strict and ip the source reports exactly what it did before (only
labelled containers of the project), makes no network listing and ignores unlabelled containers' events.
Canned engine data from tests/unit/test_docker_source_fake.py's FakeEngine.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from test_docker_source_fake import (
    ALICE,
    NET_ID,
    OPTED,
    OTHER_NET_ID,
    FakeEngine,
    Watcher,
    by_name,
    run_async,
)

from sidecar.errors import ConfigError
from sidecar.settings import Mode, PolicySettings, Settings
from sidecar.sources.docker import (
    DockerSource,
    DockerSourceOptions,
    attached_to,
    event_filters,
    project_network_ids,
    resolve_scope,
)

PLAIN = {"com.docker.compose.project": "demo"}  # in the project, not opted in
NEW_NET_ID = "7a" * 32


def settings(mode: Mode, project: str | None = "demo", auto: bool = False) -> Settings:
    return Settings(policy=PolicySettings(mode=mode, project=project, project_auto=auto))


def dev_source(engine: FakeEngine, **options: Any) -> DockerSource:
    return DockerSource(engine, DockerSourceOptions.from_settings(settings(Mode.DEV_APPROVE_ALL), **options))


def populate(engine: FakeEngine) -> dict[str, str]:
    """One of each: labelled, unlabelled, other project, no labels at all, elsewhere only, stopped, both."""
    ids = {
        "alice": engine.add("demo-alice-1", labels=OPTED, networks={NET_ID: "172.18.0.2"}),
        "plain": engine.add("demo-plain-1", labels=PLAIN, networks={NET_ID: "172.18.0.3"}),
        "guest": engine.add(
            "guest", labels={"com.docker.compose.project": "other"}, networks={NET_ID: "172.18.0.4"}
        ),
        "bare": engine.add("bare", labels={}, networks={NET_ID: "172.18.0.5"}),
        "outsider": engine.add("outsider", labels={}, networks={OTHER_NET_ID: "10.9.0.5"}),
        "sleeper": engine.add("sleeper", labels={}, networks={NET_ID: "172.18.0.6"}, state="exited"),
        "both": engine.add("both", labels={}, networks={NET_ID: "172.18.0.7", OTHER_NET_ID: "10.9.0.7"}),
    }
    engine.publish(ids["alice"], ALICE)
    engine.publish(ids["plain"], ALICE)  # not opted in: must never be read
    return ids


# --- options -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "dev"), [(Mode.STRICT, False), (Mode.IP, False), (Mode.DEV_APPROVE_ALL, True)]
)
def test_only_dev_approve_all_turns_it_on(mode: Mode, dev: bool) -> None:
    assert DockerSourceOptions.from_settings(settings(mode)).dev_approve_all is dev


def test_dev_approve_all_with_every_project_is_refused_naming_both_settings() -> None:
    with pytest.raises(ConfigError) as info:
        DockerSourceOptions.from_settings(settings(Mode.DEV_APPROVE_ALL, project=None, auto=False))
    message = str(info.value)
    assert "OPENCLAW_PAIRING_MODE=dev-approve-all" in message
    assert "OPENCLAW_PAIRING_PROJECT='*'" in message
    assert "every network on this Docker engine" in message
    # `*` stays allowed for the modes that need the opt-in label anyway
    assert DockerSourceOptions.from_settings(settings(Mode.STRICT, project=None)).all_projects


def test_dev_approve_all_without_a_resolvable_project_fails_closed() -> None:
    options = DockerSourceOptions.from_settings(settings(Mode.DEV_APPROVE_ALL, project=None, auto=True))
    with pytest.raises(ConfigError) as info:
        resolve_scope(options, None)
    message = str(info.value)
    assert "OPENCLAW_PAIRING_PROJECT=<project>" in message
    assert "'*' is refused" in message


def test_project_networks_are_those_labelled_with_the_project() -> None:
    networks = [
        {"Id": "a", "Name": "demo_default", "Labels": {"com.docker.compose.project": "demo"}},
        {"Id": "b", "Name": "demo_backend", "Labels": {"com.docker.compose.project": "demo"}},
        {"Id": "c", "Name": "demo-lookalike", "Labels": {"com.docker.compose.project": "demo2"}},
        {"Id": "d", "Name": "bridge", "Labels": None},
        "garbage",
    ]
    assert project_network_ids(networks, "demo") == {"a": "demo_default", "b": "demo_backend"}
    summary = {"NetworkSettings": {"Networks": {"demo_default": {"NetworkID": "a"}, "x": {"NetworkID": "d"}}}}
    assert attached_to(summary, {"a", "b"}) == ["demo_default"]


# --- snapshot ------------------------------------------------------------------------------------


@run_async
async def test_dev_reports_every_running_container_on_a_project_network() -> None:
    engine = FakeEngine()
    ids = populate(engine)
    found = by_name(await dev_source(engine).snapshot())

    assert set(found) == {"demo-alice-1", "demo-plain-1", "guest", "bare", "both"}
    assert {n: (w.ips, w.project_networks) for n, w in found.items()} == {
        "demo-alice-1": ({"demo_default": "172.18.0.2"}, {"demo_default"}),
        "demo-plain-1": ({"demo_default": "172.18.0.3"}, {"demo_default"}),
        "guest": ({"demo_default": "172.18.0.4"}, {"demo_default"}),
        "bare": ({"demo_default": "172.18.0.5"}, {"demo_default"}),
        "both": ({"demo_default": "172.18.0.7", "elsewhere": "10.9.0.7"}, {"demo_default"}),
    }
    assert found["bare"].network_gateways["demo_default"] == "172.18.0.1"
    # the labelled one is read as always; the others' files are never touched
    assert found["demo-alice-1"].identity is not None
    assert found["demo-plain-1"].identity is None
    assert "not opted in" in (found["demo-plain-1"].identity_error or "")
    assert engine.calls.count("get_archive") == 1
    assert ids["outsider"] not in {w.id for w in found.values()}


@run_async
async def test_dev_without_project_networks_reports_only_the_labelled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = FakeEngine()
    engine.nets[NET_ID]["Labels"] = {}  # e.g. an external network: not the project's
    populate(engine)
    found = by_name(await dev_source(engine).snapshot())
    assert set(found) == {"demo-alice-1"}
    assert found["demo-alice-1"].project_networks == frozenset()
    assert "nothing can be approved" in caplog.text


@run_async
async def test_dev_with_an_explicit_project_uses_that_projects_networks() -> None:
    engine = FakeEngine()
    engine.nets[OTHER_NET_ID]["Labels"] = {"com.docker.compose.project": "other"}
    populate(engine)
    src = DockerSource(engine, DockerSourceOptions(project="other", dev_approve_all=True))
    found = by_name(await src.snapshot())
    assert set(found) == {"outsider", "both"}
    assert found["both"].project_networks == {"elsewhere"}


@pytest.mark.parametrize("mode", [Mode.STRICT, Mode.IP])
@run_async
async def test_strict_and_ip_report_only_labelled_containers_as_before(mode: Mode) -> None:
    engine = FakeEngine()
    populate(engine)
    src = DockerSource(engine, DockerSourceOptions.from_settings(settings(mode)))
    (w,) = await src.snapshot()
    assert w.name == "demo-alice-1"
    assert w.project_networks == frozenset()
    assert "networks" not in engine.calls
    assert engine.calls.count("containers") == 1


@run_async
async def test_dev_unlabelled_containers_do_not_defeat_the_cache() -> None:
    """They never have an identity; that must not count as "identity missing, re-read every time"."""
    engine = FakeEngine()
    populate(engine)
    src = dev_source(engine)
    async with Watcher(src):
        await src.snapshot()
        listed = engine.calls.count("containers")
        await asyncio.gather(*(src.snapshot() for _ in range(3)))
        assert engine.calls.count("containers") == listed


# --- events --------------------------------------------------------------------------------------


def test_event_filters_drop_the_label_filter_only_in_dev_mode() -> None:
    scope = resolve_scope(DockerSourceOptions(project="demo"), None)
    strict = event_filters(DockerSourceOptions(project="demo"), scope)
    dev = event_filters(DockerSourceOptions(project="demo", dev_approve_all=True), scope)
    assert strict["container"]["label"] == [
        "openclaw.pairing.auto-approve",
        "com.docker.compose.project=demo",
    ]
    assert "label" not in dev["container"]
    assert dev["container"]["event"] == strict["container"]["event"]
    assert dev["network"] == strict["network"] == {"type": ["network"], "event": ["connect", "disconnect"]}


@run_async
async def test_dev_follows_unlabelled_containers_on_project_networks_only() -> None:
    engine = FakeEngine()
    ids = populate(engine)
    src = dev_source(engine)
    async with Watcher(src) as watcher:
        await src.snapshot()
        # a new, unlabelled container joins the project network, then starts (the engine's order; the
        # two streams may deliver them the other way round, and then the connect's re-list sees it running)
        newcomer = engine.add("newcomer", labels={}, networks={NET_ID: "172.18.0.9"}, state="created")
        engine.network_event("connect", newcomer)
        await watcher.wait_for(f"docker:network-connect:demo_default:{newcomer[:12]}")
        assert "newcomer" not in by_name(await src.snapshot())  # created, not running yet
        next(x for x in engine.summaries if x["Id"] == newcomer)["State"] = "running"
        engine.container_event("start", newcomer, "newcomer")
        await watcher.wait_for("docker:start:newcomer")
        assert by_name(await src.snapshot())["newcomer"].project_networks == {"demo_default"}
        # a stopped unlabelled container that was listed starts again
        engine.container_event("start", ids["sleeper"], "sleeper")
        await watcher.wait_for("docker:start:sleeper")
        # a connect on a network not listed yet may be a new project network: re-list
        engine.network_event("connect", "c" * 64, NEW_NET_ID)
        await watcher.wait_for("docker:network-connect:new-net")
        # not ours: a stranger on a known network outside the project, and its start
        stranger = "d" * 64
        engine.network_event("connect", stranger, OTHER_NET_ID)
        engine.container_event("start", stranger, "stranger")
        engine.container_event("die", ids["outsider"], "outsider")
        # a labelled container of the project is followed even before it was ever listed
        engine.container_event("start", "e" * 64, "demo-bob-1", labels=OPTED)
        await watcher.wait_for("docker:start:demo-bob-1")
        # ... and one already listed that is on the other network too leaves it: it is known
        engine.network_event("disconnect", ids["both"], OTHER_NET_ID)
        await watcher.wait_for("docker:network-disconnect:elsewhere")
        engine.container_event("destroy", newcomer, "newcomer")
        await watcher.wait_for("docker:destroy:newcomer")
    assert not any("stranger" in r or "outsider" in r or stranger[:12] in r for r in watcher.reasons)


@pytest.mark.parametrize("mode", [Mode.STRICT, Mode.IP])
@run_async
async def test_strict_and_ip_ignore_unlabelled_containers_on_the_project_network(mode: Mode) -> None:
    engine = FakeEngine()
    ids = populate(engine)
    src = DockerSource(engine, DockerSourceOptions.from_settings(settings(mode)))
    async with Watcher(src) as watcher:
        await src.snapshot()
        engine.network_event("connect", ids["plain"])  # unlabelled, on the project network
        engine.network_event("connect", "f" * 64, NEW_NET_ID)  # unknown network: not followed here
        engine.network_event("connect", ids["alice"])
        await watcher.wait_for("docker:network-connect")
        await asyncio.sleep(0.1)
    assert [r for r in watcher.reasons if "network" in r] == [
        f"docker:network-connect:demo_default:{ids['alice'][:12]}"
    ]
    assert engine.stream_filters["container"]["label"] == [
        "openclaw.pairing.auto-approve",
        "com.docker.compose.project=demo",
    ]
