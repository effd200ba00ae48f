"""Realtime's REST broadcast API: the batch `POST /api/broadcast` and the single
`POST /api/broadcast/{topic}/events/{event}` (used by realtime-py `http_send`).

Auth is a JWT from `Authorization: Bearer` or the `apikey` header (401 `{"message":
"Unauthorized"}`). Both answer 202 with an empty body. Private messages need broadcast
write permission: the batch skips them silently, the single send answers 403. Over the
tenant's messages/s, 429 (`limits.REST_RATE_EXCEEDED` / `REST_BATCH_TOO_BIG`).
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from aiohttp import web

from gateway.embedded.appkeys import context_key
from gateway.embedded.keys import Claims, TokenError
from gateway.embedded.realtime import tokens
from gateway.embedded.realtime.authorization import (
    AuthorizationContext,
    AuthorizationError,
    Policies,
    write_policies,
)
from gateway.embedded.realtime.hub import Hub, hub_key
from gateway.embedded.realtime.serializer import UserBroadcast, dumps

log = logging.getLogger(__name__)

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "authorization, apikey, content-type, x-client-info",
}
UNSUPPORTED_MEDIA = "Unsupported Media Type. Use application/json or application/octet-stream"
TOO_BIG = "Payload size exceeds tenant limit"
BLANK = "can't be blank"
INVALID = "is invalid"


def _message(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status, headers=CORS_HEADERS)


def _errors(errors: dict[str, Any]) -> web.Response:
    return web.json_response({"errors": errors}, status=422, headers=CORS_HEADERS)


def _accepted() -> web.Response:
    return web.Response(status=202, headers=CORS_HEADERS)


def _authenticate(request: web.Request) -> Claims | None:
    keys = request.app[context_key].keys
    token = keys.bearer_for(request.headers.get("apikey"), request.headers.get("authorization"))
    try:
        return tokens.verify(keys, token)
    except TokenError:
        return None


async def _may_write(request: web.Request, claims: Claims, topic: str) -> bool:
    ctx = AuthorizationContext(topic, claims, {k.lower(): v for k, v in request.headers.items()})
    policies = await write_policies(request.app[context_key].pool, ctx, Policies())
    return policies.broadcast_write is True


def _authorization_failure(err: AuthorizationError) -> web.Response:
    log.warning("%s on REST broadcast authorization", err.code)
    if err.code == "RlsPolicyError":
        return _message(422, "RLS policy error")
    return _message(422, "Tenant database unavailable")


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return {}
    return json.loads(raw)


async def broadcast_single(request: web.Request) -> web.Response:
    # A missing Content-Type is accepted as JSON (aiohttp would call it octet-stream).
    declared = "content-type" in request.headers
    if declared and request.content_type not in ("application/json", "application/octet-stream"):
        return web.json_response({"error": UNSUPPORTED_MEDIA}, status=415, headers=CORS_HEADERS)
    binary = declared and request.content_type == "application/octet-stream"
    claims = _authenticate(request)
    if claims is None:
        return _message(401, "Unauthorized")
    hub: Hub = request.app[hub_key]
    topic, event = request.match_info["topic"], request.match_info["event"]
    private = request.query.get("private") == "true"
    if binary:
        ub = UserBroadcast(event, await request.read(), is_json=False)
    else:
        try:
            body = await _json_body(request)
        except ValueError:
            return _message(400, "Malformed JSON body")
        # Phoenix's JSON parser wraps a body that is not an object as {"_json": body}.
        payload = body if isinstance(body, dict) else {"_json": body}
        ub = UserBroadcast(event, dumps(payload).encode(), is_json=True)
    if len(ub.payload) > hub.settings.max_payload_bytes:
        return _errors({"payload": [TOO_BIG]})
    refusal = hub.limits.rest_refusal()
    if refusal is not None:
        return _message(429, refusal)
    if private:
        try:
            if not await _may_write(request, claims, topic):
                return _message(403, "Unauthorized")
        except AuthorizationError as err:
            return _authorization_failure(err)
    hub.limits.events.add()
    hub.broadcast_user((private, topic), ub)
    return _accepted()


def _validate(message: Any, limit: int) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """Ecto-like validation of one batch message: (errors, cleaned message)."""
    if not isinstance(message, dict):
        return {"messages": [INVALID]}, {}
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for name in ("topic", "event"):
        value = message.get(name)
        if value is not None and not isinstance(value, str):
            errors[name] = [INVALID]
        elif not value or not value.strip():
            errors[name] = [BLANK]
        clean[name] = value
    payload = message.get("payload")
    if payload is None:
        errors["payload"] = [BLANK]
    elif not isinstance(payload, dict):
        errors["payload"] = [INVALID]
    elif len(dumps(payload).encode()) > limit:
        errors["payload"] = [TOO_BIG]
    clean["payload"] = payload
    private = message.get("private", False)
    if isinstance(private, str) and private.lower() in ("true", "false"):
        private = private.lower() == "true"
    if not isinstance(private, bool | None):
        errors["private"] = [INVALID]
    clean["private"] = bool(private)
    if message.get("id") is not None:
        try:
            clean["id"] = str(uuid.UUID(str(message["id"])))
        except ValueError:
            errors["id"] = [INVALID]
    return errors, clean


def _batch_payload(message: dict[str, Any]) -> str:
    payload: dict[str, Any] = {
        "payload": message["payload"],
        "event": message["event"],
        "type": "broadcast",
    }
    if "id" in message:
        payload["meta"] = {"id": message["id"]}
    return dumps(payload)


async def broadcast_batch(request: web.Request) -> web.Response:
    claims = _authenticate(request)
    if claims is None:
        return _message(401, "Unauthorized")
    hub: Hub = request.app[hub_key]
    try:
        body = await _json_body(request)
    except ValueError:
        return _message(400, "Malformed JSON body")
    messages = body.get("messages") if isinstance(body, dict) else None
    if not messages:
        return _errors({"messages": [BLANK]})
    if not isinstance(messages, list):
        return _errors({"messages": [INVALID]})
    results = [_validate(message, hub.settings.max_payload_bytes) for message in messages]
    if any(errors for errors, _ in results):
        return _errors({"messages": [errors for errors, _ in results]})
    refusal = hub.limits.rest_refusal(len(results))
    if refusal is not None:
        return _message(429, refusal)
    private_by_topic: dict[str, list[dict[str, Any]]] = {}
    for _, message in results:
        if message["private"]:
            private_by_topic.setdefault(message["topic"], []).append(message)
        else:
            hub.limits.events.add()
            hub.broadcast_json((False, message["topic"]), _batch_payload(message))
    for topic, group in private_by_topic.items():
        try:
            allowed = await _may_write(request, claims, topic)
        except AuthorizationError as err:
            log.warning("%s: batch messages to a private topic skipped", err.code)
            continue
        if allowed:  # Supabase skips the topic silently otherwise, still answering 202
            for message in group:
                hub.limits.events.add()
                hub.broadcast_json((True, topic), _batch_payload(message))
    return _accepted()


async def preflight(request: web.Request) -> web.Response:
    return web.Response(status=204, headers=CORS_HEADERS)


def add_routes(app: web.Application, prefixes: tuple[str, ...]) -> None:
    for prefix in prefixes:
        app.router.add_post(f"{prefix}/api/broadcast", broadcast_batch)
        app.router.add_route("OPTIONS", f"{prefix}/api/broadcast", preflight)
        single = f"{prefix}/api/broadcast/{{topic}}/events/{{event}}"
        app.router.add_post(single, broadcast_single)
        app.router.add_route("OPTIONS", single, preflight)
