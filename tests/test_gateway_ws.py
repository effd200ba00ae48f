"""The WebSocket protocol against the real embedded stack: chat, acks, multi-device,
typing, read receipts, presence, authentication and bad input."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.conftest import EmbeddedStack
from tests.gateway_helpers import (
    Gateway,
    User,
    api,
    connect,
    gateway_config,
    running_gateway,
    sign_up,
    token_for,
)


async def test_original_api_two_clients_chat(gateway: Gateway, alice: User, bob: User) -> None:
    """`/ws/{receiver_id}?token=…` with `{"type":"chat","message":…}`, as the old README."""
    async with (
        connect(gateway, f"/ws/{bob.id}", token=alice.token) as a,
        connect(gateway, f"/ws/{alice.id}", token=bob.token) as b,
    ):
        await a.send({"type": "chat", "message": "Hello from WebSocket!"})
        ack = await a.next("ack")
        received = (await b.next("message"))["message"]
        assert received == ack["message"]
        assert (received["sender_id"], received["receiver_id"]) == (alice.id, bob.id)
        assert received["message_text"] == "Hello from WebSocket!"
        await b.send({"type": "ping"})
        assert await b.next("pong") == {"type": "pong"}


async def test_the_sender_gets_an_ack_not_a_copy(gateway: Gateway, alice: User, bob: User) -> None:
    async with connect(gateway, f"/ws/{bob.id}", token=alice.token) as a:
        await a.send({"type": "chat", "message": "one", "client_msg_id": "c1"})
        ack = await a.next("ack")
        assert ack["client_msg_id"] == "c1" and ack["message"]["seq"] == 1
        await a.nothing("message")


async def test_every_device_of_both_users_sees_the_message(
    gateway: Gateway, alice: User, bob: User
) -> None:
    async with (
        connect(gateway, "/ws", token=alice.token) as phone,
        connect(gateway, f"/ws/{bob.id}", token=alice.token) as laptop,
        connect(gateway, "/ws", token=bob.token) as bob_phone,
        connect(gateway, f"/ws/{alice.id}", token=bob.token) as bob_laptop,
    ):
        await phone.send({"type": "chat", "message": "sync", "to": bob.id})
        ack = await phone.next("ack")
        for other in (laptop, bob_phone, bob_laptop):
            assert (await other.next("message"))["message"] == ack["message"]
        await phone.nothing("message")


async def test_a_peer_socket_only_covers_its_peer(
    gateway: Gateway, embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    carol = await sign_up(embedded)
    async with (
        connect(gateway, f"/ws/{carol.id}", token=alice.token) as alice_carol,
        connect(gateway, "/ws", token=alice.token) as alice_all,
    ):
        status, _ = await api(
            gateway,
            "POST",
            f"/api/chat/{alice.id}/send",
            token=bob.token,
            json_body={"message_text": "from bob"},
        )
        assert status == 201
        assert (await alice_all.next("message"))["message"]["message_text"] == "from bob"
        await alice_carol.nothing("message")


async def test_all_chats_socket_needs_to(gateway: Gateway, alice: User, bob: User) -> None:
    async with connect(gateway, "/ws", token=alice.token) as a:
        await a.send({"type": "chat", "message": "to whom?"})
        error = await a.next("error")
        assert error["code"] == "peer_required"
        await a.send({"type": "chat", "message": "to bob", "to": bob.id})
        assert (await a.next("ack"))["message"]["receiver_id"] == bob.id


async def test_messages_from_rest_reach_every_socket_of_the_sender_too(
    gateway: Gateway, alice: User, bob: User
) -> None:
    async with connect(gateway, "/ws", token=alice.token) as a:
        await api(
            gateway,
            "POST",
            f"/api/chat/{bob.id}/send",
            token=alice.token,
            json_body={"message_text": "via rest"},
        )
        assert (await a.next("message"))["message"]["message_text"] == "via rest"


async def test_typing_reaches_the_peer(gateway: Gateway, alice: User, bob: User) -> None:
    async with (
        connect(gateway, f"/ws/{bob.id}", token=alice.token) as a,
        connect(gateway, "/ws", token=bob.token) as b,
    ):
        await a.send({"type": "chat", "message": "hi"})
        chat_id = (await a.next("ack"))["message"]["chat_id"]
        await a.send({"type": "typing"})
        assert await b.next("typing") == {"type": "typing", "chat_id": chat_id, "user_id": alice.id}
        await a.nothing("typing")


async def test_read_receipts_reach_the_peer(gateway: Gateway, alice: User, bob: User) -> None:
    async with (
        connect(gateway, f"/ws/{bob.id}", token=alice.token) as a,
        connect(gateway, f"/ws/{alice.id}", token=bob.token) as b,
    ):
        await a.send({"type": "chat", "message": "read me"})
        message = (await b.next("message"))["message"]
        await b.send({"type": "read", "seq": message["seq"]})
        receipt = await a.next("read")
        assert receipt == {
            "type": "read",
            "chat_id": message["chat_id"],
            "user_id": bob.id,
            "seq": 1,
        }


async def test_users_see_their_peers_come_online_and_go(
    gateway: Gateway, alice: User, bob: User
) -> None:
    async with connect(gateway, f"/ws/{bob.id}", token=alice.token) as a:
        await a.send({"type": "chat", "message": "are you there?"})
        await a.next("ack")
        async with connect(gateway, "/ws", token=bob.token):
            assert await a.next("presence") == {
                "type": "presence",
                "user_id": bob.id,
                "online": True,
            }
            _, online = await api(gateway, "GET", "/api/online-users", token=alice.token)
            assert set(online["online_users"]) == {alice.id, bob.id}
        assert await a.next("presence") == {"type": "presence", "user_id": bob.id, "online": False}


# Authentication -----------------------------------------------------------------------------


async def test_first_frame_auth(gateway: Gateway, alice: User, bob: User) -> None:
    async with connect(gateway, f"/ws/{bob.id}") as a:
        await a.send({"type": "auth", "token": alice.token})
        await a.send({"type": "chat", "message": "authenticated late"})
        assert (await a.next("ack"))["message"]["sender_id"] == alice.id


async def test_bearer_header_auth(gateway: Gateway, alice: User, bob: User) -> None:
    async with connect(
        gateway, f"/ws/{bob.id}", headers={"Authorization": f"Bearer {alice.token}"}
    ) as a:
        await a.send({"type": "ping"})
        await a.next("pong")


async def test_no_auth_frame_in_time_closes_the_socket(gateway: Gateway) -> None:
    async with connect(gateway, "/ws") as a:
        assert await a.wait_closed() == 4001
        assert a.frames.get_nowait()["code"] == "auth_timeout"


@pytest.mark.parametrize("first", [{"type": "ping"}, {"type": "auth", "token": "nonsense"}])
async def test_a_bad_first_frame_closes_the_socket(gateway: Gateway, first: dict[str, Any]) -> None:
    async with connect(gateway, "/ws") as a:
        await a.send(first)
        assert await a.wait_closed() == 4001


async def test_an_invalid_token_closes_with_4001(gateway: Gateway) -> None:
    async with connect(gateway, "/ws", token="not-a-jwt") as a:
        assert await a.wait_closed() == 4001
        error = a.frames.get_nowait()
        assert (error["type"], error["code"]) == ("error", "token_invalid")


async def test_an_expiring_token_closes_the_socket_with_4002(
    gateway: Gateway, embedded: EmbeddedStack, alice: User
) -> None:
    async with connect(gateway, "/ws", token=token_for(embedded, alice, expires_in=2)) as a:
        assert await a.wait_closed(timeout=10) == 4002
        assert (await a.next("error"))["code"] == "token_expired"


async def test_refreshing_the_token_keeps_the_socket_open(
    gateway: Gateway, embedded: EmbeddedStack, alice: User
) -> None:
    async with connect(gateway, "/ws", token=token_for(embedded, alice, expires_in=2)) as a:
        await a.send({"type": "auth", "token": token_for(embedded, alice, expires_in=600)})
        await a.send({"type": "ping"})
        await a.next("pong")
        with pytest.raises(TimeoutError):
            await a.wait_closed(timeout=3)


async def test_a_token_for_someone_else_closes_the_socket(
    gateway: Gateway, alice: User, bob: User
) -> None:
    async with connect(gateway, "/ws", token=alice.token) as a:
        await a.send({"type": "auth", "token": bob.token})
        assert await a.wait_closed() == 4003


async def test_browsers_from_unknown_origins_are_refused(gateway: Gateway, alice: User) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(
                gateway.ws_url + "/ws",
                params={"token": alice.token},
                headers={"Origin": "https://evil.example"},
            )
        assert refused.value.status == 403
    async with connect(
        gateway, "/ws", token=alice.token, headers={"Origin": "https://chat.example"}
    ) as a:
        await a.send({"type": "ping"})
        await a.next("pong")


# Bad input: an error frame, and the socket stays open -----------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "invalid_json"),
        ('"a string"', "invalid_request"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"message": "no type"}', "unknown_type"),
        ('{"type": "chat", "message": 5}', "invalid_request"),
        ('{"type": "chat"}', "invalid_request"),
        ('{"type": "chat", "message": ""}', "message_empty"),
        ('{"type": "chat", "message": "' + "x" * 4001 + '"}', "message_too_long"),
        ('{"type": "read", "seq": "3"}', "invalid_request"),
        ('{"type": "read", "seq": -1}', "invalid_request"),
        ('{"type": "resume", "since_seq": "x"}', "invalid_request"),
        ('{"type": "chat", "message": "hi", "to": "not-a-uuid"}', "invalid_request"),
    ],
)
async def test_bad_frames_get_an_error_and_the_socket_stays_open(
    gateway: Gateway, alice: User, bob: User, raw: str, code: str
) -> None:
    async with connect(gateway, f"/ws/{bob.id}", token=alice.token) as a:
        await a.send_raw(raw)
        assert (await a.next("error"))["code"] == code
        await a.send({"type": "ping"})
        await a.next("pong")
    _, chats = await api(gateway, "GET", "/api/chats", token=alice.token)
    assert chats["chats"] == []  # nothing half-written


async def test_a_forged_sender_is_ignored(gateway: Gateway, alice: User, bob: User) -> None:
    async with connect(gateway, f"/ws/{bob.id}", token=alice.token) as a:
        await a.send({"type": "chat", "message": "it's bob, honest", "sender_id": bob.id})
        assert (await a.next("ack"))["message"]["sender_id"] == alice.id


async def test_another_users_chat_cannot_be_resumed(
    gateway: Gateway, embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    async with connect(gateway, f"/ws/{bob.id}", token=alice.token) as a:
        await a.send({"type": "chat", "message": "private"})
        chat_id = (await a.next("ack"))["message"]["chat_id"]
    carol = await sign_up(embedded)
    async with connect(gateway, "/ws", token=carol.token) as c:
        await c.send({"type": "resume", "chat_id": chat_id, "since_seq": 0})
        assert (await c.next("error"))["code"] == "chat_not_found"
        await c.nothing("message")


async def test_invalid_peer_in_the_path_is_refused(gateway: Gateway, alice: User) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(gateway.ws_url + "/ws/not-a-user", params={"token": alice.token})
        assert refused.value.status == 400


async def test_a_new_socket_learns_which_peers_are_online(
    gateway: Gateway, alice: User, bob: User
) -> None:
    await api(
        gateway,
        "POST",
        f"/api/chat/{bob.id}/send",
        token=alice.token,
        json_body={"message_text": "hello"},
    )
    async with connect(gateway, "/ws", token=bob.token) as b:
        await b.send({"type": "ping"})
        await b.next("pong")
        async with connect(gateway, "/ws", token=alice.token) as a:
            assert await a.next("presence") == {
                "type": "presence",
                "user_id": bob.id,
                "online": True,
            }


async def test_a_client_that_stops_reading_is_cut_off_and_others_carry_on(
    embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    config = gateway_config(embedded, limits={"ws_queue_max": 8, "send_rate": 0})
    # The longest message the database takes, 4 bytes a character: 16 KB per frame.
    big = "\N{SPEECH BALLOON}" * 4000

    async def cut_off(gw: Gateway) -> bool:
        _, metrics = await api(gw, "GET", "/metrics", token=gw.config.server.metrics_token)
        return 'gateway_errors_total{code="slow_consumer"} 1.0' in metrics

    async def drain(ws: aiohttp.ClientWebSocketResponse) -> None:
        async for _ in ws:
            pass

    async with running_gateway(config, embedded) as gw, aiohttp.ClientSession() as http:
        # A raw socket we do not read from: aiohttp stops reading from TCP once its own
        # buffer is full, so the gateway's writes back up into that socket's queue.
        stalled = await http.ws_connect(gw.ws_url + f"/ws/{bob.id}", params={"token": alice.token})
        async with connect(gw, "/ws", token=alice.token) as reader:
            await reader.send({"type": "ping"})
            await reader.next("pong")
            sent = 0
            while not (sent % 10 == 0 and sent and await cut_off(gw)):
                assert sent < 1000, "the stalled socket was never cut off"
                status, _ = await api(
                    gw,
                    "POST",
                    f"/api/chat/{alice.id}/send",
                    token=bob.token,
                    json_body={"message_text": big},
                )
                assert status == 201
                sent += 1
            # The reader that kept reading got every message, in order.
            assert [m["seq"] for m in await reader.messages(sent)] == list(range(1, sent + 1))
        await asyncio.wait_for(drain(stalled), 30)  # now read: the close frame is there
        assert stalled.close_code == 1013


# Heartbeat ----------------------------------------------------------------------------------


async def _until(ws: aiohttp.ClientWebSocketResponse, kind: aiohttp.WSMsgType) -> aiohttp.WSMessage:
    """The next frame of `kind`; text frames (ready, presence) may come before it."""
    while True:
        msg = await ws.receive()
        if msg.type is kind:
            return msg
        assert msg.type is aiohttp.WSMsgType.TEXT, msg


async def test_a_client_that_stops_answering_pings_is_closed_with_4008(
    embedded: EmbeddedStack, alice: User
) -> None:
    config = gateway_config(embedded, limits={"ws_heartbeat_seconds": 0.4})
    async with running_gateway(config, embedded) as gw, aiohttp.ClientSession() as http:
        ws = await http.ws_connect(gw.ws_url + "/ws", params={"token": alice.token}, autoping=False)
        async with asyncio.timeout(10):
            await _until(ws, aiohttp.WSMsgType.PING)  # and never answer it
            error = await _until(ws, aiohttp.WSMsgType.TEXT)
            while error.json()["type"] != "error":
                error = await _until(ws, aiohttp.WSMsgType.TEXT)
            assert error.json()["code"] == "heartbeat_timeout"
            await _until(ws, aiohttp.WSMsgType.CLOSE)
        assert ws.close_code == 4008


async def test_answering_pings_keeps_a_quiet_socket_open_and_client_pings_are_answered(
    embedded: EmbeddedStack, alice: User
) -> None:
    config = gateway_config(embedded, limits={"ws_heartbeat_seconds": 0.4})
    async with running_gateway(config, embedded) as gw, aiohttp.ClientSession() as http:
        ws = await http.ws_connect(gw.ws_url + "/ws", autoping=False)
        async with asyncio.timeout(10):
            await ws.ping(b"before auth")
            assert (await _until(ws, aiohttp.WSMsgType.PONG)).data == b"before auth"
            await ws.send_json({"type": "auth", "token": alice.token})
            for _ in range(3):  # three quiet periods, each ended by the gateway's ping
                await ws.pong((await _until(ws, aiohttp.WSMsgType.PING)).data)
            await ws.ping(b"after auth")
            assert (await _until(ws, aiohttp.WSMsgType.PONG)).data == b"after auth"
            await ws.send_json({"type": "ping"})
            reply = await _until(ws, aiohttp.WSMsgType.TEXT)
            while reply.json()["type"] != "pong":
                reply = await _until(ws, aiohttp.WSMsgType.TEXT)
        assert not ws.closed
        await ws.close()
