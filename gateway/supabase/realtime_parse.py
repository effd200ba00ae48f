"""realtime-py parses every server frame against a plain union of nine message models;
pydantic then tries the frame against each of them. Every model's `event` is a distinct
literal, so the same union told to pick its model by `event` accepts and rejects exactly
the same frames, into the same models — about 12x faster (a broadcast frame: 27 µs →
2 µs; 10 to 13% of the gateway's CPU at 600 messages/s, two frames per message).

`install()` swaps realtime-py's adapter for the discriminated one, only if the union still
has that shape (else it leaves realtime-py alone and says so). It also gives the server
message models a short `repr` — type, topic, event, ref —: realtime-py formats
`f"... {message!r}"` for debug logs on every frame whether or not debug is on (pydantic's
repr of a broadcast: ~4% of the gateway's CPU under load), and a full repr would put
message bodies in those logs. realtime is pinned in
requirements.txt; tests/test_realtime_parse.py checks the two adapters agree.
"""

from __future__ import annotations

import functools
import logging
import typing
from typing import Annotated, Any

from pydantic import Field, TypeAdapter
from realtime import message as rt_message
from realtime._async import client as rt_client

log = logging.getLogger(__name__)


def _event_literals(model: Any) -> tuple[Any, ...] | None:
    """The values of a model's `event: Literal[...]`, or None if it is not a literal."""
    field = getattr(model, "model_fields", {}).get("event")
    if field is None or typing.get_origin(field.annotation) is not typing.Literal:
        return None
    return typing.get_args(field.annotation)


@functools.cache  # built once per process, however many gateways it starts
def discriminated_adapter() -> TypeAdapter[Any] | None:
    """The server-message union picked by `event`, or None if its members' events are not
    distinct literals (then it would not be the same union)."""
    members = typing.get_args(rt_message.ServerMessage)
    seen: set[Any] = set()
    for model in members:
        events = _event_literals(model)
        if not events or seen.intersection(events):
            return None
        seen.update(events)
    union: Any = rt_message.ServerMessage
    return TypeAdapter(Annotated[union, Field(discriminator="event")])


def short_repr(message: Any) -> str:
    """What a server message shows of itself: never its payload."""
    return (
        f"{type(message).__name__}(topic={getattr(message, 'topic', None)!r}, "
        f"event={getattr(message, 'event', None)!r}, ref={getattr(message, 'ref', None)!r})"
    )


def install() -> bool:
    for model in typing.get_args(rt_message.ServerMessage):
        model.__repr__ = short_repr
    adapter = discriminated_adapter()
    if adapter is None:
        log.warning("realtime-py's message union changed shape; its own parser stays")
        return False
    rt_client.ServerMessageAdapter = adapter  # type: ignore[attr-defined]
    return True
