"""Who may open a socket: handshakes per client address per second, and open sockets per
address, per user and per gateway.

A handshake is counted from the moment it starts (before authentication: a crowd of
handshakes in flight counts as much as open sockets), and released when its socket ends,
whichever way. Address and gateway limits are checked first and refused before the
upgrade (HTTP 429 / 503: nothing is spent on them); the user is known only once the token
is verified, which for a first-frame `auth` is after the upgrade, so that limit closes
the socket (4029) as authentication errors do.

The address is the TCP peer's, unless that peer is one of `server.trusted_proxies`: then
it is the nearest address in `X-Forwarded-For` that is not a trusted proxy (read from the
right, as nginx's realip module with `real_ip_recursive on` reads it), so a client cannot
pick its own address by sending the header, and through a proxy each client keeps its
own limits. With no trusted proxies (the default) the header is ignored.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable

from aiohttp import web

from gateway.api.limits import Buckets, Rate, RateLimited
from gateway.config import LimitsConfig
from gateway.errors import ErrorCode, GatewayError

__all__ = ["Admission", "Ticket", "admission_key", "client_address"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
    return parsed


def client_address(peer: str, forwarded_for: Iterable[str], trusted: tuple[Network, ...]) -> str:
    """The client's address: the TCP peer, or, when the peer is a trusted proxy, the
    rightmost `X-Forwarded-For` entry that is not one. An entry that is not an address
    stops the walk at the proxy that wrote it (what it vouched for is unreadable)."""
    address = _parse(peer)
    if address is None or not trusted:
        return peer
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    while any(address in net for net in trusted) and hops:
        previous = _parse(hops.pop())
        if previous is None:
            break
        address = previous
    return str(address)


class Ticket:
    """One socket's place: its address, and its user once known."""

    __slots__ = ("address", "user_id")

    def __init__(self, address: str) -> None:
        self.address = address
        self.user_id: str | None = None


def _add(counts: dict[str, int], key: str, step: int) -> None:
    value = counts.get(key, 0) + step
    if value > 0:
        counts[key] = value
    else:
        counts.pop(key, None)  # only keys with open sockets stay


class Admission:
    def __init__(
        self,
        limits: LimitsConfig,
        clock: Callable[[], float] = time.monotonic,
        trusted_proxies: tuple[str, ...] = (),
    ) -> None:
        self._limits = limits
        self._trusted = tuple(ipaddress.ip_network(cidr, strict=False) for cidr in trusted_proxies)
        self._handshakes = Buckets(Rate(limits.ws_handshake_rate, limits.ws_handshake_burst), clock)
        self._per_address: dict[str, int] = {}
        self._per_user: dict[str, int] = {}
        self.open = 0  # sockets and handshakes in flight

    def address_of(self, request: web.BaseRequest) -> str:
        """Whose limits a request counts against (see the module's docstring)."""
        forwarded = request.headers.getall("X-Forwarded-For", ())
        return client_address(request.remote or "", forwarded, self._trusted)

    def enter(self, address: str) -> Ticket:
        """A handshake starts; raises if this address or the gateway may take no more."""
        limits = self._limits
        if limits.ws_sockets_max and self.open >= limits.ws_sockets_max:
            raise GatewayError(ErrorCode.GATEWAY_FULL)
        if limits.ws_sockets_per_address and (
            self._per_address.get(address, 0) >= limits.ws_sockets_per_address
        ):
            raise GatewayError(
                ErrorCode.TOO_MANY_CONNECTIONS,
                f"at most {limits.ws_sockets_per_address} sockets per client address",
            )
        wait = self._handshakes.take(address)
        if wait:
            raise RateLimited(wait, "connection attempts")
        self.open += 1
        _add(self._per_address, address, 1)
        return Ticket(address)

    def claim(self, ticket: Ticket, user_id: str) -> None:
        """The socket's user is known; raises if they hold as many sockets as they may."""
        limit = self._limits.ws_sockets_per_user
        if ticket.user_id is not None:
            return
        if limit and self._per_user.get(user_id, 0) >= limit:
            raise GatewayError(ErrorCode.TOO_MANY_CONNECTIONS, f"at most {limit} sockets per user")
        ticket.user_id = user_id
        _add(self._per_user, user_id, 1)

    def leave(self, ticket: Ticket) -> None:
        self.open -= 1
        _add(self._per_address, ticket.address, -1)
        if ticket.user_id is not None:
            _add(self._per_user, ticket.user_id, -1)


admission_key = web.AppKey("admission_key", Admission)
