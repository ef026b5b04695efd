"""Full-text search on PostgreSQL: the same matches and totals as the core's reference.

The fake store answers searches by scanning with ``search_match`` (the reference); the
PostgreSQL store answers from the ``search`` tsvector column (GIN), falling back to the
core for rows in doubt. Random texts with accents and punctuation, random searches
(words, prefixes, phrases, OR, exclusions, fields) and random wheres and sorts must give
the same ids and totals on both, whichever plan answers.
"""

from __future__ import annotations

from typing import Any

import msgspec
import psycopg
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from psycopg import sql

from flextype_adapters.postgres.database import PostgresDatabase, apply_migrations
from flextype_adapters.postgres.entries import PostgresEntryStore
from flextype_adapters.postgres.rows import encode_fields
from flextype_adapters.postgres.search_sql import lexeme, tsquery_text, tsvector_literal
from flextype_core.errors import BadRequest
from flextype_core.model import Selection
from flextype_core.query import parse_options
from flextype_core.query.model import Keyset, Query
from flextype_core.query.search_syntax import parse_search
from flextype_core.query.search_text import MAX_WORDS
from tests.unit.fakes import FakeEntryStore

Fields = dict[str, Any]

# -- helpers ----------------------------------------------------------------------------------


@pytest.fixture
def store(pg_database: PostgresDatabase) -> PostgresEntryStore:
    return PostgresEntryStore(pg_database)


def fill(db: PostgresDatabase, store: PostgresEntryStore, entries: dict[str, Fields]) -> None:
    db.run(lambda tx: tx.execute("DELETE FROM entries"))
    store.create(entries)


def search(q: str, **more: Any) -> Query:
    """The query of ``options[search][q]=q``, with other options (``fields``, filter...)."""
    options: dict[str, Any] = {"search": {"q": q}, "find": {"depth": "all"}}
    if "fields" in more:
        options["search"]["fields"] = more.pop("fields")
    if more:
        options["filter"] = more
    return parse_options(options)


def ids(found: Selection) -> list[str]:
    return [item["id"] for item in found.items]


def found_ids(store: PostgresEntryStore, q: str, **more: Any) -> set[str]:
    found = store.select("", search(q, **more))
    assert found.total == len(found.items)
    return set(ids(found))


def hand_edit(db: PostgresDatabase, statement: str, params: list[Any]) -> None:
    db.run(lambda tx: tx.execute(statement, params))


# -- parity with the reference, on random texts ----------------------------------------------------

WORDS = [
    "Café", "cafe", "CAFÉ", "café-crème", "naïve", "naive", "l'été", "ete", "sci-fi", "Dune",
    "dunes", "dune's", "œuvre", "Øre", "STRASSE", "straße", "a", "ab", "abc", "abcd", "x",
    "ÉCOLE", "école", "ﬁn", "fin", "2049", "r2d2", "it's", "back\\slash", "—", "...", "«»",
]  # fmt: skip
QUERY_WORDS = [*WORDS, "caf", "dun", "ecol", "str", "na", "fi", "2", "20", "OR", "zzz"]

COMMON = ["a", "ab", "x", "Dune", "cafe", "l'été"]
"""Words drawn more often, so that phrases meet texts (across fields too)."""
word = st.one_of(st.sampled_from(WORDS), st.sampled_from(COMMON))
texts = st.lists(word, max_size=5).map(" ".join)
values = st.one_of(
    texts,
    st.lists(texts, max_size=2),
    st.fixed_dictionaries({"name": texts}, optional={"tags": st.lists(texts, max_size=2)}),
    st.integers(0, 3),
)
entry_fields = st.fixed_dictionaries(
    {"title": texts},
    optional={"body": values, "meta": values, "n": st.integers(0, 3), "uuid": texts},
)
collections = st.dictionaries(
    st.sampled_from([f"s/{i}" for i in range(8)] + ["s/1/x", "t"]), entry_fields, max_size=8
)


