"""What the whereabouts and dhcp IPAM plugins refuse in a plugin's input, found before they run.

whereabouts (k8snetworkplumbingwg/whereabouts, read at commit 3a262bd0, after v0.9.4) is not built
here, so its rules are taken from its source:
- pkg/types/types.go: the `ipam` section decodes into IPAMConfig through an alias struct; `range_start`,
  `range_end` and `Gateway` at the ipam level are strings read by backwardsCompatibleIPAddress, which
  drops one that does not parse, while an `ipRanges` entry's `range_start`/`range_end` are net.IP (a bad
  one fails the decode).
- pkg/config/config.go LoadIPAMConfig: each range (`range`, put first, then `ipRanges[*].range`) is a
  CIDR, or `<first IP>-<CIDR>` whose first IP lies in the CIDR (the CIDR's address is the last), both
  read with k8s.io/utils/net's sloppy parsers (IPv4 octets may have leading zeros); a non-empty `gateway`
  is an IP; `addresses[*].address` are CIDRs, at most one per family before 0.3.0 (configureStatic).
  Its own check of `exclude` never runs (it clears the list first, config.go line 123).
- pkg/allocate/allocate.go parseExcludedRange, at ADD: every `exclude` entry is a CIDR or a bare IP (Go's
  strict parsers); pkg/iphelpers FirstUsableIP, at ADD: a range needs an address besides its network
  and broadcast ones (a /31 or /127 has none). A `range_start` or `range_end` outside its range is
  ignored (GetIPRange), so it is not refused.
A missing range or kubeconfig is not refused: the node's whereabouts.conf may supply them.

dhcp (containernetworking/plugins v1.10 plugins/ipam/dhcp): every command decodes the `ipam` section
(getSocketPath); at ADD the daemon's prepareOptions refuses a `provide` option that is neither a name it
knows nor a decimal 0-255, a `provide` value over 255 bytes, and a non-empty `request` option it cannot
parse in the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from multus.cni import gojson
from multus.cni.addresses import IPAddress, IPInterface, parse_cidr, parse_ip
from multus.cni.go_types import ADDRESS, DNS, IP, ROUTE, to4
from multus.cni.gojson import Refused, integer, list_of, pointer, string, struct
from multus.cni.validation import short

WHEREABOUTS, DHCP = "whereabouts", "dhcp"
# configureStatic: "CNI spec 0.2.0 and below supported only one v4 and v6 address".
_ONE_ADDRESS_PER_FAMILY = ("", "0.1.0", "0.2.0")

_RANGE = struct({"exclude": list_of(string), "range": string, "range_start": IP, "range_end": IP})
_WHEREABOUTS = struct(
    {
        "name": string,
        "cniVersion": string,
        "ipam": pointer(
            struct(
                {
                    "Name": string,
                    "type": string,
                    "routes": list_of(pointer(ROUTE)),
                    "datastore": string,
                    "addresses": list_of(ADDRESS),
                    "ipRanges": list_of(_RANGE),
                    "node_slice_size": string,
                    "exclude": list_of(string),
                    "dns": DNS,
                    "range": string,
                    "range_start": string,
                    "range_end": string,
                    "gateway": string,
                    **dict.fromkeys(
                        (
                            "etcd_host",
                            "etcd_username",
                            "etcd_password",
                            "etcd_key_file",
                            "etcd_cert_file",
                            "etcd_ca_cert_file",
                        ),
                        string,
                    ),
                    "leader_lease_duration": integer,
                    "leader_renew_deadline": integer,
                    "leader_retry_period": integer,
                    "log_file": string,
                    "log_level": string,
                    "reconciler_cron_expression": string,
                    "enable_overlapping_ranges": gojson.boolean,
                    "sleep_for_race": integer,
                    "Gateway": string,
                    "kubernetes": struct({"kubeconfig": string, "k8s_api_root": string}),
                    "configuration_path": string,
                    "PodName": string,
                    "PodNamespace": string,
                    "network_name": string,
                }
            )
        ),
    }
)
_DHCP = struct(
    {
        "ipam": pointer(
            struct(
                {
                    "type": string,
                    "daemonSocketPath": string,
                    "provide": list_of(struct({"option": string, "value": string, "fromArg": string})),
                    "request": list_of(struct({"skipDefault": gojson.boolean, "option": string})),
                    "priority": integer,
                }
            )
        )
    }
)
# dhcp's optionNameToID.
_DHCP_OPTION_NAMES = frozenset(
    {
        "dhcp-client-identifier",
        "subnet-mask",
        "routers",
        "host-name",
        "user-class",
        "vendor-class-identifier",
    }
)
_DHCP_VALUE_MAX_BYTES = 255


def parse_ip_sloppy(text: str) -> IPAddress | None:
    """k8s.io/utils/net's ParseIPSloppy: Go's ParseIP, but IPv4 octets may carry leading zeros (read as
    decimal), in a plain or an embedded IPv4 address."""
    head, colon, tail = text.rpartition(":")
    octets = tail.split(".")
    # At most 3 significant digits: a longer octet fails either way.
    if len(octets) == 4 and all(_decimal(octet, 3) for octet in octets):
        tail = ".".join(octet.lstrip("0") or "0" for octet in octets)
    return parse_ip(head + colon + tail)


def _decimal(text: str, digits: int) -> bool:
    """ASCII decimal digits, at most `digits` of them besides leading zeros."""
    return text.isascii() and text.isdigit() and len(text.lstrip("0")) <= digits


def parse_cidr_sloppy(text: str) -> IPInterface | None:
    """k8s.io/utils/net's ParseCIDRSloppy: `address/length` with the sloppy address."""
    address, slash, prefix = text.partition("/")
    ip = parse_ip_sloppy(address)
    return parse_cidr(f"{ip}/{prefix}") if ip is not None and slash else None


