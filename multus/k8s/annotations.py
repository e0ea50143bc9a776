"""The pod annotations that select networks: `k8s.v1.cni.cncf.io/networks` and the default-network override.

Both take either form of the NPWG spec: a JSON list of selection objects when the value contains `[`,
`{` or `"`, otherwise a comma list of `name`, `namespace/name` or `namespace/name@interface`.

Choices where the spec is silent:
- An absent, empty or all-whitespace value selects nothing. `[]` selects nothing too.
- Comma form: items and their parts are trimmed; an empty item (`a,,b`, a trailing comma), an empty
  part (`/net`, `ns/`, `net@`) or a repeated `/` or `@` is an error. Namespace and name must be DNS-1123
  labels; the interface follows the interface-name rule, as upstream Multus applies it.
- JSON form: keys are case-sensitive (Go's decoder is not; the spec spells every key in lower camel case).
- Error messages number elements from 0 in both forms.
"""

from __future__ import annotations

from collections.abc import Sequence

from multus.cni.errors import InvalidAnnotation
from multus.cni.jsontext import MalformedJSON, decode_json
from multus.cni.names import ifname_error
from multus.k8s.constants import DEFAULT_NETWORK_ANNOTATION, NETWORKS_ANNOTATION
from multus.k8s.json_boundary import short
from multus.k8s.names import dns1123_label_problem
from multus.k8s.selection import NetworkSelection
from multus.k8s.selection_json import selection_from_json

_JSON_MARKERS = frozenset('[{"')
# Characters an interface name may hold that would change how the comma form reads.
_COMMA_FORM_SPECIALS = frozenset(',@/[{"')


def parse_networks_annotation(value: str | None, pod_namespace: str) -> list[NetworkSelection]:
    """The pod's extra networks, in order; a network without a namespace is looked up in the pod's."""
    selections = _parse(value, NETWORKS_ANNOTATION, default_namespace=pod_namespace)
    check_default_route_requests(selections, annotation=NETWORKS_ANNOTATION)
    return selections


def parse_default_network_annotation(value: str | None, multus_namespace: str) -> NetworkSelection | None:
    """The network replacing the cluster default for this pod, if any.

    A network without a namespace is looked up in `multusNamespace`.
    """
    selections = _parse(value, DEFAULT_NETWORK_ANNOTATION, default_namespace=multus_namespace)
    if len(selections) > 1:
        names = ", ".join(selection.reference for selection in selections)
        raise InvalidAnnotation(
            f"{DEFAULT_NETWORK_ANNOTATION}: names {len(selections)} networks ({names}); "
            "exactly one is allowed"
        )
    return selections[0] if selections else None


def check_default_route_requests(
    selections: Sequence[NetworkSelection], *, annotation: str = NETWORKS_ANNOTATION
) -> None:
    """At most one attachment may carry a non-empty `default-route`: the pod gets one default route."""
    carriers = [index for index, selection in enumerate(selections) if selection.default_route]
    if len(carriers) > 1:
        listed = ", ".join(f"{index} ({selections[index].reference})" for index in carriers)
        raise InvalidAnnotation(
            f'{annotation}: elements {listed} each set "default-route"; at most one attachment may carry it'
        )


def format_networks_annotation(selections: Sequence[NetworkSelection]) -> str:
    """The comma form (`ns/name@ifname,...`) of selections that carry nothing but name, namespace, interface.

    Raises ValueError for a selection the comma form cannot express: that is a caller's mistake.
    """
    return ",".join(_comma_item(selection) for selection in selections)


def _comma_item(selection: NetworkSelection) -> str:
    only_names = NetworkSelection(selection.name, selection.namespace, selection.interface)
    if selection != only_names:
        raise ValueError(f"{selection.reference} carries requests the comma form cannot express")
    item = selection.reference
    if selection.interface is not None:
        if _COMMA_FORM_SPECIALS.intersection(selection.interface):
            raise ValueError(f"interface name {selection.interface!r} cannot be written in the comma form")
        item += f"@{selection.interface}"
    return item


def _parse(value: str | None, annotation: str, *, default_namespace: str) -> list[NetworkSelection]:
    if value is None or not value.strip():
        return []
    if _JSON_MARKERS.intersection(value):
        return _parse_json_form(value, annotation, default_namespace)
    return [
        _parse_comma_item(item, index, annotation, default_namespace)
        for index, item in enumerate(value.split(","))
    ]


def _parse_json_form(value: str, annotation: str, default_namespace: str) -> list[NetworkSelection]:
    try:
        elements = decode_json(value)
    except MalformedJSON as exc:
        raise InvalidAnnotation(f"{annotation}: {exc}") from None
    if not isinstance(elements, list):
        raise InvalidAnnotation(
            f"{annotation}: the JSON form must be a list of objects, not {short(elements)}"
        )
    return [
        selection_from_json(element, index=index, annotation=annotation, default_namespace=default_namespace)
        for index, element in enumerate(elements)
    ]


def _parse_comma_item(raw: str, index: int, annotation: str, default_namespace: str) -> NetworkSelection:
    item = raw.strip()

    def fail(problem: str) -> InvalidAnnotation:
        return InvalidAnnotation(f"{annotation}: element {index} {short(item)}: {problem}")

    if not item:
        raise InvalidAnnotation(f"{annotation}: element {index} is empty (a stray comma?)")
    for separator in "/@":
        if item.count(separator) > 1:
            raise fail(f"more than one {separator!r}")
    namespace, slash, rest = item.rpartition("/")
    name, at, interface = rest.partition("@")
    namespace, name, interface = namespace.strip(), name.strip(), interface.strip()
    checks = [("network name", dns1123_label_problem(name))]
    if slash:
        checks.insert(0, ("namespace", dns1123_label_problem(namespace)))
    if at:
        checks.append(("interface name", ifname_error(interface)))
    for what, problem in checks:
        if problem:
            raise fail(f"{what} {problem}")
    return NetworkSelection(
        name=name, namespace=namespace if slash else default_namespace, interface=interface if at else None
    )