@st.composite
def search_texts(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["word", "word", "phrase", "minus", "minus phrase"]))
        if "phrase" in kind:
            text = '"' + " ".join(draw(st.lists(word, min_size=1, max_size=3)))
            text += '"'
        else:
            text = draw(st.sampled_from(QUERY_WORDS))
        parts.append(("-" if "minus" in kind else "") + text)
    return " ".join(parts)


FIELD_CHOICES: list[Any] = [None, None, None, "title", "meta", "body,meta.name", "meta.tags"]


@settings(max_examples=250, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    collections,
    search_texts(),
    st.sampled_from(FIELD_CHOICES),
    st.sampled_from([None, None, {"key": "n", "operator": "gte", "value": 1}]),
    st.sampled_from([None, None, {"key": "n", "direction": "desc"}]),
    st.sampled_from(["", "", "s"]),
    st.sampled_from([None, None, "s/1", "t"]),
)
@example(  # a phrase across two fields: never a match
    entries={"s/0": {"title": "x", "body": "ab"}},
    q='"x ab"',
    fields=None,
    where=None,
    sort_by=None,
    parent="",
    edited_by_hand=None,
)
def test_searches_find_what_the_reference_finds(
    pg_database: PostgresDatabase,
    store: PostgresEntryStore,
    entries: dict[str, Fields],
    q: str,
    fields: str | None,
    where: dict[str, Any] | None,
    sort_by: dict[str, Any] | None,
    parent: str,
    edited_by_hand: str | None,
) -> None:
    assume(not parent or any(i.startswith(parent + "/") for i in entries))
    try:
        parse_search(q)
    except BadRequest:
        assume(False)
    fill(pg_database, store, entries)
    if edited_by_hand in entries:  # its search columns no longer match its body
        unsearched = "UPDATE entries SET search_of = NULL WHERE id = %s"
        hand_edit(pg_database, unsearched, [edited_by_hand])
    options: dict[str, Any] = {"search": {"q": q}, "find": {"depth": "all"}}
    if fields is not None:
        options["search"]["fields"] = fields
    if where is not None or sort_by is not None:
        options["filter"] = {"where": [where] if where else None, "sort_by": sort_by}
    query = parse_options(options)
    fake = FakeEntryStore()
    fake.create(entries)
    want = fake.select(parent, query)
    got = store.select(parent, query)
    assert (sorted(ids(got)), got.total) == (sorted(ids(want)), want.total)
    assert got.scores is not None and len(got.scores) == len(got.items)
    if sort_by is None:  # relevance order: best first, ties by id
        ranked = list(zip(got.scores, ids(got), strict=True))
        assert ranked == sorted(ranked, key=lambda pair: (-pair[0], pair[1]))
    else:
        assert ids(got) == ids(want)  # the sort's order, the same on both


# -- what a search means, case by case ---------------------------------------------------------

MOVIES: dict[str, Fields] = {
    "m/dune": {"title": "Dune", "plot": "A desert planet. Spice and sand worms."},
    "m/dune-2": {"title": "Dune: Part Two", "plot": "Paul joins the Fremen in the desert."},
    "m/cafe": {"title": "Café Society", "plot": "A young man goes to Hollywood.", "year": 2016},
    "m/alien": {"title": "Alien", "plot": "In space no one hears you scream.", "cast": {
        "lead": {"name": "Sigourney Weaver"}, "others": ["Tom Skerritt", "John Hurt"]}},
    "m/sand": {"title": "Woman in the Dunes", "plot": "Sand, a desert village, a planet apart."},
}  # fmt: skip


@pytest.fixture
def movies(pg_database: PostgresDatabase, store: PostgresEntryStore) -> PostgresEntryStore:
    fill(pg_database, store, MOVIES)
    return store


