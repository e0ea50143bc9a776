"""Naming rules: Kubernetes DNS-1123 labels (namespaces, NAD names).

Each check returns the problem as a phrase (or None when the name is fine), so the caller can raise the
error class that fits where the name came from. Interface names follow `multus.cni.names.ifname_error`.
"""

from __future__ import annotations

import re

DNS1123_LABEL_MAX_LENGTH = 63

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
