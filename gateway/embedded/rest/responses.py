"""Successful Data API responses: status, Content-Range and Content-Type from the row the
main statement returned, with a function's response.status / response.headers applied."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import asyncpg
from aiohttp import web

from gateway.embedded.rest.errors import ApiError, out_of_range
from gateway.embedded.rest.negotiate import MediaType


@dataclass(frozen=True)
class Result:
    total: int | None  # the count asked for with Prefer: count=...
    page_total: int  # rows in this response (or affected by a write)
    body: str
    guc_headers: str | None
    guc_status: str | None
    inserted: int | None  # rows a merge-duplicates upsert really inserted

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Result:
        return cls(
            row["total_result_set"],
            row["page_total"],
            row["body"],
            row["response_headers"],
            row["response_status"],
            row["response_inserted"],
        )


def content_range(lower: int, rows: int, total: int | None) -> str:
    upper = lower + rows - 1
    total_text = "*" if total is None else str(total)
    if total != 0 and lower <= upper:
        return f"{lower}-{upper}/{total_text}"
    return f"*/{total_text}"


def _range_status(lower: int, rows: int, total: int | None) -> int:
    if total is None:
        return 200
    if lower > total:
        return 416
    return 206 if rows < total else 200


def _overrides(result: Result, status: int, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    """A function's set_config('response.status'/'response.headers') wins over ours."""
    if result.guc_status is not None:
        try:
            status = int(result.guc_status)
        except ValueError:
            raise ApiError(
                500, "PGRST112", "response.status guc must be a valid status code"
            ) from None
    if result.guc_headers is not None:
        try:
            items = json.loads(result.guc_headers)
            chosen = {str(k): str(v) for item in items for k, v in dict(item).items()}
        except (ValueError, TypeError, AttributeError):
            raise ApiError(
                500,
                "PGRST111",
                "response.headers guc must be a JSON array composed of objects "
                "with a single key and a string value",
            ) from None
        lowered = {k.lower() for k in chosen}
        headers = {**{k: v for k, v in headers.items() if k.lower() not in lowered}, **chosen}
    return status, headers


def respond(
    result: Result,
    status: int,
    headers: Mapping[str, str],
    *,
    media: MediaType | None,
    profile: str | None,
    body: bool = True,
) -> web.Response:
    """`media` None: no content at all (204, return=minimal); `body` False: HEAD."""
    out = dict(headers)
    content = b""
    if media is not None:
        out["Content-Type"] = media.content_type
        if profile:
            out["Content-Profile"] = profile
        content = result.body.encode() if body else b""
    status, out = _overrides(result, status, out)
    return web.Response(status=status, body=content, headers=out)


def page(
    result: Result,
    offset: int,
    headers: Mapping[str, str],
    *,
    media: MediaType,
    profile: str | None,
    body: bool = True,
) -> web.Response:
    """Reads and function results: 200, 206 for a partial page of a counted total, 416."""
    status = _range_status(offset, result.page_total, result.total)
    out = {"Content-Range": content_range(offset, result.page_total, result.total), **headers}
    if status == 416:
        error = out_of_range(offset, result.total or 0)
        error.headers.update(out)
        raise error
    return respond(result, status, out, media=media, profile=profile, body=body)


def location(table: str, primary_key: tuple[str, ...], body: str) -> str | None:
    """Location of the one row a return=headers-only insert created: /table?pk=eq.v."""
    rows = json.loads(body) if body else []
    if len(rows) != 1 or not primary_key:
        return None
    parts = []
    for name in primary_key:
        value = rows[0].get(name)
        if value is None:
            parts.append((name, "is.null"))
        else:
            text = json.dumps(value) if isinstance(value, bool | dict | list) else str(value)
            parts.append((name, f"eq.{text}"))
    return f"/{table}?" + urlencode(parts, quote_via=quote)
