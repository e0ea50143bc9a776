"""The interface-name rule that CNI_IFNAME and the pod annotations' interface names share."""

from __future__ import annotations

import pytest

from multus.cni import CNIEnvironment, InvalidEnvironment, ifname_error


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
        "CNI_COMMAND": "DEL",
        "CNI_CONTAINERID": "ctr-1",
        "CNI_IFNAME": "eth\udcff",
        "CNI_PATH": "/opt",
    }
    with pytest.raises(InvalidEnvironment, match=r"CNI_IFNAME 'eth\\udcff' is not valid Unicode"):
        CNIEnvironment.from_environ(environ)
