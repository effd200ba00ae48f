"""to_json_value against the real thing: for each sample, PostgreSQL prints the value as
text and as to_jsonb (what Supabase's realtime.cast sends); converting the text must give
the same JSON, types included (true is not 1, 1.0 is not 1)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from gateway.embedded.wal.values import column_value, json_row, parse_array, to_json_value
from tests.wal_helpers import only_change, publish_table, running_stream

SCALARS: dict[str, list[str]] = {
    "int2": ["0", "-32768", "32767"],
    "int4": ["42", "-2147483648"],
    "int8": ["9223372036854775807", "-1"],
    "oid": ["0", "4294967295"],
    "float4": ["1.5", "-0", "3.4028235e+38", "1e-45", "NaN", "Infinity", "-Infinity"],
    "float8": ["0.1", "1e+100", "1e-7", "-1.7976931348623157e+308", "5e-324", "NaN", "1"],
    "numeric": ["1.50", "0", "-0.000", "123456789012345678901234567890.123456789", "1e-20",
                "NaN", "Infinity", "-Infinity", "42"],
    "bool": ["true", "false"],
    "json": ['{"a": [1, 2.5, "x", null, true]}', '"str"', "[]", '{"a":1,"a":2}', "12.50"],
    "jsonb": ['{"a": [1, 2.5, "x", null, true]}', '"str"', "[]", "12.50", '{"k": {"n": 1e3}}'],
    "text": ["", 'héllo "q" \\ back', "multi\nline", "{not,an,array}"],
    "varchar": ["v"],
    "char(5)": ["ab"],
    "uuid": ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"],
    "timestamp": ["2026-11-25 19:40:00.123456", "2026-11-25 19:40:00", "0044-03-15 12:00:00 BC",
                  "infinity", "-infinity", "10000-01-01 00:00:00"],
    "timestamptz": ["2026-11-25 19:40:00.123456+00", "2026-06-01 12:00:00+05:30",
                    "0001-01-01 00:00:00+00 BC", "infinity"],
    "date": ["2026-11-25", "0044-03-15 BC", "infinity"],
    "time": ["19:40:00.123456", "24:00:00"],
    "timetz": ["12:00:00+02", "12:00:00-03:30"],
    "interval": ["1 day 02:00:00", "-1 years 3 mons"],
    "bytea": ["\\x00ff"],
    "money": ["1.50"],
    "inet": ["192.168.0.1/24"],
    "point": ["(1,2)"],
    "int4range": ["[1,5)"],
    "int2vector": ["1 2"],
    "oidvector": ["3 4"],
}  # fmt: skip

ARRAYS: dict[str, list[str]] = {
    "int4[]": ["{1,2,NULL}", "{}", "{{1,2},{3,4}}", "[0:1]={7,8}"],
    "int8[]": ["{9223372036854775807}"],
    "float8[]": ["{1.5,NaN,-Infinity,1e+100}"],
    "numeric[]": ["{1.50,NULL,NaN}"],
    "bool[]": ["{t,f,NULL}"],
    "text[]": ['{"a b","c\\"d","NULL",NULL,"","x,y","{}","b\\\\c"," pad "}', "{{a,b},{c,d}}"],
    "varchar[]": ["{x,y}"],
    "uuid[]": ["{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}"],
    "json[]": ['{"{\\"a\\": 1}",NULL,"[1, 2]"}'],
    "jsonb[]": ['{"{\\"a\\": 1}",NULL,"\\"s\\""}'],
    "timestamptz[]": ['{"2026-01-01 10:00:00+00",infinity,NULL}'],
    "timestamp[]": ['{"2026-01-01 10:00:00.5"}'],
    "date[]": ["{2026-01-01}"],
    "time[]": ["{10:00:00}"],
    "oid[]": ["{1,2}"],
    "char(2)[]": ["{a,bb}"],
    "interval[]": ['{"1 day"}'],
    "box[]": ["{(3,4),(1,2);(1,1),(0,0)}"],
}


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@pytest.fixture
async def db(any_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(any_database_url, server_settings={"datestyle": "ISO"})
    yield conn
    await conn.close()


async def assert_converts_like_to_jsonb(
    db: asyncpg.Connection, sql_type: str, literals: list[str]
) -> None:
    for literal in literals:
        row = await db.fetchrow(
            # format() prints with the type's output function, as the WAL does ('t', not
            # the 'true' of a bool::text cast; char(n) keeps its padding).
            "select format('%s', v) as text, to_jsonb(v)::text as json,"
            " t.typname::text as type_name"
            f" from (select $1::text::{sql_type} as v) s join pg_type t on t.oid = pg_typeof(v)",
            literal,
        )
        assert row is not None
        ours = to_json_value(row["type_name"], row["text"])
        assert canonical(ours) == canonical(json.loads(row["json"])), (sql_type, literal, row)


@pytest.mark.parametrize("sql_type", SCALARS)
async def test_scalars_convert_like_to_jsonb(db: asyncpg.Connection, sql_type: str) -> None:
    await assert_converts_like_to_jsonb(db, sql_type, SCALARS[sql_type])


@pytest.mark.parametrize("sql_type", ARRAYS)
async def test_arrays_convert_like_to_jsonb(db: asyncpg.Connection, sql_type: str) -> None:
    await assert_converts_like_to_jsonb(db, sql_type, ARRAYS[sql_type])


@pytest.mark.parametrize(
    ("zone", "literal"),
    [
        ("Asia/Kolkata", "2026-06-01 12:00:00"),  # +05:30
        ("America/New_York", "2026-06-01 12:00:00"),  # -04 becomes -04:00
        ("America/New_York", "1850-01-01 00:00:00"),  # local mean time: -04:56:02
    ],
)
async def test_timestamps_keep_the_sessions_zone_offset_like_to_jsonb(
    db: asyncpg.Connection, zone: str, literal: str
) -> None:
    await db.execute(f"set timezone = '{zone}'")
    await assert_converts_like_to_jsonb(db, "timestamptz", [literal])
    await assert_converts_like_to_jsonb(db, "timestamptz[]", ["{" + f'"{literal}"' + "}"])


def test_null_is_none_for_every_type() -> None:
    assert [to_json_value(t, None) for t in ("int4", "jsonb", "_text", "timestamptz")] == [None] * 4


def test_array_literals_parse_into_nested_lists_of_text() -> None:
    assert parse_array('{"a b",NULL,"NULL","x\\"y",{}}') == ["a b", None, "NULL", 'x"y', []]
    assert parse_array("[2:3]={{1,2},{3,4}}") == [["1", "2"], ["3", "4"]]
    for broken in ("{1,2", "1,2}", "{1,2}x", '{"open}'):
        with pytest.raises(ValueError):
            parse_array(broken)


async def test_values_read_from_the_wal_convert_like_to_jsonb(
    any_database_url: str, db: asyncpg.Connection
) -> None:
    await db.execute(
        "create type mood as enum ('happy', 'sad');"
        " create domain positive as int check (value > 0);"
        " create domain score as positive"
    )
    await publish_table(
        db,
        "kinds",
        "id int8 primary key, price numeric, ratio float8, ok bool, doc jsonb, at timestamptz,"
        " day date, tags text[], ids uuid[], feeling mood, points score, best score[],"
        " blob bytea, nothing text",
    )
    async with running_stream(any_database_url) as feed:
        await db.execute(
            "insert into kinds values (1, 12.50, 0.1, true, '{\"a\": [1, null]}',"
            " '2026-11-25 19:40:00.123456+00', '2026-11-25', '{x,\"y z\",NULL}',"
            " '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', 'sad', 7, '{1,2}', '\\x00ff', null)"
        )
        change = only_change(await feed.next())
    expected = await db.fetchval("select to_jsonb(k)::text from kinds k")

    assert change.new is not None
    assert canonical(json_row(change.columns, change.new)) == canonical(json.loads(expected))
    by_name = {c.name: c for c in change.columns}
    assert (by_name["points"].type_name, by_name["points"].base_type_name) == ("score", "int4")
    assert (by_name["best"].type_name, by_name["best"].base_type_name) == ("_score", "_int4")
    assert by_name["feeling"].type_name == "mood"
    assert column_value(by_name["at"], change.new["at"]) == "2026-11-25T19:40:00.123456+00:00"
