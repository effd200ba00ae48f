"""Another pair's chat, asked for by id, answers exactly as a chat that does not exist —
through the gateway (a `resume` frame) and through the Data API (reads and the one write
users have on chats, their read marker) — so nothing tells an outsider it exists.

Followed: PostgREST answers a read or an update that RLS filters to nothing with 200 and
`[]`, never 403/404, which is what keeps existence private (RLS filters rows, it does
not refuse them).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.conftest import EmbeddedStack
from tests.gateway_helpers import Client, Gateway, User, connect, rest_send, sign_up
from tests.rest_helpers import raw


async def frames_until_pong(client: Client) -> list[dict[str, Any]]:
    await client.send({"type": "ping"})
    seen = []
    while (frame := await client.next())["type"] != "pong":
        seen.append(frame)
    return seen


async def data_api_answers(embedded: EmbeddedStack, user: User, chat_id: str) -> list[Any]:
    answers = []
    for method, path, body in [
        ("GET", f"/messages?chat_id=eq.{chat_id}", None),
        ("GET", f"/chats?id=eq.{chat_id}", None),
        ("GET", f"/chat_members?chat_id=eq.{chat_id}", None),
        ("PATCH", f"/chat_members?chat_id=eq.{chat_id}", json.dumps({"last_read_seq": 1})),
    ]:
        reply = await raw(
            embedded,
            method,
            path,
            token=user.token,
            body=body,
            headers={"Prefer": "return=representation"},
        )
        answers.append((method, reply.status, reply.text))
    return answers


async def test_another_pairs_chat_looks_like_no_chat_at_all(
    gateway: Gateway, embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    chat_id = (await rest_send(gateway, alice, bob, "private"))["chat_id"]
    nowhere = str(uuid.uuid4())
    carol = await sign_up(embedded)
    async with connect(gateway, "/ws", token=carol.token) as c:
        await frames_until_pong(c)  # past `ready`
        answers = []
        for target in (chat_id, nowhere):
            await c.send({"type": "resume", "chat_id": target, "since_seq": 0})
            answers.append(await frames_until_pong(c))
        assert answers[0] == answers[1]
        assert not [f for f in answers[0] if f["type"] == "message"]
    theirs = await data_api_answers(embedded, carol, chat_id)
    assert theirs == await data_api_answers(embedded, carol, nowhere)
    assert {(m, s, t) for m, s, t in theirs} == {("GET", 200, "[]"), ("PATCH", 200, "[]")}
