"""`doctor`'s Realtime check: a private-topic round trip, as the gateway's users rely on.

A throwaway user joins its own private topic `user:<uid>` with its access token (Realtime
asks the RLS policies on realtime.messages, as supabase/realtime's
`Authorization.get_read_authorizations` does), then the service key broadcasts on that
topic through Realtime's REST API (`POST /realtime/v1/api/broadcast`, `private: true`) and
the message must come back over the socket.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from realtime import AsyncRealtimeClient, RealtimeChannelOptions, RealtimeSubscribeStates
from websockets.exceptions import WebSocketException

from gateway.cli.doctor_api import ApiProbe, ProbeUser
from gateway.cli.doctor_report import Check, failed, passed

__all__ = ["private_topic_check"]

NAME = "Realtime private topic"
EVENT = "gateway-doctor"
TIMEOUT_SECONDS = 10.0
_POLICY_FIX = (
    'apply sql/ (its policy "users can receive their own topic" on realtime.messages) and '
    "keep Realtime's private channels allowed (Dashboard → Realtime → Settings)"
)


async def private_topic_check(probe: ApiProbe, user: ProbeUser) -> Check:
    topic = f"user:{user.id}"
    rt = AsyncRealtimeClient(
        f"{probe.base}/realtime/v1", probe.config.supabase.anon_key, max_retries=1
    )
    rt.access_token = user.access_token
    try:
        return await asyncio.wait_for(_round_trip(probe, rt, topic), TIMEOUT_SECONDS)
    except TimeoutError:
        return failed(
            NAME,
            f"no answer within {TIMEOUT_SECONDS:.0f} s (joining or receiving on {topic})",
            "check that Realtime is enabled for the project and reachable on /realtime/v1",
        )
    except (OSError, WebSocketException) as err:
        why = f"cannot open Realtime's socket: {type(err).__name__}: {err}"
        return failed(NAME, why, "check that Realtime is enabled for the project")
    finally:
        await rt.close()


async def _round_trip(probe: ApiProbe, rt: AsyncRealtimeClient, topic: str) -> Check:
    states: asyncio.Queue[tuple[Any, Any]] = asyncio.Queue()
    heard: asyncio.Queue[Any] = asyncio.Queue()
    await rt.connect()
    private: RealtimeChannelOptions = {
        "config": {"broadcast": {"self": False, "ack": False}, "presence": None, "private": True}
    }
    channel = rt.channel(topic, private)
    channel.on_broadcast(EVENT, heard.put_nowait)
    await channel.subscribe(lambda state, err: states.put_nowait((state, err)))
    state, err = await states.get()
    if state != RealtimeSubscribeStates.SUBSCRIBED:
        return failed(NAME, f"joining {topic} was refused: {err}", _POLICY_FIX)
    nonce = secrets.token_hex(8)
    message = {"topic": topic, "event": EVENT, "payload": {"nonce": nonce}, "private": True}
    status, body, _ = await probe.call(
        "POST",
        "/realtime/v1/api/broadcast",
        probe.headers(probe.config.supabase.service_key),
        {"messages": [message]},
    )
    if status != 202:
        return failed(
            NAME, f"Realtime's broadcast API answered {status}: {body}", "check the service key"
        )
    while (await heard.get())["payload"].get("nonce") != nonce:
        pass
    return passed(NAME, f"joined {topic} as its user and received a broadcast on it")
