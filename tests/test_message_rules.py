"""The documented message rules (1 to 4,000 characters, not only whitespace) hold in the
database, for direct Data API users too, with errors the gateway maps to its catalogue.

PostgREST answers a raised SQLSTATE outside its own table with 400 and the code in the
body (PostgREST's `Error.hs`: class 22 and 23514 are client errors); we raise PostgreSQL's
own codes for the two rules: 22001 (string_data_right_truncation, as a too-long varchar)
and 23514 (check_violation).
"""

from __future__ import annotations

import json

import asyncpg
import pytest

from gateway.errors import ErrorCode
from gateway.supabase.data_api import DataApiError
from gateway.supabase.store import _translate
from tests.conftest import EmbeddedStack
from tests.rest_helpers import User, create_user, raw, run_sql

# What Python's str.strip() removes: the gateway's idea of an empty message.
WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
BLANKS = [" ", "\t\n", "\u3000\u00a0", "\u2028 \u205f", "\x1c\x1d\x1e\x1f"]


async def send_rpc(embedded: EmbeddedStack, sender: User, peer: User, body: str) -> tuple[int, str]:
    reply = await raw(
        embedded,
        "POST",
        "/rpc/send_direct_message",
        token=sender.token,
        body=json.dumps({"peer_id": peer.id, "body": body}),
    )
    return reply.status, reply.json().get("code", "")


@pytest.mark.parametrize("body", ["x" * 4001, "\N{SPEECH BALLOON}" * 4001, *BLANKS])
async def test_the_data_api_refuses_what_the_gateway_refuses(
    embedded: EmbeddedStack, body: str
) -> None:
    alice, bob = await create_user(embedded, "alice"), await create_user(embedded, "bob")
    status, code = await send_rpc(embedded, alice, bob, body)
    assert (status, code) == (400, "23514" if not body.strip() else "22001")
    rows = await run_sql(embedded, "select count(*) as n from public.chats where last_seq > $1", 0)
    assert rows[0]["n"] == 0  # nothing stored, and no half-made chat holds a message


async def test_a_direct_insert_into_messages_is_held_to_the_same_rules(
    embedded: EmbeddedStack,
) -> None:
    alice, bob = await create_user(embedded, "alice"), await create_user(embedded, "bob")
    assert (await send_rpc(embedded, alice, bob, "first"))[0] == 200
    rows = await run_sql(embedded, "select chat_id::text from public.messages where seq = $1", 1)
    chat_id = rows[0]["chat_id"]
    longest = " \N{SPEECH BALLOON}" * 2000  # 4,000 characters, 10,000 bytes
    for body, answer in [("\u2003\n", 400), ("y" * 4001, 400), (longest, 201)]:
        reply = await raw(
            embedded,
            "POST",
            "/messages",
            token=alice.token,
            body=json.dumps({"chat_id": chat_id, "body": body}),
        )
        assert reply.status == answer
        if answer == 400:
            assert reply.json()["code"] == ("22001" if body.strip() else "23514")
    rows = await run_sql(embedded, "select body from public.messages where seq = $1", 2)
    assert [r["body"] for r in rows] == [longest]


async def test_the_database_and_the_gateway_agree_on_what_is_blank(database_url: str) -> None:
    """Every character of the Basic Multilingual Plane alone, and all whitespace together:
    PostgreSQL's rule gives Python's answer (zero-width U+200B, U+FEFF are not blank)."""
    texts = [chr(c) for c in range(1, 0x10000) if not 0xD800 <= c <= 0xDFFF]
    texts += [WHITESPACE, WHITESPACE + "\u200b", "\U0001f4ac"]
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "select t, chat_private.is_blank(t) as blank from unnest($1::text[]) as t", texts
        )
    finally:
        await conn.close()
    wrong = [hex(ord(r["t"][0])) for r in rows if r["blank"] is bool(r["t"].strip())]
    assert not wrong


@pytest.mark.parametrize(
    ("sqlstate", "code"),
    [("22001", ErrorCode.MESSAGE_TOO_LONG), ("23514", ErrorCode.MESSAGE_EMPTY)],
)
def test_the_gateway_maps_the_database_rules_to_its_catalogue(
    sqlstate: str, code: ErrorCode
) -> None:
    error = DataApiError(400, sqlstate, "refused")
    assert _translate(error).error is code
