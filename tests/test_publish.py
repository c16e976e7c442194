"""Publishing a stored run: the four artefacts, the charts, the answers.

The run is tests/fixtures/run-schema1, a real 16-cell run with two repeats
(every probe, nginx, skipped cells), copied to a temporary folder and
published as ``nox -s report`` would.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import shutil
from pathlib import Path

import pytest

from runner import analysis, cli
from runner.analysis import Inputs
from runner.publish import answers, charts, doc, summary, tidy
from runner.publish.artefacts import ARTEFACTS
from runner.records import store
from runner.records.record import CellRecord, Machine

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "run-schema1"


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("published") / FIXTURE.name
    shutil.copytree(FIXTURE, run)
    assert cli.report([str(run)]) == 0
    return run


@pytest.fixture(scope="module")
def records() -> list[CellRecord]:
    return store.read_records(FIXTURE)


def test_every_artefact_is_written_beside_the_records(published: Path) -> None:
    for name in ARTEFACTS:
        assert (published / name).stat().st_size > 0, name
    images = re.findall(r"!\[[^]]*\]\(([^)]+)\)", (published / "report.md").read_text())
    assert images == [
        f"charts/{n}.svg" for n in ("concurrency", "changes", "cpu", "throughput", "burst", "slow_client")
    ]
    for image in images:
        svg = (published / image).read_text()
        assert svg.startswith("<svg")
        assert "</svg>" in svg
        assert (published / image).with_suffix(".png").read_bytes().startswith(b"\x89PNG")


def test_rendering_again_writes_the_same_bytes(published: Path, tmp_path: Path) -> None:
    before = {p.relative_to(published): p.read_bytes() for p in published.rglob("*") if p.is_file()}
    assert cli.report([str(published)]) == 0
    after = {p.relative_to(published): p.read_bytes() for p in published.rglob("*") if p.is_file()}
    assert before.keys() == after.keys()
    assert [str(k) for k in before if before[k] != after[k]] == []


def test_the_page_is_self_contained_and_small(published: Path) -> None:
    page = (published / "report.html").read_text()
    assert len(page.encode()) < 5 * 1024 * 1024
    # outside its scripts, nothing a browser would fetch (the browser test watches the scripts)
    markup = re.sub(r"<script[^>]*>.*?</script>", "", page, flags=re.S)
    assert re.findall(r"""(?:src|href)\s*=\s*["'][^"'#]""", markup) == []
    assert "@import" not in markup
    assert "url(" not in markup
    from runner.publish.page import islands

    specs = islands(page)["chart-specs"]
    assert set(specs) == {"concurrency", "changes", "cpu", "throughput", "burst", "slow_client"}
    assert all(f'id="chart-{name}"' in page for name in specs)


def test_the_csv_has_one_row_per_cell_and_figure(published: Path, records: list[CellRecord]) -> None:
    with (published / "results.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == tidy.COLUMNS
    keys = [(r["cell"], r["probe"], r["figure"]) for r in rows]
    assert len(keys) == len(set(keys))
    peak = {r["cell"]: r["value"] for r in rows if (r["probe"], r["figure"]) == ("concurrency", "peak")}
    for record in records:
        if record.concurrency is not None:
            assert peak[record.cell] == str(record.concurrency.peak)
    skipped = [r for r in rows if r["status"] == "skipped"]
    assert skipped
    assert all((r["probe"], r["figure"]) == ("cell", "status") and r["value"] for r in skipped)
    rps = next(r for r in rows if r["figure"] == "rps")
    assert rps["unit"] == "requests/s"
    assert rps["repeats"] == "2"
    assert rps["machine"]
    assert float(rps["min"]) <= float(rps["value"]) <= float(rps["max"])


def test_the_json_holds_the_run_and_every_record(published: Path, records: list[CellRecord]) -> None:
    data = json.loads((published / "results.json").read_text())
    assert data["schema"] == 2
    assert data["run"]["run"] == "20261124T161901Z"
    assert sorted(c["cell"] for c in data["cells"]) == sorted(r.cell for r in records)
    assert all(c["machine"]["cpu"] for c in data["cells"])


def test_a_chart_is_drawn_only_where_its_probe_ran(records: list[CellRecord]) -> None:
    without = [
        dataclasses.replace(r, probes={"concurrency": r.probes["concurrency"]}) for r in records if r.ok
    ]
    names = [c.name for c in charts.charts(tidy.cell_facts(without), {})]
    assert names == ["concurrency", "changes"]


def test_throughput_of_two_machines_is_never_on_one_axis(records: list[CellRecord]) -> None:
    other = Machine(cpu="another CPU", cores=8, host="elsewhere")
    mixed = [dataclasses.replace(r, machine=other) if r.server == "gunicorn-sync" else r for r in records]
    spec = next(c.spec for c in charts.charts(tidy.cell_facts(mixed), {}) if c.name == "throughput")
    assert len(spec["vconcat"]) == 2
    assert spec["resolve"]["scale"]["x"] == "independent"
    meta = store.read_meta(FIXTURE)
    blocks = store_document(mixed, meta)
    text = doc.markdown(blocks)
    assert "2 machines" in text
    assert text.count("Measured on ") >= 2


def store_document(records: list[CellRecord], meta: store.RunMeta) -> list[doc.Block]:
    from runner.publish import report

    return report.document(records, Inputs.of_run(meta, records), run=meta)


def test_the_summary_names_the_change_and_the_cells(records: list[CellRecord]) -> None:
    meta = store.read_meta(FIXTURE)
    first = summary.findings(records, Inputs.of_run(meta, records))[0]
    assert first.text.startswith(
        "`flask-run` and `nginx-flask-run` serve one request at a time, then several requests at once: "
        "up to Flask 0.12.5 and from Flask 1.0.4 (Python 3.11; "
    )
    assert "`nox -s bisect` names the release" in first.text  # this run has no bisect answer
    assert {"flask-0.12.5--flask-run", "flask-1.0.4--flask-run"} <= set(first.cells)
    text = doc.markdown(answers.section(records, Inputs.of_run(meta, records)))
    assert "nginx in front of `flask-run` did not change its verdict" in text
    assert "`gunicorn-sync` over `flask-run` gave" in text
    assert "Each probe ran 2 times per cell" in text


def test_an_answer_is_only_given_where_the_run_measured_it(records: list[CellRecord]) -> None:
    meta = store.read_meta(FIXTURE)
    dev_only = [r for r in records if r.server == "flask-run"]
    found = summary.findings(dev_only, Inputs.of_run(meta, dev_only))
    text = " ".join(f.text for f in found)
    assert "nginx" not in text
    assert "WSGI" not in text
    assert (
        "`flask-run` serves one request at a time, then several requests at once: up to Flask 0.12.5" in text
    )
    assert answers.section(dev_only, Inputs.of_run(meta, dev_only)) == []
    assert summary.findings([], Inputs.of_run(meta, [])) == []


def test_one_repeat_is_said_and_a_small_difference_called_noise(records: list[CellRecord]) -> None:
    once = [
        dataclasses.replace(
            r,
            probes={
                name: dataclasses.replace(o, repeats=dataclasses.replace(o.repeats, n=1, unstable=False))
                for name, o in r.probes.items()
            },
        )
        for r in records
    ]
    meta = store.read_meta(FIXTURE)
    inputs = dataclasses.replace(Inputs.of_run(meta, once), repeats=1)
    text = doc.markdown(answers.section(once, inputs))
    assert "Each probe ran once per cell" in text
    nginx = next(
        line for line in text.splitlines() if "times the requests per second" in line and "nginx" in line
    )
    assert "within run-to-run noise" in nginx  # 0.98 times: under 10%


def test_markdown_and_html_say_the_same(records: list[CellRecord]) -> None:
    blocks = [
        doc.Heading("Title <1>"),
        doc.Para("a `code` & b"),
        doc.Bullets(("one", "`two`")),
        doc.Table(("x", "y"), (("1", "<2>"),)),
        doc.Chart("map", "The map"),
    ]
    assert doc.markdown(blocks, {"map": "charts/map.svg"}) == (
        "## Title &lt;1>\n\na `code` & b\n\n- one\n- `two`\n\n| x   | y      |\n|-----|--------|\n| 1   | &lt;2> |\n\n"
        "![The map](charts/map.svg)\n"
    )
    html = doc.html_body(blocks, ["map"])
    assert '<details class="section" id="title-1" open><summary><h2>Title &lt;1&gt;</h2></summary>' in html
    assert html.endswith("</div></details>")  # the section ends with the page
    assert "<p>a <code>code</code> &amp; b</p>" in html
    assert "<li><code>two</code></li>" in html
    assert "<td>&lt;2&gt;</td>" in html
    assert 'id="chart-map"' in html
    assert "chart" not in doc.html_body(blocks[-1:], [])
    linked = doc.html_body([doc.Para("see `a--b` and `c`")], [], cells={"a--b"})
    assert '<a class="cell" href="#cell=a--b">a--b</a>' in linked
    assert "<code>c</code>" in linked  # not a cell of the run


def test_every_chart_is_valid_vega_lite(records: list[CellRecord], monkeypatch: pytest.MonkeyPatch) -> None:
    """Rendering skips altair's schema check for speed; here every chart passes it."""
    monkeypatch.setattr(charts, "VALIDATE", True)
    drawn = charts.charts(tidy.cell_facts(records), {"flask-1.0.4--flask-run": "serial -> concurrent"})
    assert [c.name for c in drawn] == ["concurrency", "changes", "cpu", "throughput", "burst", "slow_client"]


def test_report_without_arguments_draws_the_latest_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "runs" / FIXTURE.name
    shutil.copytree(FIXTURE, run)
    store.point_latest(tmp_path, run)
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path))
    assert cli.report([]) == 0
    assert (run / "report.html").is_file()
    assert str(run) in capsys.readouterr().out


