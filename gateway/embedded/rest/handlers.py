"""The /rest/v1 endpoint: each request is authenticated, parsed, planned into one
statement (embedded resources included) and run as one transaction under the JWT's role
(so RLS decides, for embedded rows too), then answered as PostgREST answers it."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

import asyncpg
from aiohttp import web

from gateway.embedded.appkeys import EmbeddedContext
from gateway.embedded.db import as_role
from gateway.embedded.rest import cors, errors, responses, statements
from gateway.embedded.rest.embedding import names_known
from gateway.embedded.rest.grammar import QueryParams, parse_query
from gateway.embedded.rest.identity import Authenticator
from gateway.embedded.rest.negotiate import (
    MediaType,
    parse_prefer,
    request_schema,
    requested_range,
)
from gateway.embedded.rest.payload import Body
from gateway.embedded.rest.request import ApiRequest, WritePlan, applied, body_shape, target
from gateway.embedded.rest.responses import Result, content_range
from gateway.embedded.rest.rpc import body_arguments, find_routine, query_arguments
from gateway.embedded.rest.schema import Column, SchemaCache, Table, closest
from gateway.embedded.rest.sql import Params, condition_fields
from gateway.embedded.rest.statements import Embedding, Payload, Shape, Statement
from gateway.embedded.rest.syntax import Field, SelectItem
from gateway.embedded.role_settings import RoleSettings

log = logging.getLogger(__name__)

MAX_ROWS = 1000  # the Supabase CLI's db-max-rows
_TABLE_METHODS = ("GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS")
_RPC_METHODS = ("GET", "HEAD", "POST", "OPTIONS")
# SQLSTATEs that can mean the schema cache is behind the database (a migration ran).
_STALE_CACHE = ("42703", "42P01", "42883")


def _filtered_columns(query: QueryParams) -> set[str]:
    """The columns root filters name (embeds' labels filter by `is.null` instead)."""
    return condition_fields(query.conditions) - {embed.label for embed in query.embeds}


class DataApi:
    """Holds the schema cache; `handle` is the aiohttp handler for /rest/v1/*."""

    def __init__(self, context: EmbeddedContext) -> None:
        self.context = context
        self.cache = SchemaCache(context.pool)
        self.roles = RoleSettings(context.pool)
        self.auth = Authenticator(context.keys)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        response: web.StreamResponse
        try:
            response = await self._dispatch(request)
        except errors.ApiError as error:
            response = error.response()
        except (OSError, asyncpg.InterfaceError, asyncpg.InternalClientError) as err:
            # Also a connection a dying PostgreSQL left stuck (InternalClientError). One
            # line, not a traceback per request, while PostgreSQL restarts.
            log.warning("Data API: database unreachable (%s)", type(err).__name__)
            response = errors.connection_error(type(err).__name__).response()
        except web.HTTPException:
            raise
        except Exception:
            log.exception("Data API request failed: %s %s", request.method, request.path)
            response = errors.ApiError(500, "PGRSTX00", "Internal server error").response()
        cors.add_headers(request, response)
        return response

    async def _dispatch(self, http: web.Request) -> web.Response:
        preflight = cors.preflight(http)
        if preflight is not None:
            return preflight
        claims = self.auth.claims(http)
        kind, name = target(http.match_info.get("path", ""))
        schema, by_profile = request_schema(http.method, http.headers)
        allowed = _TABLE_METHODS if kind == "table" else _RPC_METHODS
        if http.method not in allowed:
            raise (
                errors.invalid_rpc_method(http.method)
                if kind == "rpc"
                else errors.unsupported_method(http.method)
            )
        prefs = parse_prefer(http.headers.getall("Prefer", []))
        req = ApiRequest(http, claims, kind, name, schema, schema if by_profile else None, prefs)
        if http.method == "OPTIONS":
            return await self._options(req)
        if kind == "rpc":
            return await self._call(req)
        if http.method in ("GET", "HEAD"):
            return await self._read(req)
        if http.method == "POST":
            return await self._insert(req)
        if http.method == "PATCH":
            return await self._update(req)
        return await self._delete(req)

    # Planning helpers ---------------------------------------------------------------------

    async def _table(self, req: ApiRequest, columns: Iterable[str] = ()) -> Table:
        table = await self.cache.table(req.schema, req.name, columns)
        if table is None:
            match = closest(req.name, await self.cache.table_names(req.schema))
            hint = f"Perhaps you meant the table '{req.schema}.{match}'" if match else None
            raise errors.table_not_found(req.schema, req.name, hint)
        return table

    async def _embedding(self, req: ApiRequest, query: QueryParams) -> Embedding:
        """The schema's relationships for the query's embeds, reloaded once if one of the
        names is unknown (a table or foreign key added since the cache was loaded)."""
        snapshot = await self.cache.snapshot(req.schema)
        if not names_known(snapshot, query.embeds):
            snapshot = await self.cache.snapshot(req.schema, stale=snapshot)
        return Embedding(snapshot, MAX_ROWS)

    @staticmethod
    def _check_strict(req: ApiRequest) -> None:
        if req.prefs.strict and req.prefs.invalid:
            raise errors.invalid_preferences(list(req.prefs.invalid))

    @staticmethod
    def _payload(req: ApiRequest, table: Table, body: Body) -> Payload:
        columns: list[Column] = []
        for key in body.keys:
            if key not in table.columns:
                raise errors.column_not_found(table.name, key)
            columns.append(table.columns[key])
        return Payload(
            body.text, body.is_object, tuple(columns), apply_defaults=req.prefs.missing == "default"
        )

    @staticmethod
    def _returned(
        req: ApiRequest, table: Table, query: QueryParams, media: MediaType
    ) -> tuple[QueryParams, Shape]:
        """What a write returns: the ?select= rows, the primary key (for Location), or 1."""
        representation = req.prefs.representation
        if representation == "representation":
            return query, body_shape(media, body=True)
        if representation == "headers-only" and req.method == "POST" and table.primary_key:
            keys = tuple(SelectItem(Field(name)) for name in table.primary_key)
            return replace(query, select=keys), Shape("array")
        return query, Shape("none")

    async def _execute(
        self,
        req: ApiRequest,
        statement: Statement,
        *,
        read_only: bool,
        singular: bool = False,
        limit_affected: bool = False,
    ) -> Result:
        max_affected = req.prefs.max_affected if req.prefs.strict and limit_affected else None
        try:
            role_config = await self.roles.for_role(req.claims.role)
            async with as_role(
                self.context.pool,
                req.claims,
                read_only=read_only,
                method=req.method,
                path="/" + req.http.match_info["path"],
                headers=req.http.headers,
                role_config=role_config,
            ) as conn:
                result = Result.from_row(await conn.fetchrow(statement.sql, *statement.args))
                # Raising inside the transaction rolls the write back, as PostgREST does.
                if singular and result.page_total != 1:
                    raise errors.singularity_error(result.page_total)
                if max_affected is not None and result.page_total > max_affected:
                    raise errors.max_affected_violation(result.page_total)
                return result
        except asyncpg.PostgresError as exc:
            if exc.sqlstate in _STALE_CACHE:
                self.cache.invalidate()
            raise errors.from_postgres(exc, anon=req.claims.role == "anon") from None

    # Actions ------------------------------------------------------------------------------

    async def _read(self, req: ApiRequest) -> web.Response:
        query = parse_query(req.pairs)
        head = req.method == "HEAD"
        page = requested_range(
            req.method, req.http.headers.get("Range"), query.limit, query.offset, MAX_ROWS
        )
        table = await self._table(req, _filtered_columns(query))
        media = req.media()
        self._check_strict(req)
        statement = statements.read(
            table,
            query,
            page,
            count=req.prefs.wants_count,
            shape=body_shape(media, body=not head),
            embedding=await self._embedding(req, query),
        )
        result = await self._execute(req, statement, read_only=True, singular=media.singular)
        headers = {
            "Content-Location": f"/{table.name}"
            + (f"?{query.canonical}" if query.canonical else "")
        }
        applied(req, headers)
        return responses.page(
            result, page.offset, headers, media=media, profile=req.profile, body=not head
        )

    async def _plan_write(self, req: ApiRequest, *, with_body: bool = True) -> WritePlan:
        query = parse_query(req.pairs)
        body = await req.body(query.columns) if with_body else Body("[]", False, ())
        table = await self._table(req, _filtered_columns(query) | set(body.keys))
        payload = self._payload(req, table, body)
        media = req.media()
        self._check_strict(req)
        returned, shape = self._returned(req, table, query, media)
        embedding = await self._embedding(req, returned)
        return WritePlan(returned, table, payload, media, shape, embedding)

    async def _insert(self, req: ApiRequest) -> web.Response:
        plan = await self._plan_write(req)
        table, conflict = plan.table, plan.query.on_conflict
        statement = statements.insert(
            table,
            plan.query,
            plan.payload,
            plan.shape,
            resolution=req.prefs.resolution,
            conflict=conflict or table.primary_key,
            embedding=plan.embedding,
        )
        result = await self._execute(req, statement, read_only=False, singular=plan.media.singular)
        merge = req.prefs.resolution == "merge-duplicates"
        status = 200 if merge and (result.inserted or 0) <= 0 else 201
        total = result.page_total if req.prefs.wants_count else None
        headers = {"Content-Range": content_range(1, 0, total)}
        if req.prefs.representation == "headers-only":
            where = responses.location(table.name, table.primary_key, result.body)
            headers.update({"Location": where} if where else {})
        applied(
            req,
            headers,
            resolution=bool(table.primary_key or conflict),
            missing=True,
            representation=True,
        )
        representation = req.prefs.representation == "representation"
        return responses.respond(
            result,
            status,
            headers,
            profile=req.profile,
            media=plan.media if representation else None,
        )

    async def _update(self, req: ApiRequest) -> web.Response:
        plan = await self._plan_write(req)
        statement = statements.update(
            plan.table, plan.query, plan.payload, plan.shape, embedding=plan.embedding
        )
        result = await self._execute(
            req, statement, read_only=False, singular=plan.media.singular, limit_affected=True
        )
        total = result.page_total if req.prefs.wants_count else None
        headers = {"Content-Range": content_range(0, result.page_total, total)}
        applied(req, headers, missing=True, representation=True, max_affected=True)
        return self._written(req, result, plan, headers)

    async def _delete(self, req: ApiRequest) -> web.Response:
        plan = await self._plan_write(req, with_body=False)  # PostgREST ignores DELETE bodies
        statement = statements.delete(plan.table, plan.query, plan.shape, embedding=plan.embedding)
        result = await self._execute(
            req, statement, read_only=False, singular=plan.media.singular, limit_affected=True
        )
        total = result.page_total if req.prefs.wants_count else None
        headers = {"Content-Range": content_range(1, 0, total)}
        applied(req, headers, representation=True, max_affected=True)
        return self._written(req, result, plan, headers)

    @staticmethod
    def _written(
        req: ApiRequest, result: Result, plan: WritePlan, headers: dict[str, str]
    ) -> web.Response:
        if plan.shape.kind == "none":
            return responses.respond(result, 204, headers, media=None, profile=None)
        return responses.respond(result, 200, headers, media=plan.media, profile=req.profile)

    async def _call(self, req: ApiRequest) -> web.Response:
        invoke = req.method == "POST"
        query = parse_query(req.pairs, rpc_read=not invoke)
        if query.embeds:
            what = "Resource embedding on a function's result"
            raise errors.embedding_not_supported(query.embeds[0].name, what)
        body = await req.body(query.columns) if invoke else None
        keys = set(body.keys) if body else {key for key, _ in query.rpc_args}
        routine = await find_routine(self.cache, req.schema, req.name, keys, post_json=invoke)
        page = requested_range(
            req.method,
            req.http.headers.get("Range"),
            query.limit,
            query.offset,
            MAX_ROWS if routine.returns_set else None,
        )
        media = req.media()
        self._check_strict(req)
        params = Params()
        if body is not None:
            arguments, from_body = body_arguments(routine, body, params)
        else:
            arguments, from_body = query_arguments(routine, query.rpc_args, params), ""
        has_body = req.method != "HEAD" and not routine.returns_void
        shape = body_shape(
            media, body=has_body, scalar=not routine.composite, single=not routine.returns_set
        )
        statement = statements.call(
            routine,
            query,
            page,
            arguments=arguments,
            from_body=from_body,
            params=params,
            count=req.prefs.wants_count,
            shape=shape,
        )
        result = await self._execute(
            req,
            statement,
            read_only=not (invoke and routine.volatile),
            singular=media.singular,
            limit_affected=True,
        )
        headers: dict[str, str] = {}
        applied(req, headers, max_affected=True)
        if routine.returns_void:
            headers["Content-Range"] = content_range(page.offset, result.page_total, result.total)
            return responses.respond(result, 204, headers, media=None, profile=None)
        return responses.page(
            result,
            page.offset,
            headers,
            media=media,
            profile=req.profile,
            body=req.method != "HEAD",
        )

    async def _options(self, req: ApiRequest) -> web.Response:
        if req.kind == "table":
            await self._table(req)
            allow = "OPTIONS,GET,HEAD,POST,PATCH,DELETE"
        else:
            overloads = (await self.cache.snapshot(req.schema)).routines.get(req.name, [])
            if not overloads:
                raise errors.function_not_found(
                    req.schema, req.name, [], post_json=False, hint=None
                )
            volatile = any(r.volatile for r in overloads)
            allow = "OPTIONS,POST" if volatile else "OPTIONS,GET,HEAD,POST"
        return web.Response(
            status=200, headers={"Allow": allow, "Access-Control-Allow-Origin": "*"}
        )
