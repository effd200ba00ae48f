"""Per-address limits behind a proxy: `X-Forwarded-For` names the client only when the TCP
peer is one of `server.trusted_proxies`, read from the right past trusted hops.

Followed: nginx's realip module (`set_real_ip_from` + `real_ip_recursive on`: the client is
the rightmost address not in a trusted network) and GoTrue's rate limiter, which keys on
the forwarded address only behind its configured proxy; a client that sends the header
itself must not escape its limits or take another client's.
"""

from __future__ import annotations

import ipaddress
from contextlib import AsyncExitStack

import aiohttp
import pytest

from gateway.api.admission import client_address
from gateway.config import ConfigError, build_config
from tests.conftest import EmbeddedStack
from tests.gateway_helpers import connect, gateway_config, running_gateway, sign_up

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


def test_a_trusted_proxys_header_names_the_client_and_a_spoofed_left_entry_is_ignored() -> None:
    # The client wrote "6.6.6.6" itself; nginx appended the real peer 203.0.113.7.
    assert client_address("127.0.0.1", ["6.6.6.6, 203.0.113.7"], LOOPBACK) == "203.0.113.7"


def test_chained_trusted_proxies_are_skipped_from_the_right() -> None:
    trusted = (*LOOPBACK, ipaddress.ip_network("10.0.0.0/8"))
    assert client_address("127.0.0.1", ["198.51.100.9", "10.1.2.3"], trusted) == "198.51.100.9"


def test_the_header_is_ignored_from_an_untrusted_peer_or_with_no_trusted_proxies() -> None:
    assert client_address("192.0.2.1", ["203.0.113.7"], LOOPBACK) == "192.0.2.1"
    assert client_address("127.0.0.1", ["203.0.113.7"], ()) == "127.0.0.1"


def test_a_garbled_entry_stops_at_the_proxy_that_wrote_it() -> None:
    assert client_address("127.0.0.1", ["203.0.113.7, not-an-ip"], LOOPBACK) == "127.0.0.1"
    assert client_address("::ffff:127.0.0.1", ["2001:db8::1"], LOOPBACK) == "2001:db8::1"


def test_trusted_proxies_must_be_addresses_or_cidrs() -> None:
    config = build_config({}, {"GATEWAY_SERVER_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1"})
    assert config.server.trusted_proxies == ("10.0.0.0/8", "127.0.0.1")
    with pytest.raises(ConfigError, match=r"server\.trusted_proxies"):
        build_config({"server": {"trusted_proxies": ["10.0.0.0/33"]}})


async def _upgrade_status(url: str, token: str, forwarded_for: str) -> int:
    async with aiohttp.ClientSession() as http:
        try:
            ws = await http.ws_connect(
                url, params={"token": token}, headers={"X-Forwarded-For": forwarded_for}
            )
        except aiohttp.WSServerHandshakeError as err:
            return err.status
        await ws.close()
        return 101


async def test_behind_a_trusted_proxy_each_client_address_has_its_own_socket_limit(
    embedded: EmbeddedStack,
) -> None:
    users = [await sign_up(embedded) for _ in range(3)]
    config = gateway_config(
        embedded,
        limits={"ws_sockets_per_address": 1},
        server={"trusted_proxies": ["127.0.0.1/32"]},
    )
    async with running_gateway(config, embedded) as gw, AsyncExitStack() as stack:
        first = connect(
            gw, "/ws", token=users[0].token, headers={"X-Forwarded-For": "198.51.100.1"}
        )
        await stack.enter_async_context(first)
        # Another client behind the same proxy is not counted against the first one's place…
        assert await _upgrade_status(gw.ws_url + "/ws", users[1].token, "198.51.100.2") == 101
        # …but the same client again is, even if it prepends a made-up address.
        crowded = "203.0.113.50, 198.51.100.1"
        assert await _upgrade_status(gw.ws_url + "/ws", users[2].token, crowded) == 429


async def test_without_trusted_proxies_a_client_cannot_escape_its_limit_with_the_header(
    embedded: EmbeddedStack,
) -> None:
    users = [await sign_up(embedded) for _ in range(2)]
    config = gateway_config(embedded, limits={"ws_sockets_per_address": 1})
    async with running_gateway(config, embedded) as gw, AsyncExitStack() as stack:
        await stack.enter_async_context(connect(gw, "/ws", token=users[0].token))
        assert await _upgrade_status(gw.ws_url + "/ws", users[1].token, "198.51.100.77") == 429
