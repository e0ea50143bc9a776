"""What the pod's namespace shows against what was asked: CHECK of every attachment, and whether each
attachment got the `ips` and `mac` its selection requested."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from multus.attachment_cache import AttachmentRecord
from multus.cni.errors import UnknownContainer
from multus.cni.results import Result, parse_result
from multus.cni.versions import CHECK_SINCE, at_least
from multus.k8s.delegate_inputs import check_requests_met
from multus.k8s.selection import NetworkSelection
from multus.netns import Link, NamespaceGone
from multus.orchestrator.parts import NamespaceOps, Parts
from multus.orchestrator.records import cni_attachment, conflist_of
from multus.orchestrator.scope import RequestScope


async def check(scope: RequestScope, parts: Parts) -> None:
    """CHECK each attachment with its delegates, then in the namespace: the interface and its addresses."""
    env = scope.env
    record = parts.records.load(env.container_id)
    if record is None:
        raise UnknownContainer(f"CHECK: no attachment record for container {env.container_id}")
    try:
        present = await asyncio.to_thread(parts.namespace.interfaces, env.netns)
    except NamespaceGone as error:
        raise UnknownContainer(f"CHECK: {error.msg}") from error
    for entry in record.attachments:
        conflist = conflist_of(entry.network, entry.config)
        # Before 0.4.0 plugins have no CHECK: such a network is checked in the namespace only.
        if at_least(conflist.version, CHECK_SINCE):
            await parts.runner.check(conflist, cni_attachment(env, entry, record))
        _check_interface(entry, present)


async def check_requests(
    namespace: NamespaceOps, netns: str, added: list[tuple[NetworkSelection, str, Result]]
) -> None:
    """Each attachment got the `ips` and `mac` its selection asks for (through CNI_ARGS a plugin may
    ignore them). A MAC is read from the namespace, else from the result's interface."""
    asked = [
        (selection, ifname, result) for selection, ifname, result in added if selection.ips or selection.mac
    ]
    wanted = [ifname for selection, ifname, _ in asked if selection.mac]
    # An Ethernet MAC by ioctl on the loop; netlink's dump (milliseconds, in a thread) only for the rest.
    shown: dict[str, str | None] = {
        ifname: mac for ifname in wanted if (mac := namespace.ethernet_mac(netns, ifname)) is not None
    }
    if len(shown) < len(wanted):
        present = await asyncio.to_thread(namespace.interfaces, netns)
        shown |= {
            ifname: present[ifname].mac for ifname in wanted if ifname in present and ifname not in shown
        }
    for selection, ifname, result in asked:
        mac = shown[ifname] if ifname in shown else _result_mac(result, ifname)
        check_requests_met(selection, ifname, result, mac)


def _check_interface(entry: AttachmentRecord, present: Mapping[str, Link]) -> None:
    iface = present.get(entry.ifname)
    if iface is None:
        raise UnknownContainer(f"CHECK: interface {entry.ifname} of network {entry.network} is missing")
    if entry.result is None:
        return
    index = _interface_index(entry)
    expected = {
        str(ip.address)
        for ip in parse_result(entry.result).ips
        if index is None or ip.interface in (None, index)
    }
    missing = sorted(expected - set(iface.addresses))
    if missing:
        raise UnknownContainer(
            f"CHECK: interface {entry.ifname} of network {entry.network} lacks {', '.join(missing)}"
        )


def _result_mac(result: Result, ifname: str) -> str | None:
    """The MAC the result gives the sandbox interface `ifname`, if any."""
    return next((link.mac for link in result.interfaces if link.name == ifname and link.sandbox), None)


def _interface_index(entry: AttachmentRecord) -> int | None:
    assert entry.result is not None
    for index, link in enumerate(entry.result.get("interfaces", [])):
        if link.get("name") == entry.ifname and link.get("sandbox"):
            return index
    return None
