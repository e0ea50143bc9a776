"""`v1.multus-cni.io/default-network`: one network replacing the cluster default."""

from __future__ import annotations

import pytest

from multus.cni.errors import InvalidAnnotation
from multus.k8s.annotations import parse_default_network_annotation
from multus.k8s.constants import DEFAULT_NETWORK_ANNOTATION
from multus.k8s.selection import NetworkSelection


@pytest.mark.parametrize("value", [None, "", "  ", "[]"])
def test_absent_means_no_override(value: str | None) -> None:
    assert parse_default_network_annotation(value, "kube-system") is None


def test_bare_name_is_looked_up_in_the_multus_namespace() -> None:
    assert parse_default_network_annotation("calico", "kube-system") == NetworkSelection(
        "calico", "kube-system"
    )


def test_explicit_namespace_is_kept_in_both_forms() -> None:
    expected = NetworkSelection("calico", "nets")
    assert parse_default_network_annotation("nets/calico", "kube-system") == expected
    assert (
        parse_default_network_annotation('[{"name": "calico", "namespace": "nets"}]', "kube-system")
        == expected
    )


@pytest.mark.parametrize("value", ["a,b", '[{"name": "a"}, {"name": "b"}]'])
def test_more_than_one_network_is_refused(value: str) -> None:
    with pytest.raises(InvalidAnnotation, match="names 2 networks") as caught:
        parse_default_network_annotation(value, "kube-system")
    assert str(caught.value).startswith(DEFAULT_NETWORK_ANNOTATION)
    assert "kube-system/a, kube-system/b" in str(caught.value)


@pytest.mark.parametrize("value", ["a/b/c", '[{"name": "A"}]', "["])
def test_malformed_values_name_this_annotation(value: str) -> None:
    with pytest.raises(InvalidAnnotation) as caught:
        parse_default_network_annotation(value, "kube-system")
    assert str(caught.value).startswith(f"{DEFAULT_NETWORK_ANNOTATION}: ")
