"""Every parser of outside input, driven by Hypothesis with hostile input: it answers or raises the CNI
error kind its documentation names, never anything else (no KeyError, TypeError, RecursionError...).

Generated JSON mixes arbitrary keys with the keys each parser knows, so values of every type reach the
fields that are read, not only unknown keys that are ignored.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.validation import judge_nad
from multus.cni.args import parse_cni_args
from multus.cni.config import parse_network_config
from multus.cni.environment import CNIEnvironment
from multus.cni.errors import (
    CNIError,
    DecodeFailure,
    IncompatibleVersion,
    InvalidAnnotation,
    InvalidConfig,
    InvalidEnvironment,
)
from multus.cni.ipam import plugin_config_problem
from multus.cni.results import parse_result
from multus.cni.valid_attachments import parse_valid_attachments
from multus.config import parse_config
from multus.daemon.http_wire import _Head, _Refused
from multus.k8s.annotations import parse_default_network_annotation, parse_networks_annotation
from multus.k8s.nad import parse_nad, parse_nad_config
from multus.k8s.selection_json import selection_from_json

BOUNDED = settings(max_examples=200, deadline=None)

KEYS = [
    # annotations
    "name", "namespace", "interface", "interfaceRequest", "ips", "mac", "infiniband-guid", "portMappings",
    "hostPort", "containerPort", "protocol", "hostIP", "bandwidth", "ingressRate", "egressBurst",
    "cni-args", "default-route", "ipam-claim-reference", "deviceID",
    # CNI configs, results, the multus config
    "cniVersion", "cniVersions", "type", "plugins", "capabilities", "ipam", "IPAM", "dns", "ranges",
    "subnet", "gateway", "rangeStart", "rangeEnd", "routes", "dst", "gw", "mtu", "table", "addresses",
    "address", "args", "cni", "runtimeConfig", "prevResult", "disableCheck", "interfaces", "sandbox",
    "clusterNetwork", "delegates", "defaultNetworks", "confDir", "cniDir", "binDir", "logLevel",
    "apiTimeouts", "namespaceIsolation", "globalNamespaces", "readinessindicatorfile",
    "cni.dev/valid-attachments", "containerID", "ifname", "metadata", "spec", "config", "annotations",
]  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(
        ["10.1.1.1", "10.1.1.0/24", "fd00::/64", "1.0.0", "0.2.0", "host-local", "static", "bridge"]
    )
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=30,
)
OBJECTS = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), JSON, max_size=8)
TEXT = st.text(max_size=200) | JSON.map(json.dumps)


def raises_only(kinds: tuple[type[Exception], ...], call: Any, *args: Any, **kwargs: Any) -> None:
    """`call`, which may raise `kinds` and nothing else (anything else fails the test)."""
    with contextlib.suppress(kinds):
        call(*args, **kwargs)


@BOUNDED
@given(TEXT)
def test_networks_annotation(value: str) -> None:
    raises_only((InvalidAnnotation,), parse_networks_annotation, value, "ns")
    raises_only((InvalidAnnotation,), parse_default_network_annotation, value, "kube-system")


@BOUNDED
@given(JSON)
def test_one_selection_element(element: Any) -> None:
    raises_only(
        (InvalidAnnotation,), selection_from_json, element, index=0, annotation="a", default_namespace="ns"
    )


@BOUNDED
@given(st.text(max_size=100))
def test_cni_args(text: str) -> None:
    raises_only((InvalidEnvironment,), parse_cni_args, text)


@BOUNDED
@given(
    st.dictionaries(
        st.sampled_from(
            ["CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH"]
        ),
        st.sampled_from(["ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION", "eth0", "/var/run/netns/x"])
        | st.text(max_size=40),
    )
)
def test_cni_environment(environ: dict[str, str]) -> None:
    raises_only((InvalidEnvironment,), CNIEnvironment.from_environ, environ)


@BOUNDED
@given(OBJECTS | TEXT.map(str.encode) | st.binary(max_size=100))
def test_network_configs(config: Any) -> None:
    raises_only((DecodeFailure, InvalidConfig, IncompatibleVersion), parse_network_config, config)


@BOUNDED
@given(OBJECTS, st.sampled_from(["0.1.0", "0.2.0", "0.4.0", "1.0.0", "1.1.0"]))
def test_plugin_input_never_raises(config: dict[str, Any], version: str) -> None:
    plugin_config_problem(config, version)


@BOUNDED
@given(OBJECTS.map(lambda config: json.dumps(config).encode()) | st.binary(max_size=100))
def test_the_multus_config(stdin: bytes) -> None:
    raises_only((DecodeFailure, InvalidConfig, IncompatibleVersion), parse_config, stdin)


@BOUNDED
@given(OBJECTS | TEXT)
def test_results(result: Any) -> None:
    raises_only((DecodeFailure, IncompatibleVersion), parse_result, result)


@BOUNDED
@given(OBJECTS)
def test_gc_valid_lists(stdin_config: dict[str, Any]) -> None:
    raises_only((InvalidEnvironment,), parse_valid_attachments, stdin_config)


@BOUNDED
@given(TEXT | st.none())
def test_nad_configs(text: str | None) -> None:
    raises_only((InvalidConfig,), parse_nad_config, text, namespace="ns", name="nad")


@BOUNDED
@given(OBJECTS)
def test_nad_objects_and_their_judgement(obj: dict[str, Any]) -> None:
    raises_only((InvalidConfig,), parse_nad, obj)
    judge_nad(obj)


REQUEST_LINES = st.sampled_from(
    [b"POST /cni HTTP/1.1", b"GET /readyz HTTP/1.0", b"POST /cni HTTP/2.0", b"post /cni HTTP/1.1", b""]
)
HEADERS = st.lists(
    st.tuples(
        st.sampled_from([b"Host", b"Content-Length", b"Transfer-Encoding", b"Connection", b"Expect"])
        | st.binary(max_size=10),
        st.sampled_from([b"1", b"chunked", b"close", b"100-continue", b"-1", b"99999999999999999999"])
        | st.binary(max_size=20),
    ),
    max_size=5,
)


@BOUNDED
@given(REQUEST_LINES | st.binary(max_size=40), HEADERS)
def test_http_heads(request_line: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    raw = b"\r\n".join([request_line, *(name + b": " + value for name, value in headers)])
    try:
        _Head(raw)
    except _Refused as refused:
        error = refused.error
    else:
        return
    assert isinstance(error, CNIError)
    assert error.msg


@pytest.mark.parametrize("depth", [100, 10_000])
def test_deep_nesting_is_refused_everywhere(depth: int) -> None:
    deep = "[" * depth + "]" * depth
    raises_only((InvalidAnnotation,), parse_networks_annotation, deep, "ns")
    raises_only((DecodeFailure,), parse_network_config, deep)
    raises_only((DecodeFailure,), parse_result, deep)
    raises_only((InvalidConfig,), parse_nad_config, deep, namespace="ns", name="nad")
