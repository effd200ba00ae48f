"""Blocking over REST: block a user, lift the block, list whom you blocked (README
"Blocking"), and who of the users online you may see.

Each block call runs as the user (their token) through the database's `block_user`,
`unblock_user` and `list_my_blocks`, so RLS decides: a user manages only their own
blocks. What a block then stops is enforced by the database (messages, new chats, read
markers) and by the gateways (presence, typing: gateway/delivery/visibility.py).
"""

from __future__ import annotations

from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.actions import parse_peer
from gateway.auth.verifier import Identity
from gateway.services import Services

__all__ = ["BlockState", "BlockedUsers", "block", "blocked_users", "unblock", "visible_online"]


class BlockedUsers(BaseModel):
    model_config = ConfigDict(extra="forbid")
    blocked_users: list[UUID] = Field(description="Whom you blocked, newest first.")


class BlockState(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: UUID
    blocked: bool = Field(description="Whether you block this user now.")


def _json(model: BaseModel) -> web.Response:
    return web.json_response(model.model_dump(mode="json"))


async def blocked_users(request: web.Request, services: Services, me: Identity) -> web.Response:
    ids = await services.store.call(me.token, "list_my_blocks", {})
    return _json(BlockedUsers.model_validate({"blocked_users": ids}))


async def block(request: web.Request, services: Services, me: Identity) -> web.Response:
    peer = parse_peer(request.match_info["user_id"])
    await services.store.call(me.token, "block_user", {"user_id": peer})
    return _json(BlockState.model_validate({"user_id": peer, "blocked": True}))


async def unblock(request: web.Request, services: Services, me: Identity) -> web.Response:
    peer = parse_peer(request.match_info["user_id"])
    await services.store.call(me.token, "unblock_user", {"user_id": peer})
    return _json(BlockState.model_validate({"user_id": peer, "blocked": False}))


async def visible_online(services: Services, me: Identity) -> list[str]:
    """The users online on any gateway whose presence `me` may see (always themselves):
    under `delivery.presence_visibility` "chats" only people who share a chat with them,
    never across a block. Asked as service_role, so no user can probe others' blocks."""
    online = sorted(services.online.online_users())
    if not online:
        return []
    visible: list[str] = await services.store.call(
        services.config.supabase.service_key,
        "gateway_visible_presence",
        {
            "viewer": me.user_id,
            "user_ids": online,
            "everyone": services.config.delivery.presence_visibility == "everyone",
        },
    )
    return visible
