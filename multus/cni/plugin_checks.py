"""What the main plugins refuse in their own keys, found before any plugin runs.

Read from containernetworking/plugins v1.10 (plugins/main/*, plugins/meta/tuning) and the kernel limits
their netlink requests meet; only what every node refuses is refused here (a master's own MTU, or whether
it exists, is the node's to judge):

- `bridge` (loadNetConf, every command): its keys' types, `vlan` 0-4094, `vlanTrunk` ranges 1-4094; at
  ADD, `mtu` is the bridge's and the veth pair's.
- `macvlan` (loadConf at ADD): `mtu` below 0 ("must be [0, master MTU]"); `mode` one of bridge, private,
  vepa, passthru (modeFromString).
- `ipvlan`: `mode` one of l2, l3, l3s (modeFromString at ADD). It reads no `flag` key: the plugin takes
  whatever it holds, so do we.
- `vlan` (loadConf, every command): `master` set, `vlanId` 0-4094; `mtu` below 0.
- `ptp`: `mtu` of the veth pair it makes.
- `tuning` (parseConf, every command; the MTU set at ADD): `mtu`, or `args.cni.mtu` which replaces it.

MTUs reach the kernel as netlink's u32 (vishvananda/netlink sends a link's MTU only when above 0), which
the kernel reads back as an int: a negative one is below every device's minimum. A created veth, bridge,
macvlan or ipvlan link takes ETH_MIN_MTU (68) to ETH_MAX_MTU (65535); a vlan link has no minimum.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from multus.cni import gojson
from multus.cni.gojson import Decoder, Refused, integer, list_of, pointer, string, struct
from multus.cni.validation import short

_ETH_MIN_MTU, _ETH_MAX_MTU = 68, 65535
_VLAN_IDS = range(4095)  # the 802.1Q ID (12 bits) less 4095, which is reserved
_TRUNK_IDS = range(1, 4095)  # bridge's collectVlanTrunk: 0 is no VLAN
_MACVLAN_MODES = ("bridge", "private", "vepa", "passthru")
_IPVLAN_MODES = ("l2", "l3", "l3s")
_UINT32 = range(2**32)


def _uint32(value: object, where: str) -> object:
    decoded = integer(value, where)
    if isinstance(decoded, int) and decoded not in _UINT32:
        raise Refused(where, f"must be an integer from 0 to {2**32 - 1}, not {decoded}")
    return decoded


_MAC_ARGS = {"args": struct({"cni": struct({"mac": string})}), "runtimeConfig": struct({"mac": string})}
_BRIDGE = struct(
    {
        "bridge": string,
        "isGateway": gojson.boolean,
        "isDefaultGateway": gojson.boolean,
        "forceAddress": gojson.boolean,
        "ipMasq": gojson.boolean,
        "ipMasqBackend": pointer(string),
        "mtu": integer,
        "hairpinMode": gojson.boolean,
        "promiscMode": gojson.boolean,
        "vlan": integer,
        "vlanTrunk": list_of(
            pointer(struct({"minID": pointer(integer), "maxID": pointer(integer), "id": pointer(integer)}))
        ),
        "preserveDefaultVlan": gojson.boolean,
        "macspoofchk": gojson.boolean,
        "enabledad": gojson.boolean,
        "disableContainerInterface": gojson.boolean,
        "portIsolation": gojson.boolean,
        **_MAC_ARGS,
    }
)
_MACVLAN = struct(
    {
        "master": string,
        "mode": string,
        "mtu": integer,
        "mac": string,
        "linkInContainer": gojson.boolean,
        "bcqueuelen": _uint32,
        "runtimeConfig": struct({"mac": string}),
    }
)
_IPVLAN = struct({"master": string, "mode": string, "mtu": integer, "linkInContainer": gojson.boolean})
_VLAN = struct({"master": string, "vlanId": integer, "mtu": integer, "linkInContainer": gojson.boolean})
_PTP = struct({"ipMasq": gojson.boolean, "ipMasqBackend": pointer(string), "mtu": integer})
_TUNING = struct(
    {
        "dataDir": string,
        "sysctl": gojson.map_of(string),
        "mac": string,
        "promisc": gojson.boolean,
        "mtu": integer,
        "txQLen": pointer(integer),
        "allmulti": pointer(gojson.boolean),
        "runtimeConfig": struct({"mac": string}),
        "args": pointer(
            struct(
                {
                    "cni": pointer(
                        struct(
                            {
                                "sysctl": pointer(gojson.map_of(string)),
                                "mac": pointer(string),
                                "promisc": pointer(gojson.boolean),
                                "mtu": pointer(integer),
                                "allmulti": pointer(gojson.boolean),
                                "txQLen": pointer(integer),
                            }
                        )
                    )
                }
            )
        ),
    }
)


def main_plugin_problem(config: Mapping[str, Any]) -> None:
    """Raise `Refused` for what plugin `config["type"]` refuses in its own keys; other types pass."""
    check = _CHECKS.get(str(config.get("type")))
    if check is not None:
        decoder, judge = check
        judge(decoder(config, ""))


def _kernel_int(mtu: int) -> int:
    """The MTU the kernel reads: netlink's u32 of Go's int, read back as a C int."""
    return ((mtu & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000


def _created_link_mtu(conf: dict[str, Any], minimum: int = _ETH_MIN_MTU) -> None:
    """A new link's MTU: sent only when above 0, then held to the link type's range."""
    mtu = conf.get("mtu", 0)
    if mtu > 0 and not minimum <= _kernel_int(mtu) <= _ETH_MAX_MTU:
        raise Refused("mtu", f"{mtu} is not an MTU the kernel gives a new link ({minimum} to {_ETH_MAX_MTU})")


def _mtu_not_negative(conf: dict[str, Any]) -> None:
    if conf.get("mtu", 0) < 0:
        raise Refused("mtu", f"{conf['mtu']} is negative (0 means the master's MTU)")


def _mode(conf: dict[str, Any], modes: tuple[str, ...]) -> None:
    mode = conf.get("mode", "")
    if mode and mode not in modes:
        raise Refused("mode", f"{short(mode)} is not one of {', '.join(modes)}")


def _check_bridge(conf: dict[str, Any]) -> None:
    if conf.get("vlan", 0) not in _VLAN_IDS:
        raise Refused("vlan", f"{conf['vlan']} is not a VLAN ID (0 to 4094)")
    for index, trunk in enumerate(conf.get("vlanTrunk") or []):
        where = f"vlanTrunk[{index}]"
        if trunk is None:  # the plugin dereferences it: it would crash on every command
            raise Refused(where, "must be an object, not null")
        low, high, single = trunk.get("minID"), trunk.get("maxID"), trunk.get("id")
        if (low is None) != (high is None):
            raise Refused(where, "sets one of minID and maxID: set both or neither")
        for key, value in (("minID", low), ("maxID", high), ("id", single)):
            if value is not None and value not in _TRUNK_IDS:
                raise Refused(f"{where}.{key}", f"{value} is not a VLAN ID (1 to 4094)")
        if low is not None and high is not None and high < low:
            raise Refused(where, f"maxID {high} is below minID {low}")
    _created_link_mtu(conf)


def _check_macvlan(conf: dict[str, Any]) -> None:
    _mtu_not_negative(conf)
    _created_link_mtu(conf)
    _mode(conf, _MACVLAN_MODES)


def _check_ipvlan(conf: dict[str, Any]) -> None:
    _created_link_mtu(conf)
    _mode(conf, _IPVLAN_MODES)


def _check_vlan(conf: dict[str, Any]) -> None:
    if not conf.get("master"):
        raise Refused("master", "is required: the host interface to make the VLAN on")
    if conf.get("vlanId", 0) not in _VLAN_IDS:
        raise Refused("vlanId", f"{conf['vlanId']} is not a VLAN ID (0 to 4094)")
    _mtu_not_negative(conf)
    _created_link_mtu(conf, minimum=0)


def _check_tuning(conf: dict[str, Any]) -> None:
    given = ((conf.get("args") or {}).get("cni") or {}).get("mtu")
    where, mtu = ("args.cni.mtu", given) if given is not None else ("mtu", conf.get("mtu", 0))
    if _kernel_int(mtu) < 0:
        raise Refused(where, f"{mtu} is not an MTU the kernel can set (0 to {2**31 - 1})")


_CHECKS: dict[str, tuple[Decoder, Callable[[dict[str, Any]], None]]] = {
    "bridge": (_BRIDGE, _check_bridge),
    "macvlan": (_MACVLAN, _check_macvlan),
    "ipvlan": (_IPVLAN, _check_ipvlan),
    "vlan": (_VLAN, _check_vlan),
    "ptp": (_PTP, _created_link_mtu),
    "tuning": (_TUNING, _check_tuning),
}
