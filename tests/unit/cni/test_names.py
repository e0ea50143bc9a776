"""The naming rules: interface names (CNI_IFNAME and the pod annotations'), container IDs, network names."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from multus.cni import (
    CNIEnvironment,
    InvalidEnvironment,
    container_id_error,
    ifname_error,
    network_name_error,
)
from multus.cni.names import MAX_CONTAINER_ID_LENGTH


@pytest.mark.parametrize("name", ["eth0", "net1", "a" * 15, "eth0.100", "net_1", "MACVLAN", "-", "é" * 7])
def test_interface_name_accepts(name: str) -> None:
    assert ifname_error(name) is None


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "must not be empty"),
        ("a" * 16, "16 bytes long"),
        ("é" * 8, "16 bytes long"),
        (".", "not allowed"),
        ("..", "not allowed"),
        ("a/b", "'/' or ':'"),
        ("a:b", "'/' or ':'"),
        ("a b", "whitespace"),
        ("a\tb", "whitespace"),
        ("a\x00", "control"),
        ("a\x01", "control"),
        ("a\u00a0", "whitespace"),
        ("\ud800", "not valid Unicode"),
    ],
)
def test_interface_name_refuses(name: str, problem: str) -> None:
    assert problem in (ifname_error(name) or "")


def test_a_non_utf8_cni_ifname_is_an_environment_error() -> None:
    # os.environ hands non-UTF-8 bytes over as surrogates; the rule must refuse them, not crash on them.
    environ = {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "ctr-1",
        "CNI_NETNS": "/var/run/netns/x",
        "CNI_IFNAME": "eth\udcff",
        "CNI_PATH": "/opt",
    }
    with pytest.raises(InvalidEnvironment, match=r"CNI_IFNAME 'eth\\udcff' is not valid Unicode"):
        CNIEnvironment.from_environ(environ)
    # A DEL goes on without it: it undoes what the container's record holds.
    assert CNIEnvironment.from_environ({**environ, "CNI_COMMAND": "DEL"}).ifname == ""


@pytest.mark.parametrize(
    ("check", "limit"), [(container_id_error, MAX_CONTAINER_ID_LENGTH), (network_name_error, 253)]
)
def test_container_ids_and_network_names_are_bounded(check: Callable[[str], str | None], limit: int) -> None:
    assert check("a" * limit) is None
    problem = check("a" * (limit + 1))
    assert problem == f"is {limit + 1} characters long, longer than {limit}"
    # A long value is not repeated into the message, whatever else is wrong with it.
    assert len(check("/" * 100_000) or "") < 200
