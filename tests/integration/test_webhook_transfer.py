"""Webhooks travel with the project: export, import and migrate carry them, all or nothing.

Every field, the state and the signing secret go (an archive holds no delivery log); on
the target each webhook starts at the head of the change log it now consumes, so the
first event it sends is the first change made after the move. An archive made before
webhooks went into archives (``data/archive-v1.tar.gz``, format version 1, written by
``flextype export`` of flextype-py 0.1.0 before this change) imports as it always did,
and leaves the target's webhooks in place.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
from psycopg import sql

from flextype_core import archive
from flextype_core.webhook_port import Delivery, Progress, Webhook
from flextype_entrypoints.project import open_project
from tests.integration.postgres_support import new_schema
from tests.integration.transfer_support import init, members, replaced, rewrite, run

V1_ARCHIVE = Path(__file__).parent / "data" / "archive-v1.tar.gz"

HOOKS = [
    Webhook(
        id="1" * 32,
        url="https://build.example.com/hooks/cms?site=1",
        events=["entry.created", "entry.updated"],
        id_prefix="blog",
        title="Site build ✓",
        state="enabled",
        created_at=1_700_000_000,
        modified_at=1_700_000_100,
    ),
    Webhook(
        id="2" * 32,
        url="http://search.internal:8080/in",
        events=["*"],
        state="disabled",
        created_at=1_700_000_001,
        modified_at=1_700_000_001,
    ),
    Webhook(
        id="3" * 32,
        url="https://cache.example.org/purge",
        events=["media.created", "media.deleted"],
        id_prefix="posters/notes.txt",
        state="failing",
        created_at=1_700_000_002,
        modified_at=1_700_000_200,
    ),
]
SECRETS = {
    "1" * 32: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "2" * 32: "whsec_c2VjcmV0LW51bWJlci10d28tLXR3ZW50eWZvdXI=",
    "3" * 32: "whsec_dGhpcmQtc2VjcmV0LWtleS1ieXRlcy0tMjQ=",
}
OTHER_HOOK = Webhook(
    id="f" * 32,
    url="https://other.example.net/hook",
    events=["entry.deleted"],
    title="The target's own",
    created_at=1_600_000_000,
    modified_at=1_600_000_000,
)
OTHER_SECRET = "whsec_b3RoZXItcHJvamVjdHMtb3duLXNlY3JldC0h"
DELIVERY = Delivery(
    cursor="abcdefgh-1",
    event="entry.created",
    message_id="msg_" + "9" * 32,
    attempt=1,
    status=500,
    duration_ms=12.5,
    at=1_700_000_300,
    next_retry_at=1_700_000_305,
)


def _pg_project(
    capsys: pytest.CaptureFixture[str], path: Path, request: pytest.FixtureRequest
) -> None:
    url: str = request.getfixturevalue("postgres_url")
    schema = request.getfixturevalue("schema")
    code, _, err = run(
        capsys, "init", str(path), "--storage", "postgres", "--database-url", url,
        "--schema", schema, "--no-demo",
    )  # fmt: skip
    assert code == 0, err


@pytest.fixture
def schema(postgres_url: str) -> Iterator[str]:
    with new_schema(postgres_url) as name:
        yield name


def make_project(
    capsys: pytest.CaptureFixture[str], path: Path, driver: str, request: pytest.FixtureRequest
) -> None:
    if driver == "postgres":
        _pg_project(capsys, path, request)
    else:
        init(capsys, path, driver, demo=False)


def with_schema(path: Path, schema: str) -> Path:
    """Name ``schema`` in the settings of the yaml project at ``path``; return the file."""
    settings = path / "flextype.yaml"
    text = settings.read_text().replace(
        "  driver: yaml\n", f"  driver: yaml\n  postgres:\n    schema: {schema}\n"
    )
    settings.write_text(text)
    return settings


def add_content(path: Path) -> None:
    """A few entries (so the log has a head past 0) and one media file."""
    with open_project(path) as project:
        project.entries.create("blog", {"title": "Blog"})
        project.entries.create("blog/first", {"title": "First", "n": 1})
        with project.media.stage() as upload:
            upload.write(b"poster notes\n")
            project.media.upload("posters", "notes.txt", upload)


def add_webhooks(path: Path, hooks: list[Webhook], secrets: dict[str, str]) -> None:
    """Store ``hooks`` with some progress made, and a delivery each in their logs."""
    with open_project(path) as project:
        store, log = project.container.webhook_store(), project.container.change_log()
        assert log is not None
        head = log.head()
        for hook in hooks:
            progress = Progress(position=head, attempt=2, next_at=1_700_000_305.5, generation=3)
            store.create(hook, secrets[hook.id], progress)
            store.record(hook.id, DELIVERY)


def webhooks_of(path: Path) -> list[tuple[dict[str, Any], str]]:
    """Every webhook of the project as stored (all its fields) with its secret."""
    with open_project(path) as project:
        store = project.container.webhook_store()
        return [(msgspec.to_builtins(h), store.secret(h.id)) for h in store.all()]


def expected(hooks: list[Webhook], secrets: dict[str, str]) -> list[tuple[dict[str, Any], str]]:
    return [(msgspec.to_builtins(h), secrets[h.id]) for h in hooks]


def full_state(path: Path) -> list[tuple[Any, ...]]:
    """Webhooks with their secrets, progress and delivery logs."""
    with open_project(path) as project:
        store = project.container.webhook_store()
        return [
            (h, store.secret(h.id), store.progress(h.id), store.deliveries(h.id))
            for h in store.all()
        ]


def assert_restarted_at_the_head(path: Path, *, deliveries: bool, new_id: str = "after") -> None:
    """Each webhook waits at the head of the project's log, no attempt pending: the
    first change it is sent is the next write."""
    with open_project(path) as project:
        store, log = project.container.webhook_store(), project.container.change_log()
        assert log is not None
        head = log.head()
        hooks = store.all()
        assert hooks
        for hook in hooks:
            progress = store.progress(hook.id)
            assert (progress.position, progress.attempt, progress.next_at) == (head, 0, None)
            assert store.deliveries(hook.id) == ([DELIVERY] if deliveries else [])
        project.entries.create(new_id, {"title": "After"})
        for hook in hooks:
            page = log.read(store.progress(hook.id).position, 10)
            assert [(c.op, c.id) for c in page.changes] == [("create", new_id)]


@pytest.fixture
def source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A YAML project with content and three webhooks, exported to ``a.tgz`` beside it."""
    path = tmp_path / "source"
    init(capsys, path, "yaml", demo=False)
    add_content(path)
    add_webhooks(path, HOOKS, SECRETS)
    code, out, err = run(capsys, "export", "--project", str(path), "--out", str(tmp_path / "a.tgz"))
    assert code == 0, err
    assert out == f"Exported 2 entries, 1 token, 3 webhooks and 1 media file to {tmp_path}/a.tgz.\n"
    assert not any(secret in out + err for secret in SECRETS.values())
    return path


