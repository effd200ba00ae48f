"""Who may open a socket: handshakes per client address per second, and open sockets per
address, per user and per gateway.

A handshake is counted from the moment it starts (before authentication: a crowd of
handshakes in flight counts as much as open sockets), and released when its socket ends,
whichever way. Address and gateway limits are checked first and refused before the
upgrade (HTTP 429 / 503: nothing is spent on them); the user is known only once the token
is verified, which for a first-frame `auth` is after the upgrade, so that limit closes
the socket (4029) as authentication errors do.

The address is the TCP peer's: behind a proxy or load balancer every client has the
proxy's address, so set the address limits to 0 there and enforce them at the proxy.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from gateway.api.limits import Buckets, Rate, RateLimited
from gateway.config import LimitsConfig
from gateway.errors import ErrorCode, GatewayError

__all__ = ["Admission", "Ticket", "admission_key"]


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
    def __init__(self, limits: LimitsConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = limits
        self._handshakes = Buckets(Rate(limits.ws_handshake_rate, limits.ws_handshake_burst), clock)
        self._per_address: dict[str, int] = {}
        self._per_user: dict[str, int] = {}
        self.open = 0  # sockets and handshakes in flight

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
