"""The same searches find the same entries on the fake (scan), YAML and TinyDB (FTS5 index).

Random small texts with accents, case and punctuation; random searches built from their
words (prefixes, phrases, OR, exclusions). Every driver's set and total must be what the
reference matcher (``search_match.matches``) says.
"""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flextype_core import EntriesService
from flextype_core.errors import BadRequest
from flextype_core.query.search_match import matches
from flextype_core.query.search_syntax import parse_search
from flextype_core.query.search_text import document
from tests.integration.search_support import searched
from tests.unit.fakes import FakeEntryStore, FixedClock, SequenceIdFactory

_WORDS = ["dune", "Dûnes", "café", "CAFE", "øre", "ore", "sci", "fi", "x1"]
_PUNCT = [" ", " ", ", ", "-", "'", ". ", "\n", "_"]

_texts = st.lists(
    st.tuples(st.sampled_from(_WORDS), st.sampled_from(_PUNCT)), min_size=0, max_size=4
).map(lambda pairs: "".join(w + p for w, p in pairs))
_fields = st.fixed_dictionaries(
    {"title": _texts}, optional={"body": _texts, "tags": st.lists(_texts, max_size=2)}
)
_entries = st.lists(_fields, min_size=1, max_size=6)


@st.composite
def _queries(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        word = draw(st.sampled_from([*_WORDS, "dun", "caf", "du", "or"]))
        shape = draw(st.sampled_from(["word", "phrase", "minus", "or"]))
        if shape == "phrase":
            parts.append(f'"{word} {draw(st.sampled_from(_WORDS))}"')
        elif shape == "minus":
            parts.append(f"-{word}")
        elif shape == "or" and parts:
            parts.append(f"OR {word}")
        else:
            parts.append(word)
    return " ".join(parts)


_counter = itertools.count()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(entries=_entries, queries=st.lists(_queries(), min_size=1, max_size=4))
def test_every_driver_finds_what_the_reference_finds(
    tmp_path: Path, entries: list[dict[str, object]], queries: list[str]
) -> None:
    data = {f"e/{i}": fields for i, fields in enumerate(entries)}
    fake = FakeEntryStore()
    fake.create(data)
    services = {"fake": EntriesService(fake, FixedClock(), SequenceIdFactory())}
    with contextlib.ExitStack() as stack:
        for kind in ("indexed_yaml", "tinydb"):
            found = stack.enter_context(searched(kind, tmp_path / f"{next(_counter)}-{kind}"))
            found.store.create(data)
            services[kind] = found.entries
        for q in queries:
            try:
                expr = parse_search(q)
            except BadRequest:
                continue  # only exclusions: refused alike everywhere (see the unit tests)
            expected = sorted(
                i for i, fields in data.items() if matches(expr, document({**fields, "id": i}))
            )
            for name, service in services.items():
                page = service.query("e", {"search": {"q": q}})
                assert sorted(item["id"] for item in page.data) == expected, (name, q)
                assert page.meta is not None
                assert page.meta.total == len(expected), (name, q)
