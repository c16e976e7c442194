"""Any file as matrix.yaml: a matrix, or one line naming what is wrong; nothing else.

Property tests feed the loader arbitrary bytes, generated YAML documents and
mutations of the real matrix.yaml; the named classes of hostile input each
get a test of their own.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.errors import UserError
from runner.matrix.cells import TOP_KEYS, Matrix, MatrixError, load
from runner.matrix.yamlfile import MAX_BYTES, MAX_DEPTH, MAX_VALUES

REPO = Path(__file__).resolve().parent.parent
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def outcome(path: Path) -> str:
    """``matrix`` or the one-line refusal; anything else fails the test."""
    try:
        matrix = load(path)
    except UserError as exc:
        message = str(exc)
        assert message, "an empty refusal"
        assert "\n" not in message, message
        assert path.name in message, message
        return message
    assert isinstance(matrix, Matrix)
    assert matrix.cells()
    return "matrix"


@FUZZ
@given(raw=st.binary(max_size=3000))
def test_arbitrary_bytes(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "matrix.yaml"
    path.write_bytes(raw)
    outcome(path)


HOSTILE = ["silent", "slow_upload", "slow_reader", "idle_keepalive", "backlog", "crash", "hang"]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(
        ["3.1.*", "0.12.5", "3.11", "gunicorn", "flask-run", "period", "nginx", ">=2,<3", "23.0.0", "18.0"]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(max_size=10)
            | st.sampled_from(
                [
                    "flask",
                    "werkzeug",
                    "kind",
                    "workers",
                    "threads",
                    "requests",
                    "delay_ms",
                    "rows",
                    "pins",
                    "resolve",
                    "name",
                    "proxy",
                    # the hostile probes, their settings, and the keys they brought
                    "servers",
                    "cpus",
                    "buffering",
                    "keepalive",
                    "keepalive_timeout",
                    "timeout",
                    "channel_timeout",
                    "harakiri",
                    *HOSTILE,
                    "connections",
                    "wait_s",
                    "kb",
                    "seconds",
                    "rate_kbps",
                    "idle_s",
                    "timeout_s",
                    "connect_ms",
                    # a column's server version and a row's server pins
                    "version",
                    "gunicorn",
                    "pyuwsgi",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@FUZZ
@given(document=st.dictionaries(st.sampled_from([*TOP_KEYS, "other"]), VALUES, max_size=5))
def test_generated_documents(tmp_path: Path, document: dict[str, object]) -> None:
    path = tmp_path / "matrix.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    outcome(path)


@FUZZ
@given(
    probes=st.dictionaries(
        st.sampled_from(HOSTILE),
        st.none()
        | st.dictionaries(
            st.sampled_from(
                [
                    *("connections", "wait_s", "kb", "seconds", "rate_kbps", "idle_s", "timeout_s"),
                    *("connect_ms", "rows", "servers", "other"),
                ]
            ),
            SCALARS | st.lists(st.sampled_from(["a", "b", "flask-3.1.x", "x"]), max_size=3),
            max_size=4,
        ),
        max_size=4,
    ),
    column=st.dictionaries(
        st.sampled_from(["cpus", "timeout", "keepalive", "proxy"]),
        SCALARS | st.fixed_dictionaries({"kind": st.just("nginx")}, optional={"buffering": SCALARS}),
        max_size=3,
    ),
)
def test_settings_of_the_hostile_probes_and_their_keys(
    tmp_path: Path, probes: dict[str, object], column: dict[str, object]
) -> None:
    document = {
        "versions": [{"flask": "3.1.*"}],
        "servers": {"a": {"kind": "gunicorn", **column}, "b": {"kind": "waitress"}},
        "probes": probes,
    }
    path = tmp_path / "matrix.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    outcome(path)


@FUZZ
@given(data=st.data())
def test_mutations_of_the_default_matrix(tmp_path: Path, data: st.DataObject) -> None:
    text = (REPO / "matrix.yaml").read_text(encoding="utf-8")
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        at = data.draw(st.integers(0, len(text)), label="at")
        edit = data.draw(st.sampled_from(["delete", "insert", "repeat"]), label="edit")
        if edit == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 40)) :]
        elif edit == "insert":
            text = text[:at] + data.draw(st.text(max_size=8)) + text[at:]
        else:
            text = text[:at] + text[at : at + 60] + text[at:]
    path = tmp_path / "matrix.yaml"
    path.write_text(text, encoding="utf-8")
    outcome(path)


def refusal(tmp_path: Path, content: bytes | str, name: str = "matrix.yaml") -> str:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    with pytest.raises(MatrixError) as caught:
        load(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    message = refusal(tmp_path, b'versions: [{flask: "3.1.*"}]\nservers: {a: {kind: \xff}}\n')
    assert "line 2: is not UTF-8 text (byte 0xff" in message


def test_a_key_made_of_control_characters_is_named_escaped(tmp_path: Path) -> None:
    message = refusal(tmp_path, 'versions: [{"\\n\\t": null}]\n')
    assert "versions[0].\\n\\t (line 1): unknown key '\\n\\t'" in message


def test_aliases_that_expand_into_millions_of_values(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]  # 10**9 values
    message = refusal(tmp_path, "\n".join(lines) + "\n")
    assert f"more than {MAX_VALUES} values once its aliases" in message


def test_nesting_deeper_than_a_matrix_needs(tmp_path: Path) -> None:
    assert f"at most {MAX_DEPTH}" in refusal(tmp_path, "versions: " + "[" * 100 + "]" * 100 + "\n")
    assert "nested too deeply" in refusal(tmp_path, "versions: " + "[" * 20000 + "]" * 20000 + "\n")


def test_a_very_large_file(tmp_path: Path) -> None:
    text = 'versions: [{flask: "3.1.*"}]\nservers: {a: {kind: flask-run}}\n' + "# padding\n" * (
        MAX_BYTES // 10
    )
    assert f"a matrix file holds at most {MAX_BYTES} bytes" in refusal(tmp_path, text)


def test_empty_directory_and_fifo(tmp_path: Path) -> None:
    assert "found nothing" in refusal(tmp_path, "")
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    with pytest.raises(MatrixError, match=r"dir\.yaml: is a directory"):
        load(folder)
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(MatrixError, match=r"fifo\.yaml: is not a file"):
        load(fifo)  # opening a FIFO would wait for a writer forever


def test_names_a_file_system_cannot_hold_or_would_confuse(tmp_path: Path) -> None:
    rows = 'versions: [{flask: "3.1.*"}]\n'
    assert "1 to 64 letters" in refusal(tmp_path, rows + f"servers: {{{'x' * 65}: {{kind: flask-run}}}}\n")
    assert "1 to 64 letters" in refusal(tmp_path, rows + "servers: {a/b: {kind: flask-run}}\n")
    assert "only in case" in refusal(
        tmp_path, rows + "servers: {Sync: {kind: flask-run}, sync: {kind: app-run}}\n"
    )
    two_rows = 'versions: [{flask: "3.1.*", name: Today}, {flask: "3.0.*", name: today}]\n'
    assert "only in case" in refusal(tmp_path, two_rows + "servers: {a: {kind: flask-run}}\n")


@pytest.mark.parametrize(
    ("setting", "accepted"),
    [
        ("servers: {g: {kind: gunicorn, workers: 1000}}", "from 1 to 32"),
        ("servers: {g: {kind: gunicorn, workers: 2, threads: 100000}}", "from 1 to 256"),
        ("servers: {g: {kind: flask-run}}\nprobes: {concurrency: {delay_ms: 1}}", "from 50 to 60000"),
        ("servers: {g: {kind: flask-run}}\nprobes: {burst: {requests: 100000}}", "from 1 to 1000"),
        ("servers: {g: {kind: flask-run}}\nprobes: {throughput: {connections: 5000}}", "from 1 to 500"),
    ],
)
def test_values_that_would_exhaust_the_machine_or_hide_the_overlap(
    tmp_path: Path, setting: str, accepted: str
) -> None:
    assert accepted in refusal(tmp_path, 'versions: [{flask: "3.1.*"}]\n' + setting + "\n")
