"""IP, MAC and InfiniBand GUID text as pod annotations and CNI results carry it.

The accepted forms match what the Go side (net.ParseIP, net.ParseCIDR) accepts, so a value we let
through is one the delegate plugins can read.
"""

from __future__ import annotations

import ipaddress
import re

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

_MAC48 = re.compile(r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}")
_GUID64 = re.compile(r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){6}")


def parse_ip(text: str) -> IPAddress | None:
    """A bare IPv4 or IPv6 address; None for anything else (prefixes, zones like `%eth0`, non-ASCII)."""
    if not text.isascii() or "%" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def parse_ip_or_cidr(text: str) -> IPAddress | IPInterface | None:
    """An address with an optional decimal prefix length (`10.1.1.5`, `10.1.1.5/24`); no netmask form."""
    address, slash, prefix = text.partition("/")
    ip = parse_ip(address)
    if ip is None or not slash:
        return ip
    if not (prefix.isascii() and prefix.isdigit()) or len(prefix) > 3 or int(prefix) > ip.max_prefixlen:
        return None
    return ipaddress.ip_interface(f"{ip}/{int(prefix)}")


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