def check_whereabouts(config: Mapping[str, Any], version: str) -> None:
    ipam = _WHEREABOUTS(config, "").get("ipam") or {}
    listed = [
        (f"ipam.ipRanges[{index}]", item or {}) for index, item in enumerate(ipam.get("ipRanges") or [])
    ]
    for where, item in ([("ipam", ipam)] if ipam.get("range") else []) + listed:
        _whereabouts_range(f"{where}.range", item.get("range", ""))
    gateway = ipam.get("gateway", "")
    if gateway and parse_ip_sloppy(gateway) is None:
        raise Refused("ipam.gateway", f"{short(gateway)} is not an IP address")
    families = []
    for index, address in enumerate(ipam.get("addresses") or []):
        text = (address or {}).get("address", "")
        parsed = parse_cidr_sloppy(text)
        if parsed is None:
            raise Refused(
                f"ipam.addresses[{index}].address", f"{short(text)} is not an address/prefix (CIDR)"
            )
        families.append(to4(parsed.ip).version)
    if max(families.count(4), families.count(6)) > 1 and version in _ONE_ADDRESS_PER_FAMILY:
        raise Refused("ipam.addresses", f"cniVersion {version!r} allows one address per IP family")
    for where, item in [("ipam", ipam), *listed]:
        for index, entry in enumerate(item.get("exclude") or []):
            text = entry or ""
            if parse_cidr(text) is None and parse_ip(text) is None:
                raise Refused(
                    f"{where}.exclude[{index}]", f"{short(text)} is not an address/prefix or an address"
                )


def _whereabouts_range(where: str, text: str) -> None:
    first_text, dash, cidr_text = text.partition("-")
    cidr = parse_cidr_sloppy(cidr_text if dash else text)
    if cidr is None:
        raise Refused(where, f"{short(text)} is not a CIDR or <first IP>-<CIDR>")
    network = cidr.network
    if dash:
        first = parse_ip_sloppy(first_text)
        if first is None:
            raise Refused(where, f"{short(first_text)} (the range's first address) is not an IP address")
        if to4(first) not in network:
            raise Refused(where, f"its first address {first} is not in {network}")
    if network.max_prefixlen - network.prefixlen <= 1:
        raise Refused(where, f"{network} has no addresses besides its network and broadcast ones")


def whereabouts_args_problem(args: Iterable[tuple[str, str]]) -> Refused | None:
    """handleEnvArgs: `IP` is a comma list of CIDRs, `GATEWAY` a comma list of IPs (sloppy parsers)."""
    for key, value in args:
        if key not in ("IP", "GATEWAY") or not value:
            continue
        parse, what = (
            (parse_cidr_sloppy, "an address/prefix") if key == "IP" else (parse_ip_sloppy, "an IP address")
        )
        for item in value.split(","):
            if parse(item.strip()) is None:
                return Refused(f"CNI_ARGS {key}", f"{short(item)} is not {what}")
    return None


def check_dhcp(config: Mapping[str, Any]) -> None:
    ipam = _DHCP(config, "").get("ipam") or {}
    for index, provide in enumerate(ipam.get("provide") or []):
        option, value = (provide or {}).get("option", ""), (provide or {}).get("value", "")
        _dhcp_option(f"ipam.provide[{index}].option", option)
        # Go counts the bytes of the UTF-8 text; a lone surrogate becomes U+FFFD, also 3 bytes.
        if len(value.encode("utf-8", "surrogatepass")) > _DHCP_VALUE_MAX_BYTES:
            raise Refused(f"ipam.provide[{index}].value", f"is longer than {_DHCP_VALUE_MAX_BYTES} bytes")
    for index, request in enumerate(ipam.get("request") or []):
        option = (request or {}).get("option", "")
        if option:  # an empty option only carries skipDefault
            _dhcp_option(f"ipam.request[{index}].option", option)


def _dhcp_option(where: str, option: str) -> None:
    """parseOptionName: a known name, or strconv.ParseUint(option, 10, 8)."""
    if option in _DHCP_OPTION_NAMES:
        return
    if not (_decimal(option, 3) and int(option.lstrip("0") or "0") <= 255):
        names = ", ".join(sorted(_DHCP_OPTION_NAMES))
        raise Refused(where, f"{short(option)} is not a DHCP option number (0-255) or one of {names}")
