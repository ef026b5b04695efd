"""``flextype serve`` as a real program: port 0, authenticated reads, clean stop on signals."""

from __future__ import annotations

import re
import select
import signal
import socket
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from flextype_entrypoints.cli import main
from flextype_entrypoints.project import open_project
from flextype_entrypoints.scaffold import create_project
from tests.media_drivers import use_bucket
from tests.programs import FLEXTYPE, clean_env
from tests.s3_server import S3_CREDENTIALS

__all__: list[str] = []

TIMEOUT = 60.0
URL_LINE = re.compile(r"Serving on (http://127\.0\.0\.1:(\d+))")


@contextmanager
def _server(
    project: Path, *extra: str, prefix: Sequence[str] = ()
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start ``flextype serve --port 0``; yield the process and its URL (its first line).

    ``prefix`` runs it through another command, which must end by exec'ing it. The
    second line, the docs URL, is checked here: both are written at once, and what the
    buffered reader has taken from the pipe is not seen by ``communicate`` later.
    """
    argv = [*prefix, FLEXTYPE, "serve", "--project", str(project), "--port", "0", *extra]
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env()
    ) as proc:
        try:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], TIMEOUT)
            assert ready, "flextype serve printed nothing in time"
            first = proc.stdout.readline()
            found = URL_LINE.fullmatch(first.rstrip("\n"))
            assert found, f"unexpected first line: {first!r}"
            assert int(found[2]) != 0
            assert proc.stdout.readline() == f"API docs: {found[1]}/docs\n"
            yield proc, found[1]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(TIMEOUT)


def _stop(proc: subprocess.Popen[str], sig: signal.Signals) -> tuple[int, str, str]:
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=TIMEOUT)
        pytest.fail(f"flextype serve did not stop on {sig.name} within {TIMEOUT}s:\n{err}")
    return proc.returncode, out, err


@pytest.mark.parametrize(
    ("sig", "driver"),
    [(signal.SIGTERM, "yaml"), (signal.SIGINT, "yaml"), (signal.SIGTERM, "tinydb")],
    ids=["sigterm-yaml", "sigint-yaml", "sigterm-tinydb"],
)
def test_serve_answers_on_a_free_port_and_stops_cleanly_writing_the_call_counts(
    tmp_path: Path, sig: signal.Signals, driver: str
) -> None:
    project = tmp_path / "site"
    token = create_project(project, driver=driver).token.token
    requests = 5
    with _server(project) as (proc, url):
        with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
            for _ in range(requests):
                answer = client.get(
                    "/api/entries",
                    params={"id": "movies", "options[collection]": "1", "token": token},
                )
                assert answer.status_code == 200, answer.text
                assert "movies/dune" in {item["id"] for item in answer.json()["data"]}
            docs = client.get("/docs")
            assert docs.status_code in {301, 302, 307, 308}
        code, _, err = _stop(proc, sig)
    assert code == 0, f"exit code {code}; stderr:\n{err}"
    assert "Traceback" not in err
    with open_project(project) as opened:
        assert opened.tokens.fetch(token).calls == requests


def test_serve_stops_cleanly_on_a_signal_before_any_request(tmp_path: Path) -> None:
    project = tmp_path / "site"
    token = create_project(project).token.token
    with _server(project) as (proc, _):
        code, _, err = _stop(proc, signal.SIGTERM)
    assert code == 0, err
    with open_project(project) as opened:
        assert opened.tokens.fetch(token).calls == 0


def _error_line(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert out == ""
    return code, err


def test_serve_refuses_a_missing_project_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _error_line(capsys, "serve", "--project", str(tmp_path / "nope"), "--port", "0")
    assert code == 1
    assert err.startswith(f"flextype: error: no flextype project at {tmp_path / 'nope'} ")
    assert err.count("\n") == 1
    assert not (tmp_path / "nope").exists()


def test_serve_names_a_bad_setting_before_listening(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    create_project(tmp_path / "site")
    monkeypatch.setenv("FLEXTYPE_STORAGE__DRIVER", "nosuch")
    code, err = _error_line(capsys, "serve", "--project", str(tmp_path / "site"), "--port", "0")
    assert code == 1
    assert "storage.driver" in err
    assert err.count("\n") == 1


def test_serve_reports_a_port_in_use_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_project(tmp_path / "site", driver="tinydb")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        code, err = _error_line(
            capsys, "serve", "--project", str(tmp_path / "site"), "--port", port
        )
    assert code == 1
    assert err.startswith(f"flextype: error: cannot listen on 127.0.0.1:{port}: ")
    assert err.endswith(
        "; another program listens there: stop it, or choose another port with --port"
        " (--port 0 picks a free one)\n"
    )
    assert err.count("\n") == 1


def test_serve_removes_the_leftovers_of_interrupted_writes_at_start(tmp_path: Path) -> None:
    project = tmp_path / "site"
    token = create_project(project).token.token
    leftovers = [
        project / "entries" / ".staging-0123456789abcdef0123456789abcdef" / "x" / "entry.yaml",
        project / "entries" / "movies" / "dune" / ".entry.yaml.abcd1234.tmp",
        project / "media" / "demo" / ".flextype.png.0123456789ab.tmp",
    ]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half written")
    with _server(project) as (proc, url):
        params = {"id": "movies/dune", "token": token}
        assert httpx.get(f"{url}/api/entries", params=params).is_success
        _, _, err = _stop(proc, signal.SIGTERM)
    assert "Removed 3 leftovers of interrupted writes." in err
    assert not any(path.exists() for path in leftovers)
    assert not leftovers[0].parent.parent.exists()


def test_serve_starts_with_its_bucket_unreachable_and_answers_media_requests_503(
    tmp_path: Path,
) -> None:
    """The bucket's debris sweep fails (in the background): one warning line, no address."""
    project = tmp_path / "site"
    token = create_project(project, demo=False).token.token
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    use_bucket(
        project,
        {"endpoint_url": endpoint, "bucket": "unreachable", **S3_CREDENTIALS},
    )
    with _server(project) as (proc, url):
        assert httpx.get(f"{url}/health", timeout=TIMEOUT).status_code == 200
        for answer in (
            httpx.get(f"{url}/api/media/files", params={"id": "a.png", "token": token}),
            httpx.get(f"{url}/media/a.png", timeout=TIMEOUT),
        ):
            assert answer.status_code == 503, answer.text
            assert answer.headers["Retry-After"].isdigit()
            assert answer.json()["errors"] == ["ServiceUnavailable"]
            assert str(port) not in answer.text
        _, _, err = _stop(proc, signal.SIGTERM)
    swept = [line for line in err.splitlines() if "leftovers" in line.lower()]
    assert len(swept) == 1, err
    assert "not removed" in swept[0]
    for secret in (str(port), S3_CREDENTIALS["secret_access_key"], "Traceback"):
        assert secret not in err
