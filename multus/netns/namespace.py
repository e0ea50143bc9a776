"""Opening a pod's network namespace for netlink, without ever creating it.

pyroute2 costs tens of milliseconds to import, more than the in-process plugin's whole ADD otherwise
spends on the namespace (a list of interface names, which libc gives): it is imported by what opens a
netlink handle, not here.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from multus.cni.errors import InvalidEnvironment, IOFailure

if TYPE_CHECKING:
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError


class NamespaceGone(IOFailure):
    """The network namespace path does not exist (any more): on DEL this means there is nothing to undo."""


_LIBC = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNET = 0x40000000
_NSFS_MAGIC = 0x6E736673
# struct statfs is 120 bytes on 64-bit Linux; f_type, a long, comes first everywhere.
_STATFS_BYTES = 256


def _filesystem_type(fd: int) -> int:
    buffer = ctypes.create_string_buffer(_STATFS_BYTES)
    if _LIBC.fstatfs(fd, buffer) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return ctypes.c_long.from_buffer(buffer).value


def open_namespace(netns_path: str) -> int:
    """A descriptor of the network namespace at `netns_path`, which must be one.

    Opened without blocking (a FIFO named there would block the opener until someone writes to it: on
    the daemon's event loop, every pod of the node), then checked to be an nsfs file.
    """
    try:
        fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError as error:
        raise NamespaceGone(f"CNI_NETNS: network namespace {netns_path} does not exist") from error
    except OSError as error:
        raise IOFailure(f"cannot open network namespace {netns_path}", error.strerror or "") from error
    try:
        if _filesystem_type(fd) != _NSFS_MAGIC:
            raise InvalidEnvironment(f"CNI_NETNS: {netns_path} is not a network namespace")
    except OSError as error:
        os.close(fd)
        raise IOFailure(f"cannot inspect network namespace {netns_path}", error.strerror or "") from error
    except InvalidEnvironment:
        os.close(fd)
        raise
    return fd


def _setns(fd: int) -> None:
    if _LIBC.setns(fd, _CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


@contextmanager
def inside(netns_path: str) -> Iterator[None]:
    """The calling thread inside `netns_path`, and back home afterwards.

    Sockets opened meanwhile stay bound to that namespace. Never creates a missing namespace, unlike
    pyroute2, which would hide a vanished pod. On an event loop's thread, only around work that neither
    awaits nor takes long: every coroutine would otherwise run in the pod's namespace. A thread that
    cannot come back would do every later request's work in the wrong namespace: the process ends.
    """
    target = open_namespace(netns_path)
    try:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
        except OSError as error:
            os.close(home)
            raise IOFailure(f"cannot enter network namespace {netns_path}", str(error)) from error
    finally:
        os.close(target)
    try:
        yield
    finally:
        try:
            _setns(home)
        except OSError as error:
            logging.getLogger(__name__).critical("stuck in network namespace %s: %s", netns_path, error)
            os._exit(70)
        finally:
            os.close(home)


@contextmanager
def netns_route(netns_path: str) -> Iterator[IPRoute]:
    """An rtnetlink handle inside `netns_path`, opened from the calling thread (see `inside`).

    pyroute2's own way forks a helper process per handle: tens of milliseconds on every pod operation.
    """
    from pyroute2 import IPRoute  # noqa: PLC0415  see the module's docstring
    from pyroute2.netlink.exceptions import NetlinkError  # noqa: PLC0415

    try:
        with inside(netns_path):
            handle = IPRoute()
    except (OSError, NetlinkError) as error:
        raise IOFailure(f"cannot open netlink in network namespace {netns_path}", str(error)) from error
    with handle:
        yield handle


def is_missing(error: NetlinkError) -> bool:
    """Whether a netlink error means the object is already gone."""
    return error.code in (errno.ENODEV, errno.ENOENT, errno.ESRCH)
