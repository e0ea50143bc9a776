"""The `multus` executable is a new process for every pod operation: what it imports is most of what it
costs. VERSION needs json and re alone (multus.cni.versions); no command needs aiohttp (the plugin talks
to the API server through `multus.kube.transport_asyncio`, the standard library's asyncio)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("pydantic", "aiohttp", "yaml", "pyroute2", "kubernetes", "multus.config")
# What VERSION loads: the executable's module and multus.cni.versions with what it imports.
VERSION_MODULES = ["multus", "multus.cni", "multus.cni.errors", "multus.cni.jsontext", "multus.cni.versions"]


def loaded_after(code: str, env: dict[str, str]) -> dict[str, object]:
    """Run `code` in a fresh interpreter; it leaves its result in `result`. That result, which of HEAVY
    were imported by then, and every module `code` imported (`new`, sorted)."""
    probe = f"""
import json, sys
before = set(sys.modules)
{code}
new = sorted(set(sys.modules) - before)
print(json.dumps({{"result": result, "loaded": [m for m in {HEAVY!r} if m in sys.modules], "new": new}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, check=True, text=True, timeout=60
    )
    decoded: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return decoded


@pytest.mark.parametrize(
    "environ",
    [
        {"CNI_COMMAND": "VERSION"},
        # The other variables are not read, as neither shim reads them for VERSION.
        {"CNI_COMMAND": "VERSION", "CNI_CONTAINERID": "../x", "CNI_IFNAME": "a/b", "CNI_ARGS": "nokey"},
    ],
    ids=["version", "bad-other-variables"],
)
def test_version_imports_only_the_standard_library(environ: dict[str, str]) -> None:
    stdin = b'{"cniVersion": "0.4.0"}'
    code = f"from multus.plugin import handle\nresult = handle({environ!r}, {stdin!r})"

    answer = loaded_after(code, {"PATH": "/usr/bin:/bin"})

    assert answer["result"] == [
        {
            "cniVersion": "0.4.0",
            "supportedVersions": ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
        },
        0,
    ]
    assert answer["loaded"] == []
    new = answer["new"]
    assert isinstance(new, list)
    assert [name for name in new if name.startswith("multus")] == sorted([*VERSION_MODULES, "multus.plugin"])
    # Not even what every other command needs.
    assert {"typing", "dataclasses", "logging", "asyncio"}.isdisjoint(new)


def test_the_add_path_with_a_kubeconfig_imports_no_heavy_package(tmp_path: Path) -> None:
    """An ADD through the whole orchestrator and the cluster client, up to the API server's refusal to
    connect (nobody listens on port 1): every module the ADD path imports is loaded by then."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "current-context": "c",
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
            }
        )
    )
    config = {
        "cniVersion": "1.1.0",
        "name": "multus-cni-network",
        "type": "multus",
        "kubeconfig": str(kubeconfig),
        "clusterNetwork": "cluster",
        "confDir": str(tmp_path),
        "cniDir": str(tmp_path / "records"),
        "apiTimeouts": {"requestSeconds": 1, "retries": 0},
        "logToStderr": False,
    }
    env = {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "c0ffee",
        "CNI_NETNS": "/proc/self/ns/net",
        "CNI_IFNAME": "eth0",
        "CNI_ARGS": "K8S_POD_NAMESPACE=default;K8S_POD_NAME=p",
        "CNI_PATH": "/nonexistent",
    }
    code = f"from multus.plugin import handle\nresult = handle({env!r}, {json.dumps(config).encode()!r})"

    answer = loaded_after(code, {"PATH": "/usr/bin:/bin"})

    reply, status = answer["result"]  # type: ignore[misc]
    assert status == 1
    assert "cannot get pod default/p" in reply["msg"], reply
    assert "aiohttp" not in answer["loaded"]
    assert "pydantic" not in answer["loaded"]  # installed here (the kubernetes client needs it), never used
    assert "yaml" not in answer["loaded"]  # the kubeconfig is JSON
    assert "multus.config" in answer["loaded"]  # the probe saw the ADD path's imports