def test_the_archive_holds_the_webhooks_and_their_secrets_but_no_delivery_log(
    source: Path,
) -> None:
    path = source.parent / "a.tgz"
    assert path.stat().st_mode & 0o777 == 0o600  # it holds the signing secrets
    found = members(path)
    names = [info.name for info, _ in found]
    assert names[:4] == [archive.HEADER, archive.SETTINGS, archive.TOKENS, archive.WEBHOOKS]
    header = msgspec.json.decode(found[0][1], type=archive.Header)
    assert (header.format_version, header.counts.webhooks) == (2, 3)
    lines = [json.loads(line) for line in found[3][1].splitlines()]
    assert lines == [{"webhook": webhook, "secret": secret} for webhook, secret in expected(
        HOOKS, SECRETS)]  # fmt: skip
    assert all(info.mode == 0o600 for info, _ in found)
    everything = b"".join(data for _, data in found)
    assert DELIVERY.message_id.encode() not in everything  # no delivery log
    assert b"generation" not in everything  # nor the progress in the old log


@pytest.mark.parametrize("driver", ["yaml", "tinydb", "postgres"])
def test_an_import_keeps_the_webhooks_and_restarts_them_at_the_new_head(
    source: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    driver: str,
) -> None:
    target = tmp_path / "target"
    make_project(capsys, target, driver, request)
    code, out, err = run(capsys, "import", "--project", str(target), str(tmp_path / "a.tgz"))
    assert (code, err) == (0, ""), err
    assert out == f"Imported 2 entries, 1 token, 3 webhooks and 1 media file into {target}.\n"
    assert webhooks_of(target) == expected(HOOKS, SECRETS) == webhooks_of(source)
    assert_restarted_at_the_head(target, deliveries=False)


