"""The embedded Auth API: a GoTrue-compatible subset (users, sessions, rotating refresh
tokens in the auth schema) mounted at /auth/v1."""

from __future__ import annotations

from aiohttp import web

from gateway.embedded.appkeys import context_key
from gateway.embedded.auth import admin, handlers
from gateway.embedded.auth.errors import error_middleware
from gateway.embedded.auth.ratelimit import (
    AuthRateLimits,
    Limiters,
    limiters_key,
    rate_limits_key,
)

PREFIX = "/auth/v1"


def create_auth_app() -> web.Application:
    """The /auth/v1 routes; the shared EmbeddedContext is read from the parent app."""
    app = web.Application(middlewares=[error_middleware])
    router = app.router
    router.add_get("/health", handlers.health)
    router.add_get("/settings", handlers.settings)
    router.add_get("/.well-known/jwks.json", handlers.jwks)
    router.add_post("/signup", handlers.signup)
    router.add_post("/token", handlers.token)
    router.add_get("/user", handlers.get_user)
    router.add_put("/user", handlers.update_user)
    router.add_post("/logout", handlers.logout)
    router.add_get("/admin/users", admin.list_users)
    router.add_post("/admin/users", admin.create_user)
    router.add_get("/admin/users/{user_id}", admin.get_user)
    router.add_put("/admin/users/{user_id}", admin.update_user)
    router.add_delete("/admin/users/{user_id}", admin.delete_user)
    return app


def setup(app: web.Application) -> None:
    """Mount the Auth API on the embedded app."""
    app[limiters_key] = Limiters(AuthRateLimits.from_config(app[context_key].config))
    app.on_startup.append(_configure_limiters)
    # A sub-application, so GoTrue's error format applies to these routes only.
    app.add_subapp(PREFIX, create_auth_app())


async def _configure_limiters(app: web.Application) -> None:
    limits = app.get(rate_limits_key)
    if limits is not None:
        app[limiters_key].configure(limits)
