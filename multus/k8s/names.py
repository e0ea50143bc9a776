"""Naming rules: Kubernetes DNS-1123 labels (namespaces, NAD names) and Linux network interface names.

Each check returns the problem as a phrase (or None when the name is fine), so the caller can raise the
error class that fits where the name came from.
"""

from __future__ import annotations

import re

DNS1123_LABEL_MAX_LENGTH = 63
# IFNAMSIZ is 16 bytes including the terminating NUL.
INTERFACE_NAME_MAX_BYTES = 15

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def dns1123_label_problem(value: str) -> str | None:
    if not value:
        return "must not be empty"
    if len(value) > DNS1123_LABEL_MAX_LENGTH:
        return f"is {len(value)} characters long; a DNS-1123 label has at most {DNS1123_LABEL_MAX_LENGTH}"
    if _DNS1123_LABEL.fullmatch(value) is None:
        return (
            f"{value!r} is not a DNS-1123 label (lower-case letters, digits and '-', "
            "starting and ending with a letter or digit)"
        )
    return None


def is_dns1123_label(value: str) -> bool:
    return dns1123_label_problem(value) is None


def interface_name_problem(name: str) -> str | None:
    """The kernel's rule (dev_valid_name), made stricter on one point: no control characters either."""
    if not name:
        return "must not be empty"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return f"{name!r} is not valid Unicode"
    if size > INTERFACE_NAME_MAX_BYTES:
        return f"{name!r} is {size} bytes long; at most {INTERFACE_NAME_MAX_BYTES} are allowed"
    if name in (".", ".."):
        return f"{name!r} is not allowed"
    if "/" in name or ":" in name:
        return f"{name!r} must not contain '/' or ':'"
    if any(char.isspace() or not char.isprintable() for char in name):
        return f"{name!r} must not contain whitespace or control characters"
    return None


def is_interface_name(name: str) -> bool:
    return interface_name_problem(name) is None