@pytest.mark.parametrize(
    ("q", "more", "want"),
    [
        ("desert planet", {}, {"m/dune", "m/sand"}),
        ('"desert planet"', {}, {"m/dune"}),
        ("desert -paul", {}, {"m/dune", "m/sand"}),
        ('desert -"desert planet"', {}, {"m/dune-2", "m/sand"}),
        ("alien OR cafe", {}, {"m/alien", "m/cafe"}),
        ("dun", {}, {"m/dune", "m/dune-2", "m/sand"}),
        ("du", {}, set()),  # two letters: whole words only
        ("CAFE", {}, {"m/cafe"}),
        ("weaver", {}, {"m/alien"}),  # a nested map
        ('"john hurt"', {}, {"m/alien"}),  # a list in a nested map
        ('"weaver tom"', {}, set()),  # a phrase never spans two fields
        ("2016", {}, set()),  # numbers are not text
        ("desert", {"fields": "title"}, set()),
        ("dunes", {"fields": "title"}, {"m/sand"}),
        ("weaver", {"fields": "cast.lead"}, {"m/alien"}),
        ("weaver", {"fields": "cast.others"}, set()),
        ("desert -paul", {"fields": "plot"}, {"m/dune", "m/sand"}),
        ("desert -paul", {"fields": "title"}, set()),
        # An excluded word elsewhere than the fields searched does not exclude.
        ("desert -dune", {"fields": "plot"}, {"m/dune", "m/dune-2", "m/sand"}),
        ("desert", {"where": [{"key": "title", "operator": "starts_with", "value": "Dune"}]},
         {"m/dune", "m/dune-2"}),
    ],
)  # fmt: skip
def test_what_a_search_finds(
    movies: PostgresEntryStore, q: str, more: dict[str, Any], want: set[str]
) -> None:
    assert found_ids(movies, q, **more) == want


def test_relevance_order_and_scores(movies: PostgresEntryStore) -> None:
    found = movies.select("", search("desert sand"))
    assert found.scores is not None
    assert ids(found) == ["m/sand", "m/dune"]  # twice "sand", near "desert"
    assert found.scores[0] > found.scores[1] > 0
    paged = movies.select("", search("desert", limit=1, offset=1))
    full = movies.select("", search("desert"))
    assert paged.items == full.items[1:2] and paged.total == 3 and paged.more is True


def test_a_page_after_a_keyset_in_relevance_order(
    pg_database: PostgresDatabase, store: PostgresEntryStore
) -> None:
    entries = {f"k/{i:02}": {"title": "word " * (1 + i % 4) + "x" * (i % 5)} for i in range(30)}
    fill(pg_database, store, entries)
    for extra in ({}, {"fields": "title"}):  # the pushed plan, then the sparse one
        every = store.select("", search("word", **extra))
        assert every.scores is not None and every.total == 30
        walked: list[str] = []
        query = search("word", limit=7, **extra)
        while True:
            found = store.select("", query)
            assert found.total == 30 and found.scores is not None
            walked += ids(found)
            assert found.more is (len(walked) < 30)
            if not found.more:
                break
            last = found.items[-1]
            keyset = Keyset(values=(), score=found.scores[-1], id=last["id"])
            query = msgspec_replace(query, keyset=keyset)
        assert walked == ids(every)


def test_a_keyset_page_of_a_search_sorted_by_a_field(
    pg_database: PostgresDatabase, store: PostgresEntryStore
) -> None:
    entries = {f"k/{i:02}": {"title": f"word {i}", "n": i % 4} for i in range(12)}
    entries["k/none"] = {"title": "word"}  # no sort value: last
    fill(pg_database, store, entries)
    sort = {"key": "n", "direction": "desc"}
    every = ids(store.select("", search("word", sort_by=sort)))
    middle = every[5]
    keyset = Keyset(values=(entries[middle]["n"],), id=middle)
    found = store.select("", msgspec_replace(search("word", sort_by=sort, limit=4), keyset=keyset))
    assert ids(found) == every[6:10] and found.more is True and found.total == 13


def msgspec_replace(query: Query, **changes: Any) -> Query:
    return msgspec.structs.replace(query, **changes)


