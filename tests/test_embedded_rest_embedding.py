"""Resource embedding through supabase-py, as PostgREST answers it.

Followed: PostgREST docs references/api/resource_embedding.rst (many-to-one embeds are
objects or null, one-to-many arrays, one-to-one objects; `!inner`; filters, order, limit
and offset on embedded resources; `!fk_name` / `!column` hints; related orders
`order=rel(col)` only on to-one), and its source: src/library/PostgREST/Plan.hs (findRel:
a target may be a table, a foreign key's name or a foreign key column), Error.hs
(PGRST200 NoRelBetween, PGRST201 AmbiguousRelBetween, PGRST108 NotEmbedded, PGRST118
RelatedOrderNotToOne), Query/QueryBuilder.hs (embedded values follow the columns; an inner
to-many embed keeps only parents with a row). Embedded tables are read as the request's
role, so RLS applies to embedded rows (Supabase docs, guides/database/joins-and-nesting).
"""

from __future__ import annotations

import json

import pytest
from postgrest.exceptions import APIError

from tests.conftest import EmbeddedStack
from tests.embedding_helpers import Blog, blog
from tests.rest_helpers import Clients, raw, rows, run_sql


@pytest.fixture
async def data(embedded: EmbeddedStack) -> Blog:
    return await blog(embedded)


async def test_many_to_one_embeds_an_object_after_the_columns(clients: Clients, data: Blog) -> None:
    anon = await clients.connect()
    got = rows(
        await anon.table("posts").select("title, author:profiles(username)").order("id").execute()
    )
    assert got == [
        {"title": "Hello", "author": {"username": "alice"}},
        {"title": "Bob's", "author": {"username": "bob"}},
    ]
    # Unaliased, the key is the table's name; the foreign key column names it too.
    by_table = rows(await anon.table("posts").select("id, profiles(*)").eq("id", 3).execute())
    assert by_table == [{"id": 3, "profiles": {"id": data.bob.id, "username": "bob"}}]
    by_column = rows(
        await anon.table("posts").select("id, author_id(username)").eq("id", 3).execute()
    )
    assert by_column == [{"id": 3, "author_id": {"username": "bob"}}]


async def test_one_to_many_embeds_an_array_and_one_to_one_an_object(
    clients: Clients, data: Blog
) -> None:
    anon = await clients.connect()
    got = rows(
        await anon.table("profiles")
        .select("username, posts(id, title), settings(theme)")
        .order("username")
        .execute()
    )
    assert got == [
        {
            "username": "alice",
            "posts": [{"id": 1, "title": "Hello"}],
            "settings": {"theme": "dark"},
        },
        {"username": "bob", "posts": [{"id": 3, "title": "Bob's"}], "settings": None},
        {"username": "carol", "posts": [], "settings": None},
    ]


FILMS_SQL = """
create table public.films (id int primary key, title text not null);
create table public.actors (id int primary key, name text not null);
create table public.roles (
  film_id int references public.films (id),
  actor_id int references public.actors (id),
  character text not null,
  primary key (film_id, actor_id)
);
insert into public.films values (1, 'Heat'), (2, 'Ronin');
insert into public.actors values (1, 'Al'), (2, 'Robert'), (3, 'Jean');
insert into public.roles values (1, 1, 'Vincent'), (1, 2, 'Neil'), (2, 2, 'Sam'), (2, 3, 'Vincent');
"""


async def test_many_to_many_embeds_through_a_junction_table(
    embedded: EmbeddedStack, clients: Clients
) -> None:
    """PostgREST docs' films/actors/roles: roles' foreign keys lie within its primary key, so
    it relates films and actors (many-to-many); it is embeddable itself as well."""
    await run_sql(embedded, FILMS_SQL)
    anon = await clients.connect(service=True)
    films = rows(
        await anon.table("films")
        .select("title, actors(name), roles(character)")
        .order("id")
        .order("id", foreign_table="actors")
        .order("actor_id", foreign_table="roles")
        .execute()
    )
    assert films == [
        {
            "title": "Heat",
            "actors": [{"name": "Al"}, {"name": "Robert"}],
            "roles": [{"character": "Vincent"}, {"character": "Neil"}],
        },
        {
            "title": "Ronin",
            "actors": [{"name": "Robert"}, {"name": "Jean"}],
            "roles": [{"character": "Sam"}, {"character": "Vincent"}],
        },
    ]
    robert = rows(
        await anon.table("actors")
        .select("name, films!inner(title)")
        .eq("films.title", "Ronin")
        .order("id")
        .execute()
    )
    assert robert == [
        {"name": "Robert", "films": [{"title": "Ronin"}]},
        {"name": "Jean", "films": [{"title": "Ronin"}]},
    ]
    hinted = rows(await anon.table("actors").select("name, films!roles(id)").eq("id", 1).execute())
    assert hinted == [{"name": "Al", "films": [{"id": 1}]}]


