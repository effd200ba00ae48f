"""What the shape comparison asks of, and does to, its own database (a fresh one the
bench's embedded stack created in /tmp; never `sql/`, never anyone else's):

- which `chats:` topics exist (the database decides, as for gateways);
- how many realtime.messages rows there are (rows written per message, by shape);
- for `changes-lean`: the message trigger without its `chats:` broadcast, since a
  Postgres Changes design would not write those rows. The variant is derived from the
  live definition (pg_get_functiondef) by removing that one statement, so it follows
  the migrations; if the statement is no longer found exactly once, the run stops.
"""

from __future__ import annotations

import re
from typing import Any

import asyncpg

TRIGGER_FUNCTION = "chat_private.broadcast_message()"
CHATS_SEND = re.compile(
    r"^[ \t]*perform realtime\.send\([^;]*chat_private\.delivery_topic\(new\.chat_id\)[^;]*\);"
    r"[ \t]*\n",
    re.MULTILINE,
)


async def delivery_topics(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch("select public.gateway_delivery_topics() as topic")
    return [str(r["topic"]) for r in rows]


async def realtime_rows(conn: asyncpg.Connection) -> int:
    count: int = await conn.fetchval("select count(*) from realtime.messages")
    return count


async def drop_chats_broadcast(conn: asyncpg.Connection) -> dict[str, Any]:
    """Replace the trigger function by itself minus the `chats:<k>` broadcast."""
    definition: str = await conn.fetchval(
        "select pg_get_functiondef($1::regprocedure)", TRIGGER_FUNCTION
    )
    found = CHATS_SEND.findall(definition)
    if len(found) != 1:
        raise RuntimeError(
            f"{TRIGGER_FUNCTION} has {len(found)} chats: broadcasts, not 1; "
            "update ops/bench/shapes/db.py to the new trigger"
        )
    await conn.execute(CHATS_SEND.sub("", definition))
    return {"function": TRIGGER_FUNCTION, "removed": found[0].strip()}