@pytest.mark.parametrize("driver", ["yaml", "postgres"])
def test_import_replace_replaces_the_targets_webhooks(
    source: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    driver: str,
) -> None:
    target = tmp_path / "target"
    make_project(capsys, target, driver, request)
    add_content(target)
    add_webhooks(target, [OTHER_HOOK], {OTHER_HOOK.id: OTHER_SECRET})
    archive_path = str(tmp_path / "a.tgz")
    code, _, err = run(capsys, "import", "--project", str(target), "--replace", archive_path)
    assert code == 0, err
    assert webhooks_of(target) == expected(HOOKS, SECRETS)
    assert_restarted_at_the_head(target, deliveries=False)
    # An archive of a project without webhooks (this version's) leaves none.
    empty = tmp_path / "empty"
    init(capsys, empty, "yaml", demo=False)
    assert run(capsys, "export", "--project", str(empty), "--out", str(tmp_path / "e.tgz"))[0] == 0
    assert not (empty / "webhooks.sqlite3").exists()  # exporting created no store
    code, _, err = run(
        capsys, "import", "--project", str(target), "--replace", str(tmp_path / "e.tgz")
    )
    assert code == 0, err
    assert webhooks_of(target) == []


@pytest.mark.parametrize("driver", ["yaml", "tinydb", "postgres"])
def test_a_failed_import_leaves_the_targets_webhooks_as_they_were(
    source: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    driver: str,
) -> None:
    target = tmp_path / "target"
    make_project(capsys, target, driver, request)
    add_content(target)
    add_webhooks(target, [OTHER_HOOK], {OTHER_HOOK.id: OTHER_SECRET})
    before = full_state(target)
    bad = tmp_path / "bad.tgz"
    last = [i.name for i, _ in members(tmp_path / "a.tgz") if i.name.startswith("media/files/")][-1]
    rewrite(tmp_path / "a.tgz", bad, replaced(last, lambda d: d[:-1] + b"!"), fix_manifest=False)
    code, out, err = run(capsys, "import", "--project", str(target), "--replace", str(bad))
    assert (code, out) == (1, "")
    assert "Nothing was imported." in err
    assert full_state(target) == before


def test_a_webhook_refused_by_the_database_rolls_back_the_whole_import(
    source: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    postgres_url: str,
    schema: str,
) -> None:
    """The webhooks go in the import's transaction, after everything else."""
    target = tmp_path / "target"
    make_project(capsys, target, "postgres", request)
    add_content(target)
    add_webhooks(target, [OTHER_HOOK], {OTHER_HOOK.id: OTHER_SECRET})
    before = full_state(target)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE FUNCTION {}.refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN IF NEW.id = {} THEN RAISE EXCEPTION 'no'; END IF; RETURN NEW; END $$"
            ).format(sql.Identifier(schema), sql.Literal(HOOKS[-1].id))
        )
        conn.execute(
            sql.SQL(
                "CREATE TRIGGER refuse BEFORE INSERT ON {} FOR EACH ROW EXECUTE FUNCTION {}()"
            ).format(sql.Identifier(schema, "webhook_secrets"), sql.Identifier(schema, "refuse"))
        )
    code, out, err = run(
        capsys, "import", "--project", str(target), "--replace", str(tmp_path / "a.tgz")
    )
    assert (code, out) == (1, "")
    assert "Nothing was imported." in err
    assert full_state(target) == before
    with open_project(target) as project:
        assert [e.id for e in project.container.entry_store().descendants("", None)] == [
            "blog",
            "blog/first",
        ]


