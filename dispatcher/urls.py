"""Which endpoint URLs are accepted: the ones requests can send to, read the way urllib3 reads them.

Checked once, when an endpoint is added or its URL changed, so that a mistyped port or host is
refused in one line then, rather than saved and failing every delivery later. urllib3's
``parse_url`` decides; the checks around it refuse what it lets through yet requests, the
resolver or the connection would fail on (port 0, a bad IPv6 literal, a host with characters
no host name has), and say what is wrong where urllib3 only says "failed to parse".
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from .errors import DispatcherError
from .sending.reach import public_url

Scheme = Literal["http", "https"]
DEFAULT_PORTS: dict[Scheme, int] = {"http": 80, "https": 443}

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# A host name once urllib3 has lower-cased it and IDNA-encoded its international labels.
_NAME_CHARACTERS = re.compile(r"[a-z0-9._-]+")
_PORT = re.compile(r"[0-9]+")  # ASCII digits only: str.isdigit() also takes "٣"
_AUTHORITY_END = re.compile(r"[/?#]")
_PORT_RANGE = "the port must be a number from 1 to 65535"


@dataclass(frozen=True)
class Destination:
    """Where a URL's requests go."""

    scheme: Scheme
    host: str  # as looked up: an IDNA-encoded name, or an IP address without brackets
    port: int


def check_url(url: str) -> str:
    """``url`` unchanged, once it is known to be one requests can send to."""
    destination(url)
    return url


def destination(url: str) -> Destination:
    """Scheme, host and port of ``url``; a DispatcherError, in one line, if requests could not send to it."""

    def refused(why: str) -> DispatcherError:
        return DispatcherError(f"invalid URL {public_url(url)!r}: {why}")  # a password in it is a secret

    if any(char.isspace() or unicodedata.category(char) == "Cc" for char in url):
        raise refused("it contains a space or a control character (in a path, write a space as %20)")
    if "\\" in url:
        # urllib3 and browsers read it as a slash: `http://ex\ample.com/` would go to host `ex`.
        raise refused("it contains a backslash (in a path, write it as %5C)")
    if _BAD_ESCAPE.search(url):
        raise refused("a % must start an escape of two hex digits, like %20 (a % itself is %25)")
    try:
        parts = parse_url(url)
    except LocationParseError:
        raise refused(_unparsable(url)) from None
    if parts.scheme not in DEFAULT_PORTS or not parts.host:
        raise refused("use an http:// or https:// URL with a host")
    scheme: Scheme = "https" if parts.scheme == "https" else "http"
    if parts.port == 0:
        raise refused(_PORT_RANGE)
    if parts.host.startswith("["):
        host = parts.host[1:-1]
        if _ipv6(host) is None:
            raise refused(f"{host!r} is not an IPv6 address")
    else:
        host = parts.host
        why = _bad_name(host)
        if why is not None:
            raise refused(why)
    return Destination(scheme, host, parts.port or DEFAULT_PORTS[scheme])


def _unparsable(url: str) -> str:
    """What is wrong with a URL urllib3 refuses, as far as can be told."""
    authority = _AUTHORITY_END.split(url.partition("://")[2], maxsplit=1)[0]
    host_port = authority.rpartition("@")[2]
    if host_port.startswith("["):
        literal, bracket, after = host_port[1:].partition("]")
        if not bracket:
            return "the IPv6 address has no closing ]"
        if _ipv6(literal) is None:
            return f"{literal!r} is not an IPv6 address"
        if after and not after.startswith(":"):
            return "only a :port may follow the ] of an IPv6 address"
        port = after[1:]
    elif _ipv6(host_port) is not None:
        return "an IPv6 address goes in brackets, like http://[2001:db8::1]:8080/"
    else:
        port = host_port.partition(":")[2]
    if port and not (_PORT.fullmatch(port) and 1 <= int(port) <= 65535):
        return _PORT_RANGE
    if not host_port.isascii():
        return "the host is not a valid international domain name"
    return "the host has a character a host name cannot have"


def _ipv6(text: str) -> ipaddress.IPv6Address | None:
    try:
        return ipaddress.IPv6Address(text)  # also takes a zone: fe80::1%eth0
    except ValueError:
        return None


def _bad_name(host: str) -> str | None:
    """Why the resolver could not look ``host`` up, or None."""
    if not _NAME_CHARACTERS.fullmatch(host):
        return f"the host {host!r} may only have letters, digits, '-', '_' and '.'"
    labels = host.removesuffix(".").split(".")
    if len(host) > 253 or any(not 0 < len(label) <= 63 for label in labels):
        return f"the host {host!r} has an empty part, or one over 63 characters, between dots"
    if labels[-1].isdigit():  # then it is an address, as a browser reads it, and must be a whole one
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"{host!r} is not an IPv4 address"
    return None
