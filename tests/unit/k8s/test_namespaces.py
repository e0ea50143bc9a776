"""Namespace isolation, global namespaces and system namespaces."""

from __future__ import annotations

import pytest

from multus.cni.errors import NetworkForbidden
from multus.k8s.namespaces import (
    DEFAULT_GLOBAL_NAMESPACES,
    NamespacePolicy,
    check_network_access,
    gets_only_cluster_network,
    may_use_network,
    parse_global_namespaces,
)

ISOLATED = NamespacePolicy(isolation=True)


def test_without_isolation_any_namespace_is_allowed() -> None:
    assert may_use_network("team-a", "team-b", NamespacePolicy())
    check_network_access("team-a", "team-b", "net", NamespacePolicy())


def test_isolation_allows_the_pods_own_namespace_and_default() -> None:
    assert may_use_network("team-a", "team-a", ISOLATED)
    assert may_use_network("team-a", "default", ISOLATED)
    assert not may_use_network("team-a", "team-b", ISOLATED)


def test_isolation_error_names_pod_namespace_network_and_what_is_allowed() -> None:
    with pytest.raises(NetworkForbidden) as caught:
        check_network_access("team-a", "team-b", "secret", ISOLATED)
    assert str(caught.value) == (
        "namespace isolation: a pod in namespace 'team-a' may not use network team-b/secret; "
        "allowed namespaces: default, team-a"
    )
    assert caught.value.code == 104


def test_global_namespaces_replace_default_as_upstream() -> None:
    policy = NamespacePolicy(isolation=True, global_namespaces=parse_global_namespaces("shared, infra"))
    assert may_use_network("team-a", "shared", policy)
    assert may_use_network("team-a", "infra", policy)
    assert not may_use_network("team-a", "default", policy)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, DEFAULT_GLOBAL_NAMESPACES),
        ("", DEFAULT_GLOBAL_NAMESPACES),
        ("  ", DEFAULT_GLOBAL_NAMESPACES),
        ("default", {"default"}),
        (" a ,b,, c ", {"a", "b", "c"}),
        (",", set()),
    ],
)
def test_parse_global_namespaces(value: str | None, expected: set[str]) -> None:
    assert parse_global_namespaces(value) == expected


def test_system_namespace_is_decided_by_the_namespace() -> None:
    policy = NamespacePolicy()
    assert gets_only_cluster_network("kube-system", policy)
    assert not gets_only_cluster_network("default", policy)
    custom = NamespacePolicy(system_namespaces=frozenset({"infra"}))
    assert gets_only_cluster_network("infra", custom)
    assert not gets_only_cluster_network("kube-system", custom)
