"""The fault suite: ADD/DEL cycles with one injected fault each (tests/e2e/faults/cycles.py says which),
in thin mode and through the native shim to a daemon; a cycle that leaves anything behind fails the test,
which lists every such cycle with the seed that replays it (MULTUS_FAULT_SEED)."""

from __future__ import annotations

import pytest
from pyroute2 import netns

from tests.e2e.faults.cycles import SEED_VARIABLE, Driver, Faults, fault_seed

pytestmark = [pytest.mark.e2e, pytest.mark.netns]

SEED = fault_seed()  # one per session, for both paths
CYCLES = {"thin": 60, "thick": 140}  # 200 in all; a thin cycle costs about four thick ones


@pytest.mark.parametrize("path", sorted(CYCLES))
def test_fault_cycles_leave_nothing_behind(
    path: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    driver: Driver = request.getfixturevalue(path)
    with capsys.disabled():
        print(f"\nfault suite, {path}: seed {SEED} ({SEED_VARIABLE}={SEED} replays it)", flush=True)

    cycles = Faults(driver).run(SEED, CYCLES[path])

    leaked = [cycle.describe(SEED, path) for cycle in cycles if cycle.problems]
    assert leaked == [], f"{len(leaked)} of {len(cycles)} cycles left something:\n" + "\n".join(leaked)


def test_netns_record_and_cache_all_lost_leave_only_the_leases(thin: Driver) -> None:
    """The one combination nothing can clean, so the cycles never draw it: the netns removed (its
    interfaces go with it) and both the record and libcni's cache lost. Nothing names the attachments any
    more, so DEL runs no delegate; what is correct is that it succeeds (a runtime would retry a failing
    DEL forever) and that host-local's leases are all that is left. They stay: multus's GC knows
    containers by their records, and passes no GC to the delegates."""
    rt = thin.rt
    rt.nad("blue", rt.bridge_net("blue", default_route=False).config)
    box = rt.pod("blue", own_netns=True)
    thin.run("ADD", box).ok()
    leases = rt.ipam_allocations(box)
    assert len(leases) == 2
    for path in [rt.cache_file(box), *rt.result_cache_files(box)]:
        path.unlink()
    netns.remove(box.netns_name)
    rt.own_netns.remove(box.netns_name)

    thin.run("DEL", box).ok()

    assert rt.leftovers(box) == [f"IPAM allocation {path}" for path in leases]
    for path in leases:
        path.unlink()
