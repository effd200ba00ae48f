"""Embedded rest API (work in progress)."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Register this part's routes and background tasks on the embedded app."""