def test_report_of_a_folder_that_is_not_a_run_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.report([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {tmp_path}: not a run folder (no run.json); run folders are results/runs/<run-id>"


def test_probe_settings_left_to_their_defaults_are_filled_in(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    meta = json.loads((run / "run.json").read_text())
    meta["matrix"]["probes"] = {"throughput": {"duration_s": 1}, "cpu": None}  # as a matrix may say it
    (run / "run.json").write_text(json.dumps(meta))
    assert cli.report([str(run)]) == 0
    text = (run / "report.md").read_text()
    assert "when 10 requests to a 500 ms endpoint arrive at once" in text  # concurrency's defaults


def test_a_change_between_rows_that_differ_in_werkzeug_names_werkzeug(records: list[CellRecord]) -> None:
    from runner import analysis

    rows = analysis.rows_of(records)
    before, after = rows[0], rows[1]
    change = analysis.Change(
        "flask-run", before, dataclasses.replace(after, werkzeug="9.9"), "serial", "concurrent"
    )
    line = answers._change_line(change)
    assert (
        "with Flask 0.12.5, Werkzeug 0.16.1 and several requests at once with Flask 1.0.4, Werkzeug 9.9"
        in line
    )


def test_a_record_without_a_host_and_one_with_are_one_machine(records: list[CellRecord]) -> None:
    from runner.records.record import machine_names

    old = [dataclasses.replace(r, machine=dataclasses.replace(r.machine, host="?")) for r in records[:3]]
    new = [dataclasses.replace(r, machine=dataclasses.replace(r.machine, host="vm")) for r in records[3:]]
    assert len(set(machine_names([*old, *new]).values())) == 1
    assert len(set(machine_names(new).values())) == 1
    assert "on host vm" in next(iter(machine_names(new).values()))


@pytest.mark.parametrize(
    ("text", "inert"),
    [
        ("[click](http://evil.example)", "[click]\\(http://evil.example)"),
        ("![x](http://evil.example/i.png)", "![x]\\(http://evil.example/i.png)"),
        ("<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)>"),
        ("a\n# not a heading\r\n- nor a bullet", "a # not a heading - nor a bullet"),
        ("[ref][1]", "[ref]\\[1]"),
    ],
)
def test_text_from_a_record_adds_no_markup_to_markdown(text: str, inert: str) -> None:
    assert doc.inert(text) == inert
    table = doc.markdown([doc.Table(("a",), ((text + " | b",),))])
    assert table.splitlines()[2].count("|") - table.splitlines()[2].count("\\|") == 2  # one cell still


def test_text_from_a_record_moves_no_cursor() -> None:
    assert doc.terminal_safe("ok\x1b[2J\x1b]0;title\x07 done\ttab\nline\x9b") == "ok done\ttab\nline"


def test_a_csv_cell_a_spreadsheet_would_run_is_text() -> None:
    assert tidy._cell('=HYPERLINK("http://evil")') == '\'=HYPERLINK("http://evil")'
    assert tidy._cell("-1+2") == "'-1+2"
    assert tidy._cell(-1.5) == -1.5  # a number stays a number
    assert tidy._cell("3.1.3") == "3.1.3"


def test_the_charts_data_island_holds_no_markup_whatever_its_strings() -> None:
    from runner.publish import page
    from runner.publish.charts import ChartSpec
    from runner.records.record import RunMeta

    hostile = "</script><!--<script>alert(1)</script>&amp;"
    spec = ChartSpec("map", "The map", {"data": {"values": [{"reason": hostile}]}})
    html = page.page_html(RunMeta(run="r", started="s", matrix={}, cells=()), [], [spec])
    island = html.split(f'<script type="{page.ISLAND}" id="chart-specs">', 1)[1].split("</script>", 1)[0]
    assert re.fullmatch(r"[A-Za-z0-9+/=]+", island)  # base64: no markup can stand in it
    assert page.islands(html)["chart-specs"]["map"]["data"]["values"][0]["reason"] == hostile


NARROWED = Path(__file__).resolve().parent / "fixtures" / "bisect-answer-narrowed.json"


@pytest.mark.parametrize("kind", ["narrowed", "found"])
def test_the_summary_and_the_column_table_name_what_bisect_found(tmp_path: Path, kind: str) -> None:
    """A real answer of `nox -s bisect` (Flask 1.0 to 1.0.2 cannot start on
    Python 3.11), and the same answer as if 1.0 had been measured."""
    from runner.publish import report
    from runner.records.record import BisectAnswer

    answer = json.loads(NARROWED.read_text())
    if kind == "found":
        answer.update(kind="found", first_right="1.0", untested=[])
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    (run / "bisect.json").write_text(json.dumps({"schema": 1, "answers": [answer]}))
    meta, records = store.read_run(run)
    answers_ = store.bisect_answers(run)
    assert [type(a) for a in answers_] == [BisectAnswer]
    first = summary.findings(records, Inputs.of_run(meta, records), answers_)[0]
    table = report.by_column(analysis.rows_of(records), Inputs.of_run(meta, records).servers, answers_)
    changed_at = {row[0]: row[-1] for row in table.rows}
    if kind == "found":
        assert "the first release with the change is Flask 1.0 (released 2018-04-26)" in first.text
        assert changed_at["flask-run"] == "Flask 1.0"
    else:
        assert (
            "Flask 1.0 to 1.0.2 cannot be measured here, so the first release measured with the change is 1.0.3"
            in first.text
        )
        assert changed_at["flask-run"] == "Flask 0.12.5 to 1.0.3"
    assert "not bisected yet" not in first.text


def test_a_bisect_that_cannot_reach_the_index_leaves_the_run_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """nox -s matrix bisects its changes; with no index to ask, it says so in one
    line and the run's ending still comes (the findings as they were)."""
    import socket

    with socket.socket() as closed:  # a port on 127.0.0.1 that nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("UV_DEFAULT_INDEX", f"http://127.0.0.1:{port}/simple")
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    assert cli.bisect_changes(run, tmp_path / "results", tmp_path / "envs") == ()
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("bisect stopped")]
    assert len(said) == 1
    assert "`nox -s bisect` tries again" in said[0]
    assert not (run / "bisect.json").exists()