def _webhooks_line(edit: dict[str, Any]) -> Any:
    def change(data: bytes) -> bytes:
        lines = data.splitlines()
        first = json.loads(lines[0])
        for key, value in edit.items():
            if key == "secret":
                first["secret"] = value
            else:
                first["webhook"][key] = value
        return b"\n".join([json.dumps(first).encode(), *lines[1:]]) + b"\n"

    return change


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"secret": "whsec_not base64!"}, "has no valid signing secret"),
        ({"secret": "sk_" + "a" * 32}, "has no valid signing secret"),
        ({"id": "../x"}, "a bad id"),
        ({"events": ["entry.exploded"]}, "unknown events"),
        ({"url": "ftp://example.com/x"}, "'url' is refused"),
        ({"id_prefix": "../up"}, "id_prefix"),
    ],
)
def test_a_bad_webhook_in_an_archive_is_refused_without_showing_its_secret(
    source: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    edit: dict[str, Any],
    message: str,
) -> None:
    target = tmp_path / "target"
    init(capsys, target, "yaml", demo=False)
    add_webhooks(target, [OTHER_HOOK], {OTHER_HOOK.id: OTHER_SECRET})
    before = full_state(target)
    bad = tmp_path / "bad.tgz"
    rewrite(
        tmp_path / "a.tgz", bad, replaced(archive.WEBHOOKS, _webhooks_line(edit)), fix_manifest=True
    )
    code, out, err = run(capsys, "import", "--project", str(target), "--replace", str(bad))
    assert (code, out) == (1, "")
    assert message in err and "Nothing was imported." in err
    assert not any(secret in err for secret in [*SECRETS.values(), "whsec_not base64!"])
    assert full_state(target) == before


def test_a_webhook_twice_in_an_archive_is_refused(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "target"
    init(capsys, target, "yaml", demo=False)
    bad = tmp_path / "bad.tgz"
    doubled = replaced(archive.WEBHOOKS, lambda d: d + d.splitlines(keepends=True)[0])
    rewrite(tmp_path / "a.tgz", bad, doubled, fix_manifest=True)
    code, _, err = run(capsys, "import", "--project", str(target), "--replace", str(bad))
    assert code == 1
    assert f"The archive holds webhook '{HOOKS[0].id}' twice." in err
    assert webhooks_of(target) == []


@pytest.mark.parametrize("driver", ["yaml", "tinydb", "postgres"])
def test_an_archive_made_before_webhooks_were_exported_still_imports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest, driver: str
) -> None:
    """It says nothing of webhooks: the target keeps its own, at the head of its new log."""
    with tarfile.open(V1_ARCHIVE) as tar:
        names = tar.getnames()
        header = json.loads(tar.extractfile(archive.HEADER).read())  # type: ignore[union-attr]
    assert header["format_version"] == 1 and "webhooks" not in header["counts"]
    assert archive.WEBHOOKS not in names
    target = tmp_path / "target"
    make_project(capsys, target, driver, request)
    add_content(target)
    add_webhooks(target, [OTHER_HOOK], {OTHER_HOOK.id: OTHER_SECRET})
    code, out, err = run(capsys, "import", "--project", str(target), "--replace", str(V1_ARCHIVE))
    assert (code, err) == (0, ""), err
    assert out == f"Imported 2 entries, 2 tokens and 1 media file into {target}.\n"
    with open_project(target) as project:
        assert project.entries.fetch("blog/first")["title"] == "First ✓"
        assert project.container.media_store().read("docs/hello.txt") == b"hello media\n"
    assert webhooks_of(target) == expected([OTHER_HOOK], {OTHER_HOOK.id: OTHER_SECRET})
    assert_restarted_at_the_head(target, deliveries=True)


def test_migrate_yaml_postgres_tinydb_keeps_the_webhooks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], postgres_url: str, schema: str
) -> None:
    path = tmp_path / "site"
    init(capsys, path, "yaml", demo=False)
    settings = path / "flextype.yaml"
    settings.write_text(
        settings.read_text().replace(
            "  driver: yaml\n", f"  driver: yaml\n  postgres:\n    schema: {schema}\n"
        )
    )
    add_content(path)
    add_webhooks(path, HOOKS, SECRETS)
    code, out, err = run(
        capsys, "migrate", "--project", str(path), "--to", "postgres",
        "--database-url", postgres_url, "--delete-source",
    )  # fmt: skip
    assert code == 0, err
    assert not any(secret in out + err for secret in SECRETS.values())
    assert not list(path.glob("webhooks.sqlite3*"))  # the file drivers' store went too
    assert webhooks_of(path) == expected(HOOKS, SECRETS)
    assert_restarted_at_the_head(path, deliveries=True)  # a migration keeps their logs

    code, out, err = run(capsys, "migrate", "--project", str(path), "--to", "tinydb")
    assert code == 0, err
    assert not any(secret in out + err for secret in SECRETS.values())
    assert "driver: tinydb" in settings.read_text()
    assert webhooks_of(path) == expected(HOOKS, SECRETS)
    assert_restarted_at_the_head(path, deliveries=True, new_id="again")
    # The database's copy stays (no --delete-source), as its entries do.
    with psycopg.connect(postgres_url) as conn:
        count = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, "webhooks"))
        ).fetchone()
    assert count == (3,)


