"""CNI_ARGS and the CNI_* environment: parsing, formatting, and one clear error per bad variable."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multus.cni import (
    CNIEnvironment,
    Command,
    InvalidEnvironment,
    NothingToDelete,
    format_cni_args,
    ifname_error,
    ignores_unknown,
    parse_cni_args,
    reject_unknown_args,
)

CONTAINERD_ARGS = (
    "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;"
    "K8S_POD_INFRA_CONTAINER_ID=0123abcd;K8S_POD_UID=3f1c2a6e-8a7b-4c1d-9e2f-0a1b2c3d4e5f"
)
keys = st.text(min_size=1).filter(lambda key: not set(key) & set("=;\0"))
values = st.text().filter(lambda value: not set(value) & set("=;\0"))


def test_parse_containerd_args() -> None:
    assert parse_cni_args(CONTAINERD_ARGS) == {
        "IgnoreUnknown": "1",
        "K8S_POD_NAMESPACE": "default",
        "K8S_POD_NAME": "web-0",
        "K8S_POD_INFRA_CONTAINER_ID": "0123abcd",
        "K8S_POD_UID": "3f1c2a6e-8a7b-4c1d-9e2f-0a1b2c3d4e5f",
    }


def test_values_may_be_empty_and_order_does_not_matter() -> None:
    assert parse_cni_args("A=;D=1") == {"A": "", "D": "1"}
    assert parse_cni_args("X=1;Y=2") == parse_cni_args("Y=2;X=1")
    assert parse_cni_args("") == {}


@pytest.mark.parametrize(
    ("text", "pair"),
    [
        ("A", "0 'A'"),
        ("A=1;B", "1 'B'"),
        ("=1", "0 '=1'"),
        # As Go's types.LoadArgs, which every plugin reading CNI_ARGS uses, on DEL as on ADD: a value
        # with '=' and an empty pair (a trailing ';', ';;') are refused.
        ("A=b=c", "0 'A=b=c'"),
        ("A=1;", "1 ''"),
        ("A=1;;B=2", "1 ''"),
        (";", "0 ''"),
        ("A=\0", "0 'A=\\x00'"),
    ],
)
def test_pairs_that_are_not_key_equals_value_are_refused(text: str, pair: str) -> None:
    with pytest.raises(InvalidEnvironment, match=rf"^CNI_ARGS: pair {re.escape(pair)} is not KEY=VALUE"):
        parse_cni_args(text)


@pytest.mark.parametrize(
    ("pairs", "problem"),
    [([("A;B", "1")], "key 'A;B'"), ([("A", "1;2")], "value of A"), ([("A", "b=c")], "value of A")],
)
def test_format_refuses_what_cni_args_cannot_carry(pairs: list[tuple[str, str]], problem: str) -> None:
    with pytest.raises(InvalidEnvironment, match=problem):
        format_cni_args(pairs)


@given(st.dictionaries(keys, values))
def test_round_trip_from_pairs(args: dict[str, str]) -> None:
    assert parse_cni_args(format_cni_args(args)) == args


@given(st.lists(st.tuples(keys, values)).map(lambda pairs: ";".join(f"{k}={v}" for k, v in pairs)))
def test_round_trip_from_text(text: str) -> None:
    assert parse_cni_args(format_cni_args(parse_cni_args(text))) == parse_cni_args(text)


def test_ignore_unknown() -> None:
    assert ignores_unknown({"IgnoreUnknown": "true"})
    assert ignores_unknown({"IgnoreUnknown": "1"})
    assert not ignores_unknown({"IgnoreUnknown": "False"})
    assert not ignores_unknown({})
    with pytest.raises(InvalidEnvironment, match="IgnoreUnknown='maybe' is not a boolean"):
        ignores_unknown({"IgnoreUnknown": "maybe"})
    reject_unknown_args({"K8S_POD_NAME": "a", "OTHER": "b", "IgnoreUnknown": "1"}, {"K8S_POD_NAME"})
    with pytest.raises(InvalidEnvironment, match=r"unknown key.* OTHER"):
        reject_unknown_args({"K8S_POD_NAME": "a", "OTHER": "b"}, {"K8S_POD_NAME"})


def _env(**overrides: str | None) -> dict[str, str]:
    """A valid ADD environment with `overrides` applied; None removes a variable."""
    env: dict[str, str | None] = {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "ctr-1",
        "CNI_NETNS": "/var/run/netns/cni-1",
        "CNI_IFNAME": "eth0",
        "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=web-0",
        "CNI_PATH": "/opt/cni/bin::/usr/lib/cni",
    }
    env.update(overrides)
    return {name: value for name, value in env.items() if value is not None}


def test_environment_of_an_add() -> None:
    env = CNIEnvironment.from_environ(_env())
    assert env.command is Command.ADD
    assert (env.container_id, env.netns, env.ifname) == ("ctr-1", "/var/run/netns/cni-1", "eth0")
    assert env.args_dict == {"IgnoreUnknown": "1", "K8S_POD_NAME": "web-0"}
    assert env.path == ("/opt/cni/bin", "/usr/lib/cni")
    assert CNIEnvironment.from_environ(env.to_environ()) == env


@pytest.mark.parametrize(
    ("command", "missing_ok", "required"),
    [
        ("ADD", (), ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME")),
        ("CHECK", (), ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME")),
        ("DEL", ("CNI_NETNS", "CNI_PATH", "CNI_ARGS", "CNI_IFNAME"), ("CNI_CONTAINERID",)),
        ("VERSION", ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"), ()),
        ("STATUS", ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"), ()),
        ("GC", ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"), ("CNI_PATH",)),
    ],
)
def test_required_variables_follow_the_command(
    command: str, missing_ok: tuple[str, ...], required: tuple[str, ...]
) -> None:
    assert (
        CNIEnvironment.from_environ(_env(CNI_COMMAND=command, **dict.fromkeys(missing_ok))).command == command
    )
    for name in required:
        with pytest.raises(InvalidEnvironment, match=f"{name} is required for {command}"):
            CNIEnvironment.from_environ(_env(CNI_COMMAND=command, **{name: None}))


def test_every_bad_variable_is_named_at_once() -> None:
    with pytest.raises(InvalidEnvironment) as caught:
        CNIEnvironment.from_environ(
            _env(CNI_CONTAINERID="-bad", CNI_IFNAME="a/b", CNI_NETNS=None, CNI_ARGS="novalue")
        )
    assert caught.value.code == 4
    for name in ("CNI_CONTAINERID", "CNI_IFNAME", "CNI_NETNS", "CNI_ARGS"):
        assert name in caught.value.msg


@pytest.mark.parametrize("command", ["", "add", "DELETE"])
def test_unknown_command(command: str) -> None:
    with pytest.raises(InvalidEnvironment, match="CNI_COMMAND"):
        CNIEnvironment.from_environ(_env(CNI_COMMAND=command))


@pytest.mark.parametrize(
    ("ifname", "problem"),
    [
        ("", "empty"),
        (".", "not allowed"),
        ("..", "not allowed"),
        ("a" * 16, "longer than 15 bytes"),
        ("ééééééééé", "longer than 15 bytes"),  # 9 characters, 18 bytes
        ("net/1", "must not contain"),
        ("net:1", "must not contain"),
        ("net 1", "must not contain"),
        ("net\t1", "must not contain"),
    ],
)
def test_interface_name_rules(ifname: str, problem: str) -> None:
    why = ifname_error(ifname)
    assert why is not None
    assert problem in why


@pytest.mark.parametrize("ifname", ["eth0", "a" * 15, "net1.100", "é"])
def test_good_interface_names(ifname: str) -> None:
    assert ifname_error(ifname) is None


@pytest.mark.parametrize("container_id", ["-a", "_a", ".a", "a b", "a/b", "ä"])
def test_container_id_pattern(container_id: str) -> None:
    with pytest.raises(InvalidEnvironment, match="CNI_CONTAINERID"):
        CNIEnvironment.from_environ(_env(CNI_CONTAINERID=container_id))


def test_to_environ_leaves_out_empty_variables() -> None:
    assert CNIEnvironment(Command.STATUS, path=("/opt/cni/bin",)).to_environ() == {
        "CNI_COMMAND": "STATUS",
        "CNI_PATH": "/opt/cni/bin",
    }


@pytest.mark.parametrize("variable", ["CNI_NETNS", "CNI_PATH"])
def test_a_path_with_nul_is_refused(variable: str) -> None:
    # Only a socket request can carry one; opening it (or handing it to a plugin) would raise.
    with pytest.raises(InvalidEnvironment, match=f"{variable} must not contain NUL"):
        CNIEnvironment.from_environ(_env(**{variable: "/opt/cni/bin\0x"}))


def test_a_del_goes_on_without_the_variables_an_add_refuses() -> None:
    # The runtime retries a failed DEL for ever; the DEL undoes what the container's record holds.
    env = CNIEnvironment.from_environ(
        _env(
            CNI_COMMAND="DEL",
            CNI_IFNAME="a/b",
            CNI_NETNS="/x\0",
            CNI_ARGS="IgnoreUnknown=1;a=b=c;;",
            CNI_PATH="/opt/cni/bin\0",
        )
    )
    assert (env.command, env.container_id, env.ifname, env.netns, env.args, env.path) == (
        Command.DEL,
        "ctr-1",
        "",
        "",
        (),
        (),
    )


@pytest.mark.parametrize("container_id", [None, "", "-a", "../../etc", "c" * 129])
def test_a_del_of_a_container_id_no_add_accepts_has_nothing_to_delete(container_id: str | None) -> None:
    with pytest.raises(NothingToDelete, match="CNI_CONTAINERID") as caught:
        CNIEnvironment.from_environ(_env(CNI_COMMAND="DEL", CNI_CONTAINERID=container_id))
    assert caught.value.code == 4  # an InvalidEnvironment to anyone who does not know the difference
    with pytest.raises(InvalidEnvironment) as refused:
        CNIEnvironment.from_environ(_env(CNI_CONTAINERID=container_id or "-"))
    assert not isinstance(refused.value, NothingToDelete)


def test_container_ids_longer_than_128_characters_are_refused() -> None:
    assert CNIEnvironment.from_environ(_env(CNI_CONTAINERID="c" * 128)).container_id == "c" * 128
    with pytest.raises(InvalidEnvironment, match="CNI_CONTAINERID is 243 characters long, longer than 128"):
        CNIEnvironment.from_environ(_env(CNI_CONTAINERID="c" * 243))
