"""The pods' usage index: what each pod event writes, and when the controller writes nothing."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
from typing import Any

from controller.pod_usage import KOPF_PEERING_LOGGER, PeeringActivity, PodUsage
from controller.usage import NetworkKey, PodReference
from multus.kube.rest import RestClient

A, B, C = ("ns", "a"), ("ns", "b"), ("ns", "c")


def pod(name: str, *networks: NetworkKey, phase: str = "Pending") -> dict[str, Any]:
    status = [{"name": f"{namespace}/{network}"} for namespace, network in networks]
    return {
        "metadata": {
            "namespace": "ns",
            "name": name,
            "annotations": {"k8s.v1.cni.cncf.io/network-status": json.dumps(status)},
        },
        "status": {"phase": phase},
    }


class Recorder:
    """The usage each write would send: the users of the NAD when the write reads the index."""

    def __init__(self) -> None:
        self.writes: list[tuple[NetworkKey, list[PodReference]]] = []
        self.forgotten = 0

    def forget(self) -> None:
        self.forgotten += 1

    async def __call__(self, key: NetworkKey, index: dict[NetworkKey, set[PodReference]]) -> None:
        self.writes.append((key, sorted(index.get(key, ()))))


def no_api() -> RestClient:
    raise AssertionError("the cache is driven by hand here; it must not call the API")


def usage(recorder: Recorder, *, active: bool = True) -> PodUsage:
    return PodUsage(no_api, recorder, recorder.forget, active=active)


def event(pods: PodUsage, before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    """What the watch cache hands over for one pod event, as it shows the kept pods."""
    shown = [None if obj is None else pods.cache._show(pods.cache._keep(obj)) for obj in (before, after)]
    assert pods.cache.on_change is not None
    pods.cache.on_change(shown[0], shown[1])


async def settle(pods: PodUsage) -> None:
    await asyncio.gather(*pods._tasks)


def test_the_initial_listing_fills_the_index_and_writes_nothing() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        pods = usage(recorder)
        event(pods, None, pod("p1", A, B))
        event(pods, None, pod("p2", B))
        event(pods, None, pod("plain"))
        await settle(pods)
        assert pods.index == {A: {"ns/p1"}, B: {"ns/p1", "ns/p2"}}
        assert recorder.writes == []

    asyncio.run(scenario())


def test_a_pod_event_writes_each_nad_it_joined_or_left_once() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        pods = usage(recorder)
        event(pods, None, pod("p1", A, B))
        pods.synced.set()
        event(pods, pod("p1", A, B), pod("p1", B, C))
        await settle(pods)
        assert sorted(recorder.writes) == [(A, []), (C, ["ns/p1"])]
        recorder.writes.clear()
        # A change that keeps the pod's NADs (another annotation, the phase) writes nothing.
        event(pods, pod("p1", B, C), pod("p1", C, B, phase="Running"))
        # A finished pod no longer uses its NADs, nor does a deleted one; events that come before
        # the write for a NAD has read the index share that write.
        event(pods, None, pod("p2", A))
        event(pods, pod("p1", B, C), pod("p1", B, C, phase="Succeeded"))
        event(pods, pod("p2", A), None)
        await settle(pods)
        assert sorted(recorder.writes) == [(A, []), (B, []), (C, [])]
        assert pods.index == {}

    asyncio.run(scenario())


def test_events_before_a_write_starts_share_it() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        pods = usage(recorder)
        pods.synced.set()
        for index in range(5):
            event(pods, None, pod(f"p{index}", A))
        await settle(pods)
        assert recorder.writes == [(A, [f"ns/p{index}" for index in range(5)])]

    asyncio.run(scenario())


def test_a_paused_replica_writes_what_changed_once_it_takes_over() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        pods = usage(recorder, active=False)
        pods.synced.set()
        event(pods, None, pod("p1", A))
        event(pods, pod("p1", A), pod("p1", B))
        await settle(pods)
        assert recorder.writes == []
        assert pods.index == {B: {"ns/p1"}}
        pods.set_active(True)
        await settle(pods)
        assert sorted(recorder.writes) == [(A, []), (B, ["ns/p1"])]

    asyncio.run(scenario())


def test_kopf_peering_lines_pause_and_resume_the_writes() -> None:
    recorder = Recorder()
    pods = usage(recorder)
    follower = PeeringActivity(pods)

    def line(message: str) -> None:
        record = logging.LogRecord(KOPF_PEERING_LOGGER, logging.INFO, __file__, 1, message, None, None)
        assert follower.filter(record)

    line("Pausing operations in favour of [Peer(...)].")
    # The replica that takes over writes usage: what this one wrote may not be the status any more.
    assert (pods.active, recorder.forgotten) == (False, 1)
    line("Resuming operations after the pause. Conflicting operators with the same priority are gone.")
    assert pods.active
    line("Pausing all operators, including self: [...]")
    assert not pods.active
    line("Keep-alive in 'multus-controller' cluster-wide: ok.")
    assert not pods.active


def test_the_installed_kopf_logs_the_peering_lines_followed() -> None:
    # The lines are kopf's wording, not an API: an upgrade that rewords them must fail here, not leave
    # a standby replica writing usage or an active one never resuming.
    module = importlib.import_module(KOPF_PEERING_LOGGER)
    source = inspect.getsource(module)
    assert module.logger.name == KOPF_PEERING_LOGGER
    for start in ("Pausing operations", "Pausing all operators", "Resuming operations"):
        assert f'logger.info(f"{start}' in source or f'logger.warning(f"{start}' in source, start
