"""Secrets never reach a record, a log, a report or the terminal; index answers are checked.

A real index on 127.0.0.1 that asks for basic auth (and answers nonsense) is the
one the run uses: period rows read their upload dates from it, uv resolves from
it. Its credential and a secret variable's value are then looked for in every
file the run left, and in what it printed.
"""

from __future__ import annotations

import base64
import html
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from runner import files, settings
from runner.environments import period
from runner.errors import CellError
from runner.matrix.cells import parse
from runner.records.record import Status
from runner.workflow.run import run_cells

TOKEN = "s3cr3t-t0ken-4242"
SECRET = "another-secret-value-9876"


class Index(BaseHTTPRequestHandler):
    asked_with_credentials = 0

    def do_GET(self) -> None:
        expected = "Basic " + base64.b64encode(f"user:{TOKEN}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="index"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        type(self).asked_with_credentials += 1
        body = b'{"meta": {"api-version": "1.1"}, "files": "not a list"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def index(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://user:{TOKEN}@127.0.0.1:{server.server_address[1]}/simple"
    monkeypatch.setenv("UV_DEFAULT_INDEX", url)
    monkeypatch.setenv("MY_SERVICE_API_TOKEN", SECRET)
    Index.asked_with_credentials = 0
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def test_redaction_leaves_out_userinfo_and_secret_values(index: str) -> None:
    text = f"failed to fetch {index}/flask/ with {SECRET}; see ftp://a:b@host/x"
    assert settings.redact(text) == (
        f"failed to fetch {index.replace(f'user:{TOKEN}@', '')}/flask/ with ***; see ftp://host/x"
    )


def test_a_malformed_index_answer_is_one_line_for_the_cell(index: str) -> None:
    with pytest.raises(CellError) as caught:
        period.cutoff("flask", "0.12.4")
    assert "answered files as str, not a list" in caught.value.reason
    assert TOKEN in caught.value.reason  # as asked; the writers redact it
    assert TOKEN not in settings.redact(caught.value.reason)
    assert Index.asked_with_credentials >= 1


def test_no_upload_time_is_not_cached(index: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "upload-dates.json"
    monkeypatch.setattr(period, "_upload_times", lambda package: {})
    assert period.released_by("gunicorn", "2018-01-01T00:00:00Z", cache) is False
    assert not cache.exists() or "gunicorn" not in cache.read_text()


MATRIX = {
    "versions": [{"flask": "0.12.4", "resolve": "period"}, {"flask": "3.1.*"}],
    "servers": {"flask-run": {"kind": "flask-run"}},
}


def _leaks(folder: Path) -> list[str]:
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and (TOKEN.encode() in path.read_bytes() or SECRET.encode() in path.read_bytes())
    )


@pytest.mark.slow
def test_no_credential_reaches_any_file_or_the_terminal(
    index: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    matrix = parse(MATRIX)
    # First without redaction, to show that the credential is there to leak:
    # in the reasons, the logs and the terminal.
    with monkeypatch.context() as unguarded:
        unguarded.setattr(settings, "redact", lambda text, forms=None: text)
        bare = tmp_path / "unredacted"
        run_cells(matrix, matrix.cells(), results=bare / "results", env_root=tmp_path / "envs")
    leaked = _leaks(bare / "results")
    assert any("/cells/" in path for path in leaked), leaked
    assert any("/logs/" in path for path in leaked), leaked
    assert TOKEN in capsys.readouterr().err
    # Then as every run is: nothing anywhere.
    outcome = run_cells(matrix, matrix.cells(), results=tmp_path / "results", env_root=tmp_path / "envs")
    by_row = {r.row: r for r in outcome.records}
    assert by_row["flask-0.12.4-period"].status is Status.ERROR
    assert "answered files as str" in (by_row["flask-0.12.4-period"].reason or "")
    assert by_row["flask-3.1.x"].status is Status.ERROR  # uv found nothing it could use at that index
    assert Index.asked_with_credentials >= 2  # period dates and uv both asked, with the credential
    printed = capsys.readouterr()
    assert _leaks(tmp_path / "results") == []
    assert _leaks(tmp_path / "envs") == []  # the environments' cache and their build logs
    assert TOKEN not in printed.out + printed.err
    assert any((tmp_path / "results").rglob("logs/*.log"))  # the logs were there to look in


def test_what_the_run_writes_and_the_logs_it_seals_hold_no_credential(index: str, tmp_path: Path) -> None:
    """The layer under every writer: a reason and a log that carry the credential
    (as an installer's output or an exception's text may) come out without it."""
    from runner.records import store
    from runner.records.record import Asked, CellRecord

    run = store.new_run(tmp_path, {"versions": []}, cells=["r--s"], tools={})
    record = CellRecord(
        cell="r--s",
        row="r",
        row_index=0,
        server="s",
        server_index=0,
        kind="flask-run",
        options={},
        asked=Asked("3.1.*", None, "3.11"),
        status=Status.ERROR,
        reason=f"install failed: cannot fetch {index}/flask/ (token {SECRET})",
        log="logs/r--s.log",
    )
    run.write_cell(record)
    run.log_path("r--s").write_text(f"$ uv pip install --index {index} flask\nAuthorization for {SECRET}\n")
    run.seal_logs()
    run.finish(complete=True, summary={})
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 3
    for path in files:
        data = path.read_bytes()
        assert TOKEN.encode() not in data, path
        assert SECRET.encode() not in data, path
    assert "127.0.0.1" in (run.path / "logs" / "r--s.log").read_text()  # the rest of the line is kept


def test_a_switchs_value_is_not_taken_for_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_USE_KEYRING", "true")
    monkeypatch.setenv("UV_KEYRING_PROVIDER", "disabled")
    monkeypatch.setenv("AUTH_PORT", "123456")
    assert settings.redact("keep_alive,true,disabled,123456") == "keep_alive,true,disabled,123456"


def test_a_password_holding_an_at_sign_is_left_out_whole() -> None:
    assert settings.redact("fetch https://user:p@ss@host.example/simple/ failed") == (
        "fetch https://host.example/simple/ failed"
    )
    assert (
        settings.redact("mail a@b.example, see http://host/x?to=a@b")
        == "mail a@b.example, see http://host/x?to=a@b"
    )


def test_a_secret_with_quotes_and_accents_is_left_out_of_json_and_html(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = 'pa"ss\\w&rd-é<9>'
    monkeypatch.setenv("MY_INDEX_PASSWD", secret)
    record = tmp_path / "cell.json"
    files.write_json(record, {"reason": f"install failed: {secret} refused", secret: 1})
    written = record.read_text()
    for form in (secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]):
        assert form not in written
    assert json.loads(written) == {"reason": "install failed: *** refused", "***": 1}
    page = tmp_path / "report.html"
    files.write_text(page, f"<td>{html.escape(secret)}</td>")
    assert html.escape(secret) not in page.read_text()
    assert page.read_text() == "<td>***</td>"
