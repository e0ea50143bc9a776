"""Through shim and daemon, as in-process (tests/e2e/meta/both_modes.py): `ips` and `mac` without
declared capabilities reach the plugins through CNI_ARGS and are checked on what the ADD gave; DEL
rebuilds the attachments when the record and libcni's cache are both lost; the second DEL runs nothing."""

from __future__ import annotations

import pytest

from tests.e2e.daemon.support import ShimRuntime
from tests.e2e.meta.both_modes import (
    del_rebuilds_when_record_and_cache_are_lost,
    ignored_request_fails_cleanly,
    second_del_runs_no_delegate,
    static_ips_and_mac_without_capabilities,
    tuning_mac_without_capabilities,
)

pytestmark = [pytest.mark.e2e, pytest.mark.netns]


def test_ips_and_mac_without_capabilities_reach_the_plugins_through_cni_args(
    rt: ShimRuntime, veth_master: str
) -> None:
    static_ips_and_mac_without_capabilities(rt, veth_master)


def test_mac_without_capabilities_reaches_tuning(rt: ShimRuntime) -> None:
    tuning_mac_without_capabilities(rt)


@pytest.mark.parametrize("asked", ["ips", "mac"])
def test_a_request_the_plugins_ignore_fails_the_add_and_leaves_nothing(rt: ShimRuntime, asked: str) -> None:
    ignored_request_fails_cleanly(rt, asked)


def test_second_del_runs_no_delegate(rt: ShimRuntime) -> None:
    second_del_runs_no_delegate(rt)


def test_del_rebuilds_the_attachments_when_record_and_cache_are_lost(rt: ShimRuntime) -> None:
    del_rebuilds_when_record_and_cache_are_lost(rt)
