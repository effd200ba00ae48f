"""Hypothesis strategies for hostile input, shared by the WebSocket and REST fuzz tests:
wrong types, huge and negative numbers, deep nesting, control and zero-width characters,
lone surrogates, SQL- and HTML-looking text and very long ids.

The fuzz tests run Hypothesis in a worker thread with blocking clients while the gateway
answers on the test's event loop (`asyncio.to_thread`): Hypothesis drives examples
synchronously, and the gateway must keep serving between them.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from gateway.errors import ErrorCode

CATALOGUE = frozenset(code.code for code in ErrorCode) - {ErrorCode.INTERNAL.code}
FUZZ = settings(
    deadline=None,
    database=None,  # nothing written into the work tree
    suppress_health_check=list(HealthCheck),
)

CONTROL = "".join(map(chr, range(32))) + "\x7f\x85"
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u202e\u2066\u180e"
SQL_HTML = [
    "'; drop table public.messages; --",
    "Robert'); DROP TABLE Students;--",
    '" or 1=1 --',
    "$1 $$ $body$ \\' \\\\",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "</textarea>&amp;&lt;&#0;",
    "{{7*7}} ${7*7} %s%n%x",
    "\\u0000 \\ud800",
]
LONE_SURROGATES = ["\ud800", "x\udfffy", "\udbff"]

texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from(CONTROL + ZERO_WIDTH + " xé\U0001f4ac"), max_size=40),
    st.sampled_from(SQL_HTML + LONE_SURROGATES),
    st.text(alphabet="ab", min_size=3990, max_size=4010),  # around the length limit
    st.text(alphabet="0123456789abcdef-", min_size=100, max_size=2000),  # very long ids
)
numbers = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1, -1, 0]),
    st.floats(),
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | texts,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def ids(*known: str) -> st.SearchStrategy[Any]:
    """User or chat ids: real ones, random UUIDs, and anything else."""
    return st.one_of(st.sampled_from(known), st.uuids().map(str), texts, json_values)


def deep(max_depth: int) -> st.SearchStrategy[str]:
    """JSON nested up to `max_depth` (Python's json stops at ~1,000 with RecursionError)."""
    depth = st.integers(min_value=900, max_value=max_depth)
    objects = st.integers(min_value=900, max_value=max_depth // 2)  # 6 bytes a level
    return st.one_of(
        depth.map(lambda n: "[" * n + "]" * n),
        objects.map(lambda n: '{"a":' * n + "1" + "}" * n),
    )


malformed = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["{", '{"type":', "[1,]", "{'a': 1}", "NaN", "", "null", '"\\ud800"']),
)


def dump(value: Any, ascii_only: bool) -> str:
    """JSON text; a lone surrogate can only travel escaped (it has no UTF-8)."""
    text = json.dumps(value, ensure_ascii=ascii_only)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value)
    return text


def sendable(text: str) -> bool:
    """A message the rules accept (1 to 4,000 characters, not blank) and that can be stored."""
    if not 0 < len(text) <= 4000 or not text.strip() or "\x00" in text:
        return False
    try:
        text.encode("utf-8")  # no lone surrogate
    except UnicodeEncodeError:
        return False
    return True
