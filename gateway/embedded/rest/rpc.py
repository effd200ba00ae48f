"""Which function an /rpc/<name> request calls (overloads resolved by argument names, as
PostgREST does) and how its arguments are passed: query parameters, JSON body keys, or
the whole body to a single unnamed json/jsonb parameter."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.embedded.rest.errors import ambiguous_function, function_not_found
from gateway.embedded.rest.payload import Body
from gateway.embedded.rest.schema import Column, Routine, SchemaCache, closest
from gateway.embedded.rest.sql import Params, ident
from gateway.embedded.rest.statements import Payload, json_source


def _accepts(routine: Routine, keys: set[str]) -> bool:
    if not routine.params:
        return not keys
    required = {p.name for p in routine.params if p.required}
    optional = {p.name for p in routine.params if not p.required}
    return keys - optional == required


def _pick(overloads: Sequence[Routine], keys: set[str], post_json: bool) -> list[Routine]:
    named = [r for r in overloads if _accepts(r, keys)]
    if named:
        return named
    return [r for r in overloads if post_json and r.single_json_param]


def _hint(
    schema: str, name: str, keys: set[str], all_names: list[str], overloads: Sequence[Routine]
) -> str | None:
    if not overloads:
        match = closest(name, all_names)
        return f"Perhaps you meant to call the function {schema}.{match}" if match else None
    lists = {"(" + ", ".join(sorted(p.name for p in r.params)) + ")" for r in overloads}
    match = closest("(" + ", ".join(sorted(keys)) + ")", lists, cutoff=0.33)
    return f"Perhaps you meant to call the function {schema}.{name}{match}" if match else None


async def find_routine(
    cache: SchemaCache, schema: str, name: str, keys: set[str], *, post_json: bool
) -> Routine:
    """The one overload these argument names call; a miss reloads the cache once."""
    snap = await cache.snapshot(schema)
    found = _pick(snap.routines.get(name, ()), keys, post_json)
    if not found:
        snap = await cache.snapshot(schema, stale=snap)
        found = _pick(snap.routines.get(name, ()), keys, post_json)
    if len(found) == 1:
        return found[0]
    if found:
        raise ambiguous_function([r.signature for r in found])
    overloads = snap.routines.get(name, [])
    raise function_not_found(
        schema,
        name,
        sorted(keys),
        post_json=post_json,
        hint=_hint(schema, name, keys, list(snap.routines), overloads),
    )


def _argument(param_name: str, variadic: bool, value: str) -> str:
    return f"{'VARIADIC ' if variadic else ''}{ident(param_name)} := {value}"


def query_arguments(routine: Routine, args: Sequence[tuple[str, str]], params: Params) -> str:
    """GET/HEAD: `name := $n::text::type` for each argument given in the query string."""
    rendered = []
    for param in routine.params:
        values = [value for key, value in args if key == param.name]
        if not values:
            continue
        if param.variadic and len(values) > 1:
            value = f"{params.add(values)}::text[]::{param.cast_type}"
        else:
            value = params.text(values[0], param.cast_type)
        rendered.append(_argument(param.name, param.variadic, value))
    return ", ".join(rendered)


def body_arguments(routine: Routine, body: Body, params: Params) -> tuple[str, str]:
    """POST: the rendered arguments and the FROM clause that unpacks the JSON body."""
    if routine.single_json_param:
        return params.text(body.text, routine.params[0].cast_type), ""
    given = [p for p in routine.params if p.name in body.keys]
    if not given:
        return "", ""
    columns = tuple(Column(p.name, p.cast_type, p.base_type) for p in given)
    source = json_source(Payload(body.text, body.is_object, columns), params, limit_one=True)
    arguments = ", ".join(
        _argument(p.name, p.variadic, f"pgrst_body.{ident(p.name)}") for p in given
    )
    return arguments, source