def test_a_keyset_page_with_rows_changed_by_hand(
    pg_database: PostgresDatabase, movies: PostgresEntryStore
) -> None:
    hand_edit(pg_database, "UPDATE entries SET search_of = NULL WHERE id = 'm/cafe'", [])
    every = movies.select("", search("a"))
    assert set(ids(every)) == {"m/dune", "m/cafe", "m/sand"}
    assert every.scores is not None
    first = movies.select("", search("a", limit=1))
    keyset = Keyset(values=(), score=first.scores[0] if first.scores else None, id=ids(first)[0])
    rest = movies.select("", msgspec_replace(search("a"), keyset=keyset))
    assert ids(first) + ids(rest) == ids(every) and rest.more is False


def test_a_row_changed_by_hand_is_searched_as_it_is_now(
    pg_database: PostgresDatabase, movies: PostgresEntryStore
) -> None:
    body = b'{"title":"Le Caf\\u00e9 des Sports","plot":"Nothing about the sea."}'
    hand_edit(pg_database, "UPDATE entries SET body = %s WHERE id = 'm/dune'", [body])
    assert found_ids(movies, "spice") == set()  # the old words are gone
    assert found_ids(movies, "cafe") == {"m/cafe", "m/dune"}
    assert found_ids(movies, "desert") == {"m/dune-2", "m/sand"}
    scored = movies.select("", search("cafe"))
    assert scored.scores is not None and all(s > 0 for s in scored.scores)
    row = "SELECT count(*) FROM entries WHERE NOT search_ok"
    assert pg_database.run(lambda tx: tx.execute(row).fetchone()) == (1,)
    pg_database.migrate()  # a migrate (or a server start) rebuilds the row's words
    assert pg_database.run(lambda tx: tx.execute(row).fetchone()) == (0,)
    assert found_ids(movies, "cafe") == {"m/cafe", "m/dune"}
    assert found_ids(movies, '"des sports"') == {"m/dune"}


def test_a_row_inserted_by_hand_is_found(
    pg_database: PostgresDatabase, movies: PostgresEntryStore
) -> None:
    hand_edit(
        pg_database,
        "INSERT INTO entries (id, parent, depth, data, body)"
        " VALUES ('m/new', 'm', 2, '{}', '{\"title\":\"Desert Hearts\"}')",
        [],
    )
    assert found_ids(movies, "desert hearts") == {"m/new"}


def test_a_damaged_row_is_unreadable_not_found(
    pg_database: PostgresDatabase, movies: PostgresEntryStore
) -> None:
    hand_edit(pg_database, "UPDATE entries SET body = 'not json' WHERE id = 'm/dune'", [])
    found = movies.select("", search("desert"))
    assert set(ids(found)) == {"m/dune-2", "m/sand"} and found.unreadable == ("m/dune",)


def test_writes_keep_the_words_current(movies: PostgresEntryStore) -> None:
    movies.update("m/alien", lambda fields: {**fields, "title": "Aliens: the return"})
    assert found_ids(movies, "return") == {"m/alien"}
    movies.copy("m/alien", "m/alien-copy", lambda fields: fields)
    movies.move("m/cafe", "m/society")
    assert found_ids(movies, "return") == {"m/alien", "m/alien-copy"}
    assert found_ids(movies, "hollywood") == {"m/society"}
    movies.delete("m/alien")
    assert found_ids(movies, "return") == {"m/alien-copy"}


def test_the_answer_cache_tells_searches_apart(movies: PostgresEntryStore) -> None:
    assert found_ids(movies, "dune") == {"m/dune", "m/dune-2", "m/sand"}
    assert found_ids(movies, "alien") == {"m/alien"}
    assert found_ids(movies, "dune", fields="title") == {"m/dune", "m/dune-2", "m/sand"}
    assert found_ids(movies, "planet", fields="title") == set()


# -- the literal and the query text --------------------------------------------------------------


