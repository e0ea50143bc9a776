"""IP, MAC and InfiniBand GUID text as pod annotations and CNI results carry it.

The accepted forms match what the Go side (net.ParseIP, net.ParseCIDR) accepts, so a value we let
through is one the delegate plugins can read.
"""

from __future__ import annotations

import ipaddress
import re

from multus.cni.addresses import parse_ip, parse_ip_or_cidr

__all__ = [
    "bare_address",
    "is_default_destination",
    "normalize_guid",
    "normalize_mac",
    "parse_ip",
    "parse_ip_or_cidr",
]

_MAC48 = re.compile(r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}")
_GUID64 = re.compile(r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){6}")


def bare_address(text: str) -> str | None:
    """`10.1.1.5/24` -> `10.1.1.5` (canonical form); None when `text` is neither an address nor a CIDR."""
    parsed = parse_ip_or_cidr(text)
    if parsed is None:
        return None
    return str(parsed.ip if isinstance(parsed, ipaddress.IPv4Interface | ipaddress.IPv6Interface) else parsed)


def is_default_destination(text: str) -> bool:
    """A route destination with prefix length 0 (`0.0.0.0/0`, `::/0`), the only test that holds for both."""
    parsed = parse_ip_or_cidr(text)
    return (
        isinstance(parsed, ipaddress.IPv4Interface | ipaddress.IPv6Interface)
        and parsed.network.prefixlen == 0
    )


def normalize_mac(text: str) -> str | None:
    """A 48-bit Ethernet MAC with ':' or '-' separators, as lower-case `aa:bb:cc:dd:ee:ff`; else None."""
    if _MAC48.fullmatch(text) is None:
        return None
    return text.replace("-", ":").lower()


def normalize_guid(text: str) -> str | None:
    """A 64-bit InfiniBand GUID (8 octets, ':' or '-' separated), lower-case with ':'; else None."""
    if _GUID64.fullmatch(text) is None:
        return None
    return text.replace("-", ":").lower()
