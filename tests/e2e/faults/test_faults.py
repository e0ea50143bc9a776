"""The fault suite: ADD/DEL cycles with one injected fault each (tests/e2e/faults/cycles.py says which),
in thin mode and through the native shim to a daemon; a cycle that leaves anything behind fails the test,
which lists every such cycle with the seed that replays it (MULTUS_FAULT_SEED)."""

from __future__ import annotations

import pytest

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