async def test_two_junction_tables_make_a_many_to_many_ambiguous(
    embedded: EmbeddedStack, clients: Clients
) -> None:
    await run_sql(
        embedded,
        FILMS_SQL + "create table public.credits (film_id int references public.films (id),"
        " actor_id int references public.actors (id), primary key (film_id, actor_id))",
    )
    anon = await clients.connect()
    with pytest.raises(APIError) as ambiguous:
        await anon.table("films").select("actors(name)").execute()
    assert ambiguous.value.details == [
        {
            "cardinality": "many-to-many",
            "embedding": "films with actors",
            "relationship": (
                "credits using credits_film_id_fkey(film_id) and credits_actor_id_fkey(actor_id)"
            ),
        },
        {
            "cardinality": "many-to-many",
            "embedding": "films with actors",
            "relationship": (
                "roles using roles_film_id_fkey(film_id) and roles_actor_id_fkey(actor_id)"
            ),
        },
    ]
    assert ambiguous.value.hint == (
        "Try changing 'actors' to one of the following: 'actors!credits', 'actors!roles'."
        " Find the desired relationship in the 'details' key."
    )


async def test_embeds_nest(clients: Clients, data: Blog) -> None:
    anon = await clients.connect()
    got = rows(
        await anon.table("posts")
        .select("title, comments(body, author:profiles(username))")
        .eq("id", 1)
        .order("id", foreign_table="comments")
        .execute()
    )
    assert got == [
        {
            "title": "Hello",
            "comments": [
                {"body": "nice", "author": {"username": "bob"}},
                {"body": "thanks", "author": {"username": "alice"}},
            ],
        }
    ]


async def test_rls_applies_to_embedded_rows(clients: Clients, data: Blog) -> None:
    """alice's draft is hidden from anon and bob inside an embed as it is at the top level;
    alice, its author, sees it embedded."""
    query = "username, posts(title)"
    for client in (await clients.connect(), await clients.connect(user=data.bob)):
        seen = rows(await client.table("profiles").select(query).eq("username", "alice").execute())
        assert seen == [{"username": "alice", "posts": [{"title": "Hello"}]}]
    author = await clients.connect(user=data.alice)
    mine = rows(
        await author.table("profiles")
        .select(query)
        .eq("username", "alice")
        .order("id", foreign_table="posts")
        .execute()
    )
    assert mine == [{"username": "alice", "posts": [{"title": "Hello"}, {"title": "Draft"}]}]


async def test_filters_order_and_limit_apply_to_the_embedded_rows(
    clients: Clients, data: Blog
) -> None:
    anon = await clients.connect()
    filtered = rows(
        await anon.table("posts")
        .select("id, comments(body)")
        .eq("comments.body", "nice")
        .order("id")
        .execute()
    )
    # The parents all stay: a filter on a (left) embed only thins what is embedded.
    assert filtered == [{"id": 1, "comments": [{"body": "nice"}]}, {"id": 3, "comments": []}]
    paged = rows(
        await anon.table("posts")
        .select("id, comments(body)")
        .eq("id", 1)
        .order("body", desc=True, foreign_table="comments")
        .limit(1, foreign_table="comments")
        .execute()
    )
    assert paged == [{"id": 1, "comments": [{"body": "thanks"}]}]
    skipped = rows(
        await anon.table("posts")
        .select("id, comments(body)")
        .eq("id", 1)
        .order("body", foreign_table="comments")
        .range(1, 1, foreign_table="comments")
        .execute()
    )
    assert skipped == [{"id": 1, "comments": [{"body": "thanks"}]}]


async def test_inner_embeds_filter_and_count_the_parents(clients: Clients, data: Blog) -> None:
    anon = await clients.connect()
    result = (
        await anon.table("posts")
        .select("title, profiles!inner(username)", count="exact")  # type: ignore[arg-type]
        .eq("profiles.username", "bob")
        .execute()
    )
    assert rows(result) == [{"title": "Bob's", "profiles": {"username": "bob"}}]
    assert result.count == 1
    with_comments = rows(
        await anon.table("profiles")
        .select("username, comments!inner(body)")
        .eq("comments.body", "welcome")
        .execute()
    )
    assert with_comments == [{"username": "alice", "comments": [{"body": "welcome"}]}]
    # `name()` embeds nothing, and with !inner only filters.
    only_filter = rows(
        await anon.table("posts")
        .select("id, profiles!inner()")
        .eq("profiles.username", "alice")
        .execute()
    )
    assert only_filter == [{"id": 1}]


async def test_is_null_on_an_embed_filters_parents_by_whether_it_has_rows(
    clients: Clients, data: Blog
) -> None:
    """PostgREST's null filtering on embedded resources (`label=not.is.null` acts as an inner
    join; `label=is.null` keeps the parents with no row), counted the same way."""
    anon = await clients.connect()
    lonely = await (
        anon.table("profiles")
        .select("username, posts()", count="exact")  # type: ignore[arg-type]
        .is_("posts", "null")
        .execute()
    )
    assert (rows(lonely), lonely.count) == ([{"username": "carol"}], 1)
    praised = rows(
        await anon.table("posts")
        .select("id, comments(body)")
        .eq("comments.body", "nice")
        .not_.is_("comments", "null")
        .execute()
    )
    assert praised == [{"id": 1, "comments": [{"body": "nice"}]}]


