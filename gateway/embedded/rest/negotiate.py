"""What a request's headers ask for: Prefer, the response media type (Accept), the
Range header, and the schema (Accept-Profile / Content-Profile)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.embedded.rest.errors import invalid_range, media_type_error, unacceptable_schema

EXPOSED_SCHEMAS = ("public",)
_WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")
_RANGE = re.compile(r"^([0-9]+)-([0-9]*)$")

# Every value PostgREST recognises; anything else is "invalid" (reported under
# handling=strict). tx=commit/rollback is recognised but not honoured (db-tx-end=commit).
_KNOWN = {
    "resolution": ("merge-duplicates", "ignore-duplicates"),
    "return": ("representation", "minimal", "headers-only"),
    "count": ("exact", "planned", "estimated"),
    "tx": ("commit", "rollback"),
    "missing": ("default", "null"),
    "handling": ("strict", "lenient"),
}


@dataclass(frozen=True)
class Preferences:
    resolution: str | None = None
    representation: str | None = None  # "representation" | "minimal" | "headers-only"
    count: str | None = None
    missing: str | None = None
    handling: str | None = None
    max_affected: int | None = None
    invalid: tuple[str, ...] = ()

    @property
    def wants_count(self) -> bool:
        # planned/estimated are answered with an exact count: cheap at dev-server sizes.
        return self.count is not None

    @property
    def strict(self) -> bool:
        return self.handling == "strict"


def parse_prefer(values: list[str]) -> Preferences:
    """RFC 7240 Prefer headers; split on `,` and trimmed (supabase-js sends ", ")."""
    prefs = [p.strip() for value in values for p in value.split(",") if p.strip()]
    chosen: dict[str, str] = {}
    invalid: list[str] = []
    max_affected: int | None = None
    for pref in prefs:
        name, _, value = pref.partition("=")
        if name == "max-affected" and value.lstrip("-").isdigit():
            max_affected = int(value) if max_affected is None else max_affected
        elif name == "timezone":
            continue
        elif value in _KNOWN.get(name, ()):
            chosen.setdefault(name, value)  # the first of each kind wins
        else:
            invalid.append(pref)
    return Preferences(
        resolution=chosen.get("resolution"),
        representation=chosen.get("return"),
        count=chosen.get("count"),
        missing=chosen.get("missing"),
        handling=chosen.get("handling"),
        max_affected=max_affected,
        invalid=tuple(invalid),
    )


def applied_header(
    prefs: Preferences, *, resolution: bool, missing: bool, representation: bool, max_affected: bool
) -> str | None:
    """Preference-Applied: what this kind of request honoured, in PostgREST's order."""
    values = [
        f"resolution={prefs.resolution}" if resolution and prefs.resolution else None,
        f"missing={prefs.missing}" if missing and prefs.missing else None,
        f"return={prefs.representation}" if representation and prefs.representation else None,
        f"count={prefs.count}" if prefs.count else None,
        f"handling={prefs.handling}" if prefs.handling else None,
        f"max-affected={prefs.max_affected}"
        if max_affected and prefs.strict and prefs.max_affected is not None
        else None,
    ]
    present = [v for v in values if v]
    return ", ".join(present) if present else None


@dataclass(frozen=True)
class MediaType:
    """The JSON shapes this server produces."""

    singular: bool = False  # application/vnd.pgrst.object+json
    strip_nulls: bool = False
    mime: str = "application/json"

    @property
    def content_type(self) -> str:
        return self.mime + "; charset=utf-8"


def _media_type(raw: str) -> MediaType | None:
    main, *param_parts = [part.strip() for part in raw.split(";")]
    params = {}
    for part in param_parts:
        key, _, value = part.partition("=")
        params[key.strip().lower()] = value.strip()
    main = main.lower()
    stripped = params.get("nulls") == "stripped"
    if main in ("application/vnd.pgrst.object+json", "application/vnd.pgrst.object"):
        mime = "application/vnd.pgrst.object+json" + (";nulls=stripped" if stripped else "")
        return MediaType(singular=True, strip_nulls=stripped, mime=mime)
    if main in ("application/vnd.pgrst.array+json", "application/vnd.pgrst.array"):
        if stripped:
            return MediaType(
                strip_nulls=True, mime="application/vnd.pgrst.array+json;nulls=stripped"
            )
        return MediaType()
    if main in ("application/json", "*/*", "application/*"):
        return MediaType()
    return None


def negotiate_media(accept: str | None) -> MediaType:
    """The first acceptable media type, by quality; none → PGRST107 (406)."""
    if not accept or not accept.strip():
        return MediaType()
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept.split(",")):
        quality = 1.0
        for param in item.split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranked.append((-quality, position, item.strip()))
    ranked.sort()
    for _, _, item in ranked:
        media = _media_type(item)
        if media is not None:
            return media
    raise media_type_error([item.split(";")[0].strip() for _, _, item in ranked])


@dataclass(frozen=True)
class Range:
    """Rows [offset, offset+limit) of the result; limit None means no upper bound."""

    offset: int = 0
    limit: int | None = None


def requested_range(
    method: str,
    range_header: str | None,
    limit: int | None,
    offset: int | None,
    max_rows: int | None,
) -> Range:
    """Intersect ?limit/?offset with the Range header (GET only) and db-max-rows."""
    lower, upper = 0, None
    if method == "GET" and range_header:
        match = _RANGE.match(range_header.strip())
        if match:
            lower = int(match.group(1))
            upper = int(match.group(2)) if match.group(2) else None
            if upper is not None and upper < lower:
                raise invalid_range(
                    "The lower boundary must be lower than or equal to the "
                    "upper boundary in the Range header."
                )
    if limit == 0:
        return Range(0, 0)  # limit=0 bypasses every other range, as in PostgREST
    if limit is not None and limit < 0:
        raise invalid_range("Limit should be greater than or equal to zero.")
    start = max(lower, offset or 0)
    ends = [
        end
        for end in (upper, None if limit is None else (offset or 0) + limit - 1)
        if end is not None
    ]
    end = min(ends) if ends else None
    size = None if end is None else max(end - start + 1, 0)
    if max_rows is not None:
        size = max_rows if size is None else min(size, max_rows)
    return Range(start, size)


def request_schema(method: str, headers: Mapping[str, str]) -> tuple[str, bool]:
    """The schema a request targets and whether a profile header chose it."""
    name = "Content-Profile" if method in _WRITE_METHODS else "Accept-Profile"
    profile = headers.get(name)
    if profile is None:
        return EXPOSED_SCHEMAS[0], False
    if profile not in EXPOSED_SCHEMAS:
        raise unacceptable_schema(profile, EXPOSED_SCHEMAS)
    return profile, True
