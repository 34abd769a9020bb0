"""Where requests may go: the guard against server-side request forgery (SSRF).

Endpoint URLs are typed in by people. Without a guard, one naming 127.0.0.1, a
10.x host or the cloud metadata address 169.254.169.254 would turn the
dispatcher into a way into the server's own network. So every address a host
name resolves to must be a public one, and the request then connects to an
address that was checked: the name is not looked up a second time, so a DNS
answer that changes between the check and the connection (rebinding) cannot
slip through. IPv6 forms that carry an IPv4 address (mapped, 6to4, NAT64,
Teredo) are judged by the address they carry.

``allow_private`` lifts the guard (for intranet receivers); ``allow_networks``
lists networks that are allowed although not public.

requests-hardened (checks only the first address a name resolves to, and has
no allow-list) and advocate (needs urllib3 < 2) were considered: see the README.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import DispatcherError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Not covered by ipaddress's is_global in every Python 3.11 release.
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: another customer's network
# Prefixes whose last 32 bits are an IPv4 address: NAT64's well-known one, IPv4-compatible
# (deprecated) and SIIT's IPv4-translated.
_CARRYING = tuple(ipaddress.ip_network(prefix) for prefix in ("64:ff9b::/96", "::/96", "::ffff:0:0:0/96"))
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # a site's own translator: never public


class RefusedDestination(Exception):
    """The URL's host is, or resolves to, an address the guard does not allow."""


class UnresolvedHost(Exception):
    """The URL's host name does not resolve."""


@dataclass(frozen=True)
class Reach:
    """Which addresses requests may go to."""

    allow_private: bool = False
    allow_networks: tuple[Network, ...] = ()

    def refusal(self, address: Address) -> str | None:
        """Why ``address`` may not be sent to ("a loopback address"), or None if it may."""
        if self.allow_private or any(address in network for network in self.allow_networks):
            return None
        carried = _carried_ipv4(address)
        if carried is not None:
            why = self.refusal(carried)
            return None if why is None else f"a form of {carried}, {why}"
        return _kind(address)

    def resolve(self, host: str, port: int) -> tuple[str, ...]:
        """The addresses to connect to for ``host``, in the resolver's order, after checking every one."""
        try:
            answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            raise UnresolvedHost(f"cannot resolve {host}: {error}") from None
        # A scope (fe80::1%eth0) is not part of the address.
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(answer[4][0]).split("%")[0]) for answer in answers))
        for address in addresses:
            why = self.refusal(address)
            if why is not None:
                where = f"{host} is" if host.strip("[]") == str(address) else f"{host} resolves to {address},"
                raise RefusedDestination(f"{where} {why}; allow it with --allow-private or the allow_networks setting")
        return tuple(str(address) for address in addresses)


# The authority's userinfo: everything up to the last "@" before the path, query or fragment.
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")


def public_url(url: str) -> str:
    """``url`` as shown to people: without its ``user:password@`` part. Never raises."""
    return _USERINFO.sub(r"\1", url)


def parse_networks(text: str) -> tuple[Network, ...]:
    """``10.0.0.0/8, fd00::/8`` as networks; a bare address is a network of one."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise DispatcherError(f"invalid network {item!r}: use CIDR notation, like 10.0.0.0/8") from None
    return tuple(networks)


def format_networks(networks: Sequence[Network]) -> str:
    return ", ".join(str(network) for network in networks)


def _kind(address: Address) -> str | None:
    """What sort of non-public address this is; None for a public one."""
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "a site-local address"  # deprecated, yet still routed inside some networks
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "the unspecified address"
    if address in _SHARED:
        return "a carrier-grade NAT address"
    if isinstance(address, ipaddress.IPv6Address) and address in _LOCAL_NAT64:
        return "a local NAT64 address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "a reserved address"
    return None


def _carried_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if it is one of the forms that carry one."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client, where packets end up
    if int(address) > 1 and any(address in prefix for prefix in _CARRYING):  # :: and ::1 are themselves
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None
