"""Which interface name each attachment of a pod gets, and the collisions that must fail the ADD."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from multus.cni.errors import InterfaceConflict


@dataclass(frozen=True)
class InterfaceRequest:
    """One attachment in pod order; position 0 is the cluster network."""

    # How errors name the attachment, e.g. `ns/name` or the cluster network's config name.
    network: str
    # The name the pod asked for (already checked by the annotation parser), or None.
    interface: str | None = None


def assign_interface_names(
    requests: Sequence[InterfaceRequest], cluster_ifname: str, existing: Collection[str] = ()
) -> list[str]:
    """Names in request order: the requested one, else `cluster_ifname` for position 0, else `net<position>`.

    Positions count the whole list, so `a@macvlan1,b` after the cluster network gives `macvlan1` and
    `net2`. Two attachments with one name, or a name in `existing` (already in the pod's netns), raise
    `InterfaceConflict` naming both sides.
    """
    names: list[str] = []
    owner: dict[str, int] = {}
    for position, request in enumerate(requests):
        name = request.interface or (cluster_ifname if position == 0 else f"net{position}")
        if name in owner:
            first = owner[name]
            raise InterfaceConflict(
                f"interface name {name!r} is given to both attachment {first} ({requests[first].network}) "
                f"and attachment {position} ({request.network})"
            )
        if name in existing:
            raise InterfaceConflict(
                f"interface name {name!r} of attachment {position} ({request.network}) already exists "
                "in the pod's network namespace"
            )
        owner[name] = position
        names.append(name)
    return names
