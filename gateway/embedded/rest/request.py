"""One Data API request as the handlers see it: its caller, target, preferences and body,
what a write will do, and the small helpers every action shares (its target from the path,
the shape of its body, the Preference-Applied header)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from gateway.embedded.keys import Claims
from gateway.embedded.rest import errors
from gateway.embedded.rest.grammar import QueryParams, split_query
from gateway.embedded.rest.negotiate import (
    MediaType,
    Preferences,
    applied_header,
    negotiate_media,
)
from gateway.embedded.rest.payload import Body, parse_body
from gateway.embedded.rest.schema import Table
from gateway.embedded.rest.statements import Embedding, Payload, Shape


@dataclass(frozen=True)
class ApiRequest:
    """One Data API request, once its caller, target and preferences are known."""

    http: web.Request
    claims: Claims
    kind: str  # "table" | "rpc"
    name: str
    schema: str
    profile: str | None  # echoed as Content-Profile when a profile header chose the schema
    prefs: Preferences

    @property
    def method(self) -> str:
        return self.http.method

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return split_query(self.http.rel_url.raw_query_string)

    def media(self) -> MediaType:
        return negotiate_media(self.http.headers.get("Accept"))

    async def body(self, columns: tuple[str, ...] | None) -> Body:
        raw = await self.http.read()
        return parse_body(
            raw, self.http.headers.get("Content-Type"), columns, rpc=self.kind == "rpc"
        )


@dataclass(frozen=True)
class WritePlan:
    """What a POST, PATCH or DELETE writes to which table, and what it answers with."""

    query: QueryParams  # its select is the primary key for return=headers-only
    table: Table
    payload: Payload
    media: MediaType
    shape: Shape
    embedding: Embedding


def target(path: str) -> tuple[str, str]:
    parts = path.split("/") if path else []
    if len(parts) == 1:
        return "table", parts[0]
    if len(parts) == 2 and parts[0] == "rpc":
        return "rpc", parts[1]
    raise errors.openapi_disabled() if not parts else errors.invalid_resource_path()


def body_shape(
    media: MediaType, *, body: bool, scalar: bool = False, single: bool = False
) -> Shape:
    if not body:
        return Shape("none")
    kind = "single" if media.singular or single else "array"
    return Shape(kind, media.strip_nulls, scalar)


def applied(
    req: ApiRequest,
    headers: dict[str, str],
    *,
    resolution: bool = False,
    missing: bool = False,
    representation: bool = False,
    max_affected: bool = False,
) -> None:
    """Preference-Applied: the preferences this action honoured."""
    value = applied_header(
        req.prefs,
        resolution=resolution,
        missing=missing,
        representation=representation,
        max_affected=max_affected,
    )
    if value:
        headers["Preference-Applied"] = value