def test_lexemes_with_quotes_and_backslashes_stay_literal(pg_database: PostgresDatabase) -> None:
    words = ["it's", "back\\slash", "''", "\\", "a b", ":*", "&", "!x", "<->", "é"]
    literal, exact = tsvector_literal([("f", words)])
    assert exact
    phrase = " <-> ".join(lexeme(w) for w in words[:3])

    def read(tx: Any) -> Any:
        return tx.execute(
            "SELECT tsvector_to_array(%s::tsvector), %s::tsvector @@ %s::tsquery,"
            " %s::tsvector @@ %s::tsquery",
            [
                literal,
                literal,
                " & ".join(lexeme(w) for w in words),
                literal,
                phrase,
            ],
        ).fetchone()

    stored, every, phrase = pg_database.run(read)
    assert sorted(stored) == sorted(words) and every and phrase


def test_search_text_is_never_tsquery_syntax(movies: PostgresEntryStore) -> None:
    assert tsquery_text(parse_search("it's -\\ 'dun':* OR <->")) == ("(('it' <-> 's')) & ('dun':*)")
    fake = FakeEntryStore()
    fake.create(MOVIES)
    for q in ("desert & !planet | alien", "'desert' ):*", "desert <-> planet", "sand\\ !"):
        want = set(ids(fake.select("", search(q))))
        assert found_ids(movies, q) == want, q
    assert found_ids(movies, "'desert' ):*") == {"m/dune", "m/dune-2", "m/sand"}


def test_an_entry_with_many_words(pg_database: PostgresDatabase, store: PostgresEntryStore) -> None:
    """Positions PostgreSQL cannot keep (a word 300 times, past 16,383): the core decides."""
    big: Fields = {
        "a": "the cat sat " * 300 + "the end",  # "the" at 301 positions: 256 kept
        "list": [f"x{i} y{i}" for i in range(7000)],  # fields past position 16,383
        "c": " ".join(f"z{i}" for i in range(2000)),  # past MAX_WORDS in all
    }
    entries: dict[str, Fields] = {"big": big, "small": {"a": "the end"}}
    fill(pg_database, store, entries)
    assert found_ids(store, "the") == {"big", "small"}
    assert found_ids(store, '"the cat sat"') == {"big"}
    assert found_ids(store, '"the end"') == {"big", "small"}  # the 301st "the"
    assert found_ids(store, '"x6000 y6000"') == {"big"}  # both clamped to 16,383
    assert found_ids(store, '"y5159 x5160"') == set()  # 16,382 and clamped: two fields
    assert found_ids(store, 'the -"the end"') == set()
    assert found_ids(store, f"z{MAX_WORDS - 14_903}") == {"big"}
    assert found_ids(store, f"z{MAX_WORDS - 14_902}") == set()  # past MAX_WORDS
    fake = FakeEntryStore()
    fake.create(entries)
    for q in ("the", '"sat the cat"', 'the -"cat sat"', '"y6999 z0"', "z109", "-end the"):
        assert found_ids(store, q) == set(ids(fake.select("", search(q)))), q


# -- the migration over rows already there ---------------------------------------------------------


def test_the_migration_gives_existing_rows_their_words(postgres_url: str) -> None:
    schema = "search_backfill"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        apply_migrations(conn, schema, 5)
        for entry_id, fields in MOVIES.items():
            row = encode_fields(entry_id, fields)
            conn.execute(
                "INSERT INTO entries (id, parent, depth, data, body) VALUES (%s, %s, %s, %s, %s)",
                [row.id, row.parent, row.depth, row.data, row.body],
            )
    db = PostgresDatabase(postgres_url, schema=schema)
    try:
        assert db.migrate()[0] == 5
        unsearched = db.run(
            lambda tx: tx.execute("SELECT count(*) FROM entries WHERE NOT search_ok").fetchone()
        )
        assert unsearched == (0,)
        assert found_ids(PostgresEntryStore(db), '"desert planet"') == {"m/dune"}
    finally:
        db.close()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
