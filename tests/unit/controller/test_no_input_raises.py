"""Property tests: whatever the API server hands over, the decision functions answer instead of raising.

A webhook that raises makes kopf refuse the request with a generic error (or, failing open, lets it
through unchecked); the controller must always say what is wrong instead.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from controller.pod_admission import PodPolicy, judge_pod_networks, read_pod_networks
from controller.reconcile import plan_status
from controller.usage import attached_networks, networks_in_use
from controller.validation import NadVerdict, admission_problems, judge_nad
from multus.cni.errors import CNIError

json_values: SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
versions: SearchStrategy[Any] = (
    st.sampled_from(["1.0.0", "0.3.1", "1.1.0", "9.9.9", "1.0", "", "01.0.0"]) | json_values
)
plugin_types: SearchStrategy[Any] = (
    st.sampled_from(["bridge", "", "../x", "a/b", ".", "tuning"]) | json_values
)
plugin: SearchStrategy[Any] = st.fixed_dictionaries(
    {"type": plugin_types}, optional={"name": json_values, "cniVersion": versions}
)
cni_configs: SearchStrategy[Any] = st.one_of(
    st.fixed_dictionaries(
        {"type": plugin_types}, optional={"cniVersion": versions, "name": json_values, "plugins": json_values}
    ),
    st.fixed_dictionaries(
        {"plugins": st.lists(plugin | json_values, max_size=3)},
        optional={"cniVersion": versions, "cniVersions": st.lists(versions, max_size=3) | json_values},
    ),
    json_values,
)
config_texts: SearchStrategy[Any] = cni_configs.map(json.dumps) | st.text(max_size=40) | json_values
names: SearchStrategy[Any] = st.sampled_from(["net", "a.b", "", "UPPER", "x" * 70]) | json_values
nad_annotations: SearchStrategy[Any] = st.dictionaries(
    st.sampled_from(["k8s.v1.cni.cncf.io/resourceName", "other"]) | st.text(max_size=10),
    st.sampled_from(["intel.com/sriov", "sriov", "a/b/c", " "]) | json_values,
    max_size=3,
)
nads: SearchStrategy[Any] = st.one_of(
    st.fixed_dictionaries(
        {
            "metadata": st.fixed_dictionaries(
                {"name": names, "namespace": names},
                optional={"annotations": nad_annotations | json_values, "generation": json_values},
            ),
            "spec": st.fixed_dictionaries({}, optional={"config": config_texts}) | json_values,
        },
        optional={"status": json_values},
    ),
    json_values,
)


@given(nads)
@settings(max_examples=400)
def test_judging_a_nad_never_raises(obj: Any) -> None:
    verdict = judge_nad(obj)
    assert isinstance(verdict, NadVerdict)
    assert all(isinstance(problem, str) and problem for problem in verdict.problems)


@given(nads, nads | st.none())
def test_admission_never_raises(new: Any, old: Any) -> None:
    assert all(isinstance(problem, str) for problem in admission_problems(new, old))


@given(nads, st.lists(st.text(max_size=10), max_size=5), st.booleans())
def test_planning_a_status_never_raises(obj: Any, users: list[str], protection: bool) -> None:
    if isinstance(obj, dict):
        plan_status(obj, users, listed_pods=3, protection=protection, now="2025-01-01T00:00:00Z")


network_status_entries: SearchStrategy[Any] = st.fixed_dictionaries(
    {"name": st.sampled_from(["a/b", "b", "a/b/c", "A/b"]) | json_values}
)
network_statuses: SearchStrategy[Any] = (
    st.lists(network_status_entries | json_values, max_size=4).map(json.dumps) | st.text() | json_values
)


@given(network_statuses)
def test_reading_network_status_never_raises(value: Any) -> None:
    assert all(isinstance(key, tuple) for key in attached_networks(value))


@given(
    st.fixed_dictionaries(
        {
            "metadata": st.fixed_dictionaries(
                {"namespace": names, "name": names},
                optional={
                    "annotations": st.dictionaries(st.text(max_size=5), network_statuses) | json_values
                },
            )
            | json_values,
            "status": st.fixed_dictionaries({"phase": st.sampled_from(["Running", "Failed"]) | json_values}),
        }
    )
)
def test_indexing_a_pod_never_raises(pod: dict[str, Any]) -> None:
    assert isinstance(networks_in_use(pod), dict)


selections: SearchStrategy[Any] = st.fixed_dictionaries(
    {"name": st.sampled_from(["a", "b", "A"]) | json_values},
    optional={
        "namespace": st.sampled_from(["app", "other", ""]) | json_values,
        "interface": st.sampled_from(["net1", "eth0", "", "a/b"]) | json_values,
        "ips": json_values,
        "default-route": json_values,
    },
)
networks_annotations: SearchStrategy[Any] = st.lists(selections | json_values, max_size=3).map(
    json.dumps
) | st.text(max_size=30)


@given(
    networks_annotations,
    st.dictionaries(st.tuples(st.text(max_size=5), st.text(max_size=5)), nads | st.none()),
)
def test_pod_review_answers_or_raises_only_the_nodes_error(annotation: str, networks: dict[Any, Any]) -> None:
    policy = PodPolicy()
    try:
        request = read_pod_networks({"k8s.v1.cni.cncf.io/networks": annotation}, "app", policy)
    except CNIError:
        return
    fetched = {key: networks.get(key) for key in request.references}
    verdict = judge_pod_networks("app", request, fetched, policy)
    assert all(isinstance(problem, str) for problem in verdict.problems)
