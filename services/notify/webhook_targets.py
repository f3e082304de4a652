"""Where webhooks may go (Security #7): public addresses only, unless the operator allows.

A subscription URL that names (or resolves to) a loopback, private, link-local, multicast or
reserved address is refused, in any spelling (`0x7f000001`, `2130706433`, `[::ffff:7f00:1]`
all resolve to 127.0.0.1), unless the host or a network holding the address is in the
operator's allow-list (`WEBHOOK_ALLOWED_TARGETS`). Each delivery resolves the host again and
connects to the address it checked (pinned), so a DNS answer that changes in between cannot
point it inside. Credentials in a URL are refused: they would be shown to whoever reads the
subscriptions.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(ValueError):
    """A webhook URL the bureau will not call."""


class Unresolvable(TargetRefused):
    """A host that does not resolve now (checked again at each delivery)."""


@dataclass(frozen=True)
class Pinned:
    """A checked target: the URL to connect to (the address) and the host it stands for."""

    url: str
    host: str


def _host(url: str) -> tuple[str, int | None, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("must be an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused(
            "must not carry credentials (they would be shown to readers of "
            "the subscriptions); authenticate with the signature"
        )
    return parts.hostname, parts.port, parts.scheme


def _inside(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _allowed(host: str, address: IPAddress, allowed: Sequence[str]) -> bool:
    for entry in allowed:
        if entry.lower() == host.lower():
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


async def resolve(url: str, allowed: Sequence[str]) -> list[IPAddress]:
    """The addresses `url`'s host resolves to, each one allowed; raises TargetRefused."""
    host, port, scheme = _host(url)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port or (443 if scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except (socket.gaierror, UnicodeError):
        raise Unresolvable(f"the host {host!r} does not resolve") from None
    addresses = list(
        dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos)
    )
    for address in addresses:
        if _inside(address) and not _allowed(host, address, allowed):
            raise TargetRefused(
                f"the host {host!r} is an internal address; the operator "
                "may allow it (WEBHOOK_ALLOWED_TARGETS)"
            )
    return addresses


async def pin(url: str, allowed: Sequence[str]) -> Pinned:
    """The URL to call: its host replaced by an address just checked."""
    host, port, _ = _host(url)
    address = (await resolve(url, allowed))[0]
    parts = urlsplit(url)
    netloc = (f"[{address}]" if address.version == 6 else str(address)) + (
        f":{port}" if port else ""
    )
    return Pinned(
        url=urlunsplit(parts._replace(netloc=netloc)),
        host=host if port is None else f"{host}:{port}",
    )


def shown(url: str) -> str:
    """A URL as shown to readers: never the credentials of an older subscription."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    return urlunsplit(parts._replace(netloc=netloc + (f":{parts.port}" if parts.port else "")))
