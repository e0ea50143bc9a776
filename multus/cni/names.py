"""The spec's naming rules: container IDs, interface names, network names and plugin types.

Each check returns why a value breaks its rule, or None when it is fine, so callers can collect every
problem of a request into one error that names each field.
"""

from __future__ import annotations

import re

from multus.cni.validation import short

# CNI_CONTAINERID and network names share one rule in the spec (libcni's).
_IDENTIFIER = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.\-]*")
# The spec sets no length. Runtimes use 64 hex digits; the bounds keep every file named after a container
# or a network (records, libcni's result cache `<network>-<container>-<ifname>`) a possible file name.
MAX_CONTAINER_ID_LENGTH = 128
# A network is often named after its NetworkAttachmentDefinition, whose name has at most 253 characters.
MAX_NETWORK_NAME_LENGTH = 253
# The kernel's IFNAMSIZ is 16 bytes including the terminating NUL.
MAX_IFNAME_BYTES = 15


def container_id_error(value: str) -> str | None:
    return _identifier_error(value, MAX_CONTAINER_ID_LENGTH)


def network_name_error(value: str) -> str | None:
    # The name also becomes part of cache file names, so the rule keeps it a safe file name.
    return _identifier_error(value, MAX_NETWORK_NAME_LENGTH)


def _identifier_error(value: str, limit: int) -> str | None:
    if not value:
        return "must not be empty"
    if len(value) > limit:
        return f"is {len(value)} characters long, longer than {limit}"
    if not _IDENTIFIER.fullmatch(value):
        return (
            f"{short(value)} must start with a letter or digit and hold only letters, digits, '_', '.', '-'"
        )
    return None


def ifname_error(value: str) -> str | None:
    """The kernel's rule (dev_valid_name), made stricter on two points: no control characters, and the
    name must encode as UTF-8 (a non-UTF-8 environment variable arrives with surrogates)."""
    if not value:
        return "must not be empty"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return f"{short(value)} is not valid Unicode"
    if size > MAX_IFNAME_BYTES:
        return f"{short(value)} is {size} bytes long, longer than {MAX_IFNAME_BYTES} bytes"
    if value in (".", ".."):
        return f"{value!r} is not allowed"
    if "/" in value or ":" in value:
        return f"{value!r} must not contain '/' or ':'"
    if any(char.isspace() or not char.isprintable() for char in value):
        return f"{value!r} must not contain whitespace or control characters"
    return None


def plugin_type_error(value: str) -> str | None:
    # `type` names a file inside the plugin search path: anything that could walk out of it is refused.
    if not value:
        return "must not be empty"
    if "/" in value or "\\" in value or ".." in value or "\0" in value or value == ".":
        return f"{short(value)} must be a plain file name (no '/', '\\', '..' or NUL)"
    return None
