"""Every folder of `examples/` does what its expected.json says, and leaves nothing behind."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from multus.demo import ExampleRun

pytestmark = pytest.mark.netns

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FOLDERS = sorted(p for p in EXAMPLES.iterdir() if (p / "expected.json").exists())


def test_every_example_folder_is_checked() -> None:
    assert [p.name for p in FOLDERS] == [
        "00-demo",
        "01-comma-form",
        "02-json-form",
        "03-static-ip-mac",
        "04-default-route",
        "05-config-list",
        "06-empty-config",
        "07-same-network-twice",
        "08-isolation",
    ]
    for folder in FOLDERS:
        assert (folder / "README.md").exists(), f"{folder.name} says what to expect in a README"


def as_expected(actual: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """`actual` cut to the keys `expected` names; an address falling in an expected subnet (host-local
    hands addresses out round-robin) reads as that subnet."""
    seen = {key: actual.get(key) for key in expected}
    if "ips" in expected and isinstance(seen["ips"], list):
        seen["ips"] = [
            want if "/" in want and ipaddress.ip_address(got) in ipaddress.ip_network(want) else got
            for got, want in zip(seen["ips"], expected["ips"], strict=False)
        ]
    return seen


@pytest.mark.parametrize("folder", FOLDERS, ids=[p.name for p in FOLDERS])
def test_example(folder: Path, cni_bin: Path) -> None:
    with ExampleRun(folder, cni_bin) as run:
        for pod, expected in run.expected.items():
            outcome = run.add(pod)
            if "error" in expected:
                assert outcome.exit_code == 1
                assert outcome.reply["code"] == expected["error"]["code"], outcome.reply
                assert run.leftovers(pod) == []
                continue
            assert outcome.exit_code == 0, outcome.reply
            assert [
                as_expected(a, e) for a, e in zip(outcome.status, expected["status"], strict=True)
            ] == expected["status"]
            for entry in outcome.status:
                assert entry["dns"] == {}
                assert outcome.addresses[entry["interface"]]
            for ifname, mtu in expected.get("mtu", {}).items():
                assert outcome.mtu[ifname] == mtu
            if "routes" in expected:
                assert outcome.default_routes == [expected["routes"]["default"]]
            code, reply = run.delete(pod)
            assert code == 0, reply
            assert run.leftovers(pod) == []
            assert run.delete(pod)[0] == 0  # the runtime's second DEL


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda folder: folder.name)
def test_multusctl_demo_runs_each_example_as_its_readme_says(folder: Path) -> None:
    command = f"multusctl demo {folder.name}"
    assert command in (folder / "README.md").read_text(), f"{folder.name}'s README shows `{command}`"
    shown = subprocess.run(
        [str(Path(sys.executable).parent / "multusctl"), "demo", folder.name],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert shown.returncode == 0, shown.stdout + shown.stderr
    expected = json.loads((folder / "expected.json").read_text())
    for pod, outcome in expected.items():
        assert f"== Pod {pod} " in shown.stdout
        if "error" in outcome:
            assert f'"code": {outcome["error"]["code"]}' in shown.stdout
        for entry in outcome.get("status", []):
            assert f'"interface": "{entry["interface"]}"' in shown.stdout
    left = [line for line in shown.stdout.splitlines() if "left behind:" in line]
    assert len(left) == len(expected)
    assert all(
        line.endswith(
            "left behind: nothing (no interface, attachment record, cached result or IP allocation)"
        )
        for line in left
    )
