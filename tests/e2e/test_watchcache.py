"""WatchCache against the real API server: it lists in pages, and its retry pauses grow while the
server cannot be reached and start over once a watch has run in good order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from multus.kube.backoff import Backoff
from multus.kube.credentials import load_credentials
from multus.kube.rest import RestClient
from multus.kube.watchcache import WatchCache
from tests.testenv import TestEnv, free_port

pytestmark = pytest.mark.e2e


def test_retry_pauses_grow_to_the_bound_and_start_over_after_a_good_watch(
    apiserver: TestEnv, namespace: str, tmp_path: Path
) -> None:
    reachable = RestClient(load_credentials(apiserver.kubeconfig), timeout=5)
    closed_port = apiserver.kubeconfig_copy(tmp_path / "nowhere", server=f"https://127.0.0.1:{free_port()}")
    nowhere = RestClient(load_credentials(closed_port), timeout=2)
    # Jitter takes a quarter off each pause (rand 0.5, jitter 0.5): 1, 2, 4, 4 (the bound) become these.
    first_outage = [0.75, 1.5, 3.0, 3.0]
    second_outage = [0.75, 1.5]

    async def scenario() -> list[float]:
        current = [nowhere]
        pauses: list[float] = []
        outage_over, finished = asyncio.Event(), asyncio.Event()

        async def sleep(seconds: float) -> None:
            pauses.append(seconds)
            if len(pauses) == len(first_outage):
                current[0] = reachable
                outage_over.set()
            if len(pauses) == len(first_outage) + len(second_outage):
                finished.set()
                await asyncio.Event().wait()  # until the cache is stopped
            await asyncio.sleep(0)

        backoff = Backoff(1.0, 4.0, jitter=0.5, rand=lambda: 0.5)
        cache = WatchCache(
            "configmaps",
            lambda: current[0],
            f"/api/v1/namespaces/{namespace}/configmaps",
            lambda obj: obj,  # kept whole
            lambda obj: obj,
            backoff=backoff,
            sleep=sleep,
            watch_seconds=1,
        )
        cache.start()
        try:
            await asyncio.wait_for(outage_over.wait(), 30)
            await asyncio.wait_for(cache.synced.wait(), 30)
            # The server ends each watch after a second, in good order: that is what resets the pauses.
            async with asyncio.timeout(30):
                while backoff.failures:
                    await asyncio.sleep(0.05)
            current[0] = nowhere
            await asyncio.wait_for(finished.wait(), 30)
        finally:
            cache.stop()
            await reachable.close()
            await nowhere.close()
        return pauses

    # Had the good watch not reset them, the second outage would start at the bound (3.0).
    assert asyncio.run(scenario()) == first_outage + second_outage


def test_a_list_in_pages_fills_the_cache_whole(apiserver: TestEnv, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    made = {f"map-{index}" for index in range(7)}

    async def scenario() -> set[str]:
        client = RestClient(load_credentials(apiserver.kubeconfig), timeout=5)
        for name in made:
            await client.request("POST", path, body={"metadata": {"name": name}, "data": {"k": name}})
        cache = WatchCache(
            "configmaps",
            lambda: client,
            path,
            lambda obj: (obj.get("data") or {}).get("k", ""),  # kept: one string
            lambda kept: {"data": {"k": kept}},
            page=3,
        )
        cache.start()
        try:
            await asyncio.wait_for(cache.synced.wait(), 30)
            return {name for name in made if cache.get(namespace, name) == {"data": {"k": name}}}
        finally:
            cache.stop()
            await client.close()

    # Seven objects (and the namespace's own) in pages of three: each page was kept, as it was kept.
    assert asyncio.run(scenario()) == made
