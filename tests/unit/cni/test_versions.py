"""Version strings: parsing never crashes, ordering, choosing one, the VERSION reply."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multus.cni import (
    LATEST_VERSION,
    SUPPORTED_VERSIONS,
    DecodeFailure,
    IncompatibleVersion,
    InvalidConfig,
    VersionInfo,
    at_least,
    parse_version,
    pick_version,
    require_supported,
    version_reply,
)

ODD_STRINGS = ["", " ", "1", "1.0", "1.0.0.0", "v1.0.0", "1.0.0-rc1", "01.0.0", "1..0", "-1.0.0", "1.0.0\n"]


@given(st.one_of(st.text(), st.none(), st.integers(), st.floats(), st.lists(st.text())))
def test_parse_version_raises_nothing_but_invalid_config(text: object) -> None:
    try:
        major, minor, patch = parse_version(text)
    except InvalidConfig:
        return  # the one failure allowed: anything else escapes and fails the test
    assert f"{major}.{minor}.{patch}" == text


@given(st.text(alphabet="0123456789.", max_size=40))
def test_digit_soup_never_crashes_ordering(text: str) -> None:
    try:
        newer = at_least(text, "0.4.0")
    except InvalidConfig:
        return
    assert newer == (parse_version(text) >= (0, 4, 0))


@pytest.mark.parametrize("text", [*ODD_STRINGS, "\u0661.\u0660.\u0660", "9" * 5000 + ".0.0"])
def test_odd_strings_are_invalid_config_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidConfig, match=r"^cniVersion"):
        parse_version(text)


def test_wrong_type_names_the_field() -> None:
    with pytest.raises(InvalidConfig, match=r"^cniVersions\[1\] must be a string, not int"):
        pick_version(None, ["1.0.0", 1])


def test_versions_order_numerically() -> None:
    assert sorted(SUPPORTED_VERSIONS, key=parse_version) == list(SUPPORTED_VERSIONS)
    assert parse_version("0.10.0") > parse_version("0.4.0")
    assert at_least("1.0.0", "0.4.0")
    assert not at_least("0.3.1", "0.4.0")


def test_unsupported_but_well_formed_is_incompatible() -> None:
    with pytest.raises(IncompatibleVersion, match=r"'0.5.0' is not supported") as caught:
        require_supported("0.5.0")
    assert caught.value.code == 1
    assert require_supported("0.3.1") == "0.3.1"


@pytest.mark.parametrize(
    ("cni_version", "cni_versions", "expected"),
    [
        ("0.4.0", None, "0.4.0"),
        (None, ["0.3.1", "1.0.0", "0.4.0"], "1.0.0"),
        ("0.3.1", ["1.1.0"], "1.1.0"),
        ("1.0.0", ["2.0.0", "0.4.0"], "1.0.0"),  # a future version is passed over, not refused
        (None, None, "0.1.0"),  # before cniVersion existed
    ],
)
def test_pick_version_takes_the_highest_supported(
    cni_version: str | None, cni_versions: list[str] | None, expected: str
) -> None:
    assert pick_version(cni_version, cni_versions) == expected


def test_pick_version_within_what_a_plugin_supports() -> None:
    assert pick_version("1.1.0", ["0.4.0", "1.0.0"], supported=["0.3.1", "0.4.0"]) == "0.4.0"
    with pytest.raises(IncompatibleVersion, match="none of the configured versions"):
        pick_version("1.1.0", None, supported=["0.4.0"])


def test_pick_version_refuses_only_unknown_versions() -> None:
    with pytest.raises(IncompatibleVersion, match=r"2.0.0, 0.5.0"):
        pick_version("2.0.0", ["0.5.0"])
    with pytest.raises(InvalidConfig, match="cniVersions must be a list"):
        pick_version(None, "1.0.0")


def test_version_reply() -> None:
    assert version_reply("0.4.0").to_dict() == {
        "cniVersion": "0.4.0",
        "supportedVersions": list(SUPPORTED_VERSIONS),
    }
    assert version_reply("bogus").cni_version == LATEST_VERSION
    assert version_reply(None).cni_version == LATEST_VERSION


def test_version_info_from_plugin_output() -> None:
    reply = json.dumps({"cniVersion": "1.1.0", "supportedVersions": ["0.4.0", "1.1.0"]}).encode()
    assert VersionInfo.from_plugin_output(reply) == VersionInfo("1.1.0", ("0.4.0", "1.1.0"))
    # Plugins of spec 0.2.0 answered without the list.
    assert VersionInfo.from_plugin_output(b'{"cniVersion": "0.2.0"}').supported_versions == ("0.1.0", "0.2.0")


@pytest.mark.parametrize(
    "reply",
    [b"garbage", b"[]", b'{"cniVersion": "1.0.0"}', b'{"cniVersion": "1.0.0", "supportedVersions": [1]}'],
)
def test_bad_version_info_is_a_decode_failure(reply: bytes) -> None:
    with pytest.raises(DecodeFailure):
        VersionInfo.from_plugin_output(reply)
