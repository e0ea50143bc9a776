"""IP addresses and prefixes in the text forms Go's `net.ParseIP` and `net.ParseCIDR` accept.

Configs and annotations reach Go plugins, so a value accepted here is one they can read, and the other
way round: no zones (`%eth0`), no netmask form, no non-ASCII digits, no leading zeros in IPv4 octets.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def parse_ip(text: str) -> IPAddress | None:
    """A bare IPv4 or IPv6 address; None for anything else (prefixes, zones like `%eth0`, non-ASCII)."""
    if not text.isascii() or "%" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def parse_cidr(text: str) -> IPInterface | None:
    """`address/length` with a decimal length (leading zeros allowed, as Go reads it); host bits kept."""
    address, slash, prefix = text.partition("/")
    ip = parse_ip(address)
    if ip is None or not slash or not (prefix.isascii() and prefix.isdigit()):
        return None
    length = prefix.lstrip("0") or "0"
    if len(length) > 3 or int(length) > ip.max_prefixlen:
        return None
    return ipaddress.ip_interface(f"{ip}/{length}")


def parse_ip_or_cidr(text: str) -> IPAddress | IPInterface | None:
    """An address with an optional prefix length (`10.1.1.5`, `10.1.1.5/24`)."""
    return parse_cidr(text) if "/" in text else parse_ip(text)