@pytest.mark.parametrize(("source_driver", "target"), [("yaml", "tinydb"), ("tinydb", "yaml")])
def test_a_migration_between_the_file_drivers_restarts_the_webhooks_in_the_new_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], source_driver: str, target: str
) -> None:
    """The two share ``webhooks.sqlite3``, but the migration starts a new change log:
    positions in the old one would make them skip its first changes."""
    path = tmp_path / "site"
    init(capsys, path, source_driver, demo=False)
    add_content(path)
    add_webhooks(path, HOOKS, SECRETS)
    code, _, err = run(capsys, "migrate", "--project", str(path), "--to", target)
    assert code == 0, err
    assert webhooks_of(path) == expected(HOOKS, SECRETS)
    assert_restarted_at_the_head(path, deliveries=True)


def test_migrating_back_from_postgres_with_delete_source_empties_its_webhooks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], postgres_url: str, schema: str
) -> None:
    path = tmp_path / "site"
    init(capsys, path, "yaml", demo=False)
    settings = path / "flextype.yaml"
    settings.write_text(
        settings.read_text().replace(
            "  driver: yaml\n", f"  driver: yaml\n  postgres:\n    schema: {schema}\n"
        )
    )
    add_webhooks(path, HOOKS, SECRETS)
    argv = ["migrate", "--project", str(path), "--to", "postgres", "--database-url", postgres_url]
    assert run(capsys, *argv, "--delete-source")[0] == 0
    code, _, err = run(capsys, "migrate", "--project", str(path), "--to", "yaml", "--delete-source")
    assert code == 0, err
    assert webhooks_of(path) == expected(HOOKS, SECRETS)
    with psycopg.connect(postgres_url) as conn:
        for table in ("webhooks", "webhook_secrets", "webhook_progress", "webhook_deliveries"):
            count = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))
            ).fetchone()
            assert count == (0,), table


def test_import_without_replace_refuses_a_project_holding_webhooks(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Their secrets are nowhere else: replacing them takes ``--replace``."""
    target = tmp_path / "target"
    init(capsys, target, "tinydb", demo=False)
    add_webhooks(target, [OTHER_HOOK], {OTHER_HOOK.id: OTHER_SECRET})
    before = full_state(target)
    code, out, err = run(capsys, "import", "--project", str(target), str(tmp_path / "a.tgz"))
    assert (code, out) == (1, "")
    assert f"The project {target} is not empty: it holds entries, media files or webhooks." in err
    assert "--replace" in err
    assert full_state(target) == before


@pytest.mark.parametrize("driver", ["yaml", "postgres"])
def test_a_deliverer_of_a_replaced_webhook_cannot_write_its_progress_back(
    source: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    driver: str,
) -> None:
    """A server still delivering the target's webhook of the same id (generation 3) saves
    its progress in vain: the imported one has a later generation."""
    target = tmp_path / "target"
    make_project(capsys, target, driver, request)
    add_webhooks(target, [HOOKS[0]], SECRETS)
    argv = ["import", "--project", str(target), "--replace", str(tmp_path / "a.tgz")]
    assert run(capsys, *argv)[0] == 0
    with open_project(target) as project:
        store = project.container.webhook_store()
        progress = store.progress(HOOKS[0].id)
        assert progress.generation > 3
        assert not store.save_progress(HOOKS[0].id, Progress(position=1, generation=3))
        assert store.progress(HOOKS[0].id) == progress