async def test_a_related_order_sorts_parents_by_a_to_one_embed(
    embedded: EmbeddedStack, data: Blog
) -> None:
    reply = await raw(
        embedded,
        "GET",
        "/posts?select=id,author:profiles(username)&order=author(username).desc,id",
        key=embedded.service_key,
    )
    assert [row["id"] for row in reply.json()] == [3, 1, 2]
    to_many = await raw(
        embedded,
        "GET",
        "/profiles?select=id,posts(title)&order=posts(title)",
        key=embedded.service_key,
    )
    assert (to_many.status, to_many.json()) == (
        400,
        {
            "code": "PGRST118",
            "details": (
                "'profiles' and 'posts' do not form a many-to-one or one-to-one relationship"
            ),
            "hint": None,
            "message": "A related order on 'posts' is not possible",
        },
    )


async def test_an_ambiguous_embed_is_refused_until_a_hint_picks_the_foreign_key(
    clients: Clients, data: Blog
) -> None:
    anon = await clients.connect()
    with pytest.raises(APIError) as ambiguous:
        await anon.table("orders").select("*, addresses(*)").execute()
    error = ambiguous.value
    assert error.code == "PGRST201"
    assert error.message == (
        "Could not embed because more than one relationship was found for 'orders' and 'addresses'"
    )
    assert error.details == [
        {
            "cardinality": "many-to-one",
            "embedding": "orders with addresses",
            "relationship": "billing using orders(billing_address_id) and addresses(id)",
        },
        {
            "cardinality": "many-to-one",
            "embedding": "orders with addresses",
            "relationship": "shipping using orders(shipping_address_id) and addresses(id)",
        },
    ]
    assert error.hint == (
        "Try changing 'addresses' to one of the following: 'addresses!billing',"
        " 'addresses!shipping'. Find the desired relationship in the 'details' key."
    )
    picked = rows(
        await anon.table("orders")
        .select("id, billing:addresses!billing(city), shipping:addresses!shipping_address_id(city)")
        .execute()
    )
    assert picked == [{"id": 100, "billing": {"city": "Lima"}, "shipping": {"city": "Quito"}}]


async def test_a_missing_relationship_is_pgrst200_with_a_suggestion(
    embedded: EmbeddedStack, data: Blog
) -> None:
    typo = await raw(embedded, "GET", "/posts?select=*,profile(*)", key=embedded.service_key)
    assert (typo.status, typo.json()) == (
        400,
        {
            "code": "PGRST200",
            "details": "Searched for a foreign key relationship between 'posts' and 'profile'"
            " in the schema 'public', but no matches were found.",
            "hint": "Perhaps you meant 'profiles' instead of 'profile'.",
            "message": "Could not find a relationship between 'posts' and 'profile' in the"
            " schema cache",
        },
    )
    bad_hint = await raw(
        embedded, "GET", "/orders?select=*,addresses!nope(*)", key=embedded.service_key
    )
    assert bad_hint.json()["details"] == (
        "Searched for a foreign key relationship between 'orders' and 'addresses' using the"
        " hint 'nope' in the schema 'public', but no matches were found."
    )
    assert bad_hint.json()["hint"] is None


async def test_filters_must_name_an_embedded_resource_by_its_alias(
    embedded: EmbeddedStack, data: Blog
) -> None:
    absent = await raw(
        embedded, "GET", "/posts?select=title&profiles.username=eq.bob", key=embedded.service_key
    )
    assert (absent.status, absent.json()["code"], absent.json()["hint"]) == (
        400,
        "PGRST108",
        "Verify that 'profiles' is included in the 'select' query parameter.",
    )
    aliased = await raw(
        embedded,
        "GET",
        "/posts?select=title,author:profiles(username)&profiles.username=eq.bob",
        key=embedded.service_key,
    )
    assert aliased.json() == {
        "code": "PGRST108",
        "details": "Target names are not allowed in filters if they have an alias",
        "hint": "Change 'profiles' to 'author' in filters, orders or limits.",
        "message": "'profiles' is not an embedded resource in this request",
    }


async def test_a_write_returns_its_rows_with_their_embeds(
    embedded: EmbeddedStack, data: Blog
) -> None:
    reply = await raw(
        embedded,
        "POST",
        "/posts?select=title,author:profiles(username)",
        token=data.alice.token,
        headers={"Prefer": "return=representation"},
        body=json.dumps({"id": 4, "author_id": data.alice.id, "title": "New"}),
    )
    assert (reply.status, reply.json()) == (
        201,
        [{"title": "New", "author": {"username": "alice"}}],
    )
