"""Opening a pod's network namespace for netlink, without ever creating it."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from multus.cni.errors import IOFailure


class NamespaceGone(IOFailure):
    """The network namespace path does not exist (any more): on DEL this means there is nothing to undo."""


@contextmanager
def netns_route(netns_path: str) -> Iterator[IPRoute]:
    """An rtnetlink handle inside `netns_path`.

    pyroute2 creates a missing namespace unless told otherwise, which would hide a vanished pod: open the
    path ourselves and hand pyroute2 the fd.
    """
    try:
        fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError as error:
        raise NamespaceGone(f"network namespace {netns_path} does not exist") from error
    except OSError as error:
        raise IOFailure(f"cannot open network namespace {netns_path}", error.strerror or "") from error
    try:
        handle = IPRoute(netns=fd, flags=0)
    except (OSError, NetlinkError) as error:
        os.close(fd)
        raise IOFailure(f"cannot open netlink in network namespace {netns_path}", str(error)) from error
    try:
        with handle:
            yield handle
    finally:
        os.close(fd)


def is_missing(error: NetlinkError) -> bool:
    """Whether a netlink error means the object is already gone."""
    return error.code in (errno.ENODEV, errno.ENOENT, errno.ESRCH)
