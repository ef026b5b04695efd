"""A Flextype site's own entry.md files, served unchanged: its dates answer as Flextype's did."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.feed_support import eventually
from tests.http_client import ApiClient, Project, data_of, new_project, serve

# Shaped like Flextype's blog posts (site/entries/blog/*/entry.md): the date in
# Flextype's date_format, d-m-Y H:i, and no created_at or modified_at.
POST = """---
title: {title}
description: ''
template: blog-post
published_at: '{published}'
published_by: 'Sergey Romanenko'
---
{title}, a post.
"""
PUBLISHED = {
    "blog/release-0-9-16": "30-12-2020 10:00",
    "blog/hello-world": "29-05-2018 09:46",
    "blog/release-0-8-0": "28-12-2018 12:00",
    "blog/release-0-9-0": "01-03-2019 08:00",
}
AT = {  # the same in Unix seconds (UTC, Flextype's default timezone)
    "blog/release-0-9-16": 1609322400,
    "blog/hello-world": 1527587160,
    "blog/release-0-8-0": 1545998400,
    "blog/release-0-9-0": 1551427200,
}
UNDATED = "blog/about-the-blog"
MTIME = 1559347200  # 2019-06-01: the undated post's file time, so its published_at


@pytest.fixture
def site(tmp_path: Path) -> Project:
    project = new_project(tmp_path / "site", "yaml", demo=False)
    for entry_id, published in PUBLISHED.items():
        path = project.path / "entries" / entry_id / "entry.md"
        path.parent.mkdir(parents=True)
        path.write_text(POST.format(title=entry_id, published=published), "utf-8")
    undated = project.path / "entries" / UNDATED / "entry.md"
    undated.parent.mkdir(parents=True)
    undated.write_text("---\ntitle: About\n---\nNo date.\n", "utf-8")
    os.utime(undated, (MTIME, MTIME))
    return project


@pytest.fixture
def api(site: Project) -> Iterator[ApiClient]:
    with serve(site) as client:
        yield client


def _files(project: Project) -> dict[str, tuple[bytes, int]]:
    found = sorted((project.path / "entries").rglob("entry.md"))
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in found}


def _blog(api: ApiClient, **options: str) -> list[dict[str, Any]]:
    params = {"id": "blog", "options[collection]": "true"}
    params.update({f"options[filter]{k}": v for k, v in options.items()})
    items: list[dict[str, Any]] = data_of(api.get("entries", params))
    return items


def test_sorting_flextypes_blog_by_published_at_orders_by_date(
    api: ApiClient, site: Project
) -> None:
    before = _files(site)
    newest_first = _blog(api, **{"[sort_by][key]": "published_at", "[sort_by][direction]": "desc"})
    assert [(i["id"], i["published_at"]) for i in newest_first] == [
        ("blog/release-0-9-16", 1609322400),
        (UNDATED, MTIME),
        ("blog/release-0-9-0", 1551427200),
        ("blog/release-0-8-0", 1545998400),
        ("blog/hello-world", 1527587160),
    ]
    assert _files(site) == before  # read as Flextype does, never rewritten


def test_filters_see_the_dates_the_api_answers(api: ApiClient) -> None:
    where = {"[where][0][key]": "published_at", "[where][0][operator]": "newer"}
    newer = _blog(api, **where, **{"[where][0][value]": "2019-01-01"})
    assert sorted(i["id"] for i in newer) == sorted(
        ["blog/release-0-9-16", "blog/release-0-9-0", UNDATED]
    )
    where["[where][0][operator]"] = "lt"
    older = _blog(api, **where, **{"[where][0][value]": "1546300800"})  # 2019-01-01
    assert [i["id"] for i in older] == ["blog/hello-world", "blog/release-0-8-0"]


def test_absent_dates_are_the_file_time_and_a_patch_stores_integers(
    api: ApiClient, site: Project
) -> None:
    post = data_of(api.get("entries", {"id": "blog/hello-world"}))
    mtime = (site.path / "entries" / "blog/hello-world" / "entry.md").stat().st_mtime_ns
    assert post["published_at"] == AT["blog/hello-world"]
    assert post["created_at"] == post["modified_at"] == mtime // 1_000_000_000
    about = data_of(api.get("entries", {"id": UNDATED}))
    assert (about["published_at"], about["created_at"], about["modified_at"]) == (MTIME,) * 3

    patched = data_of(api.send("PATCH", "entries", {"id": UNDATED, "data": {"title": "Us"}}))
    folder = site.path / "entries" / UNDATED
    stored = yaml.safe_load((folder / "entry.yaml").read_text("utf-8"))
    assert not (folder / "entry.md").exists()
    assert (stored["published_at"], stored["created_at"]) == (MTIME, MTIME)
    assert isinstance(stored["modified_at"], int) and stored["modified_at"] > MTIME
    assert patched == data_of(api.get("entries", {"id": UNDATED}))


def test_a_restart_answers_the_same_dates(site: Project) -> None:
    # The second start takes the entries from the index snapshot of the first.
    keys = {"[sort_by][key]": "published_at"}
    with serve(site) as first:
        before = _blog(first, **keys)
    # A read of the feed may have begun the build in a thread of its own, which saves the
    # snapshot after the answer: wait for it, as a second start after a while would.
    assert eventually(lambda: (site.path / "entries" / ".index").exists())
    with serve(site) as second:
        assert _blog(second, **keys) == before
    assert [i["published_at"] for i in before] == sorted([*AT.values(), MTIME])
