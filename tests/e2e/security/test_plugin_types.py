"""A plugin `type` names a file in the plugin search path, nothing else: one that walks out of it
(`../`), is absolute, or hides a NUL is refused before anything runs, wherever it is written: a NAD's
top-level config, a chained plugin of a NAD's list, `ipam.type`, the multus config's `delegates[]`.
Programs are planted where each name would lead (tests/e2e/security/conftest.py): none may ever run."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.meta.runtime import Runtime
from tests.e2e.security.conftest import Planted

pytestmark = [pytest.mark.e2e, pytest.mark.netns]

BAD_TYPES = {
    "parent": "../planted",  # from CNI_PATH's first folder to a planted program
    "bin-sh": "../../bin/sh",
    "absolute": "{outside}",
    "nul": "planted\u0000.so",  # cut at the NUL, the name of a program in CNI_PATH's first folder
}


def network(rt: Runtime, where: str, bad: str) -> dict[str, Any]:
    bridge = rt.bridge_net("evil", default_route=False)
    if where == "nad":
        return {"cniVersion": "1.1.0", "name": "evil", "type": bad}
    if where == "chained":
        bridge.config["plugins"].append({"type": bad})
    else:  # ipam
        bridge.config["plugins"][0]["ipam"]["type"] = bad
    return bridge.config


@pytest.mark.parametrize("bad", sorted(BAD_TYPES))
@pytest.mark.parametrize("where", ["nad", "chained", "ipam", "delegates"])
def test_a_plugin_type_outside_the_search_path_is_refused_and_nothing_runs(
    rt: Runtime, planted: Planted, where: str, bad: str
) -> None:
    bad_type = BAD_TYPES[bad].format(outside=planted.outside)
    if where == "delegates":  # the multus config's own list replaces clusterNetwork
        config = rt.multus_config(
            clusterNetwork=None, delegates=[{"cniVersion": "1.1.0", "name": "evil", "type": bad_type}]
        )
        rt.pod()
    else:
        config = rt.multus_config()
        rt.nad("evil", network(rt, where, bad_type))
        rt.pod("evil")

    error = rt.run("ADD", config=config, env=planted.env(rt)).error(None)

    assert "type" in error["msg"] + error.get("details", ""), error
    assert planted.ran() == []
    assert rt.leftovers() == []  # eth0 too: the ADD stopped before any delegate ran
    rt.run("DEL", config=config, env=planted.env(rt))
    assert planted.ran() == []
    assert rt.leftovers() == []
