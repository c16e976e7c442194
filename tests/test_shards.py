"""The shard plan on the default matrix and with plain data, and the workflow that reads it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from runner import shards
from runner.errors import UserError
from runner.matrix.cells import Matrix, load

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / ".github" / "workflows" / "matrix.yml"


@pytest.fixture(scope="module")
def default() -> Matrix:
    return load(REPO / "matrix.yaml")


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7])
def test_the_parts_are_every_cell_once_and_balanced(default: Matrix, count: int) -> None:
    plan = shards.plan(default, count)
    names = [name for shard in plan for name in shard.cells]
    assert sorted(names) == sorted(c.name for c in default.cells())
    assert len(names) == len(set(names))
    loads = [s.estimated_s for s in plan]
    assert max(loads) <= 1.25 * (sum(loads) / count)
    assert [s.label for s in plan] == [f"{i}/{count}" for i in range(1, count + 1)]


def test_cells_that_share_an_environment_stay_together(default: Matrix) -> None:
    where = {name: s.index for s in shards.plan(default, 5) for name in s.cells}
    groups: dict[object, set[int]] = {}
    for cell in default.cells():
        groups.setdefault(shards.env_key(cell), set()).add(where[cell.name])
    assert all(len(parts) == 1 for parts in groups.values())


def test_the_plan_is_the_same_on_every_machine(default: Matrix, tmp_path: Path) -> None:
    again = load(REPO / "matrix.yaml")
    assert shards.plan(default, 3) == shards.plan(again, 3)


def test_a_serial_cell_waits_for_its_requests_one_after_another(default: Matrix) -> None:
    cells = {c.name: c for c in default.cells()}
    serial = shards.probe_cost(default, cells["flask-0.12.5--flask-run"])  # Flask before 1.0
    concurrent = shards.probe_cost(default, cells["flask-1.1.4--flask-run"])
    sync = shards.probe_cost(default, cells["flask-1.1.4--gunicorn-sync"])  # 2 workers: 5 rounds
    assert serial - concurrent == pytest.approx(9 * 0.5)  # 10 requests of 500 ms, against one round
    assert sync - concurrent == pytest.approx(4 * 0.5)


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "a/b", "1/0", "1/999"])
def test_a_bad_shard_is_one_clear_line(text: str) -> None:
    with pytest.raises(UserError, match=r"expected K/N with 1 <= K <= N <= 256"):
        shards.parse_shard(text)


def test_more_shards_than_environments_leaves_some_empty() -> None:
    tiny = load_text('versions: [{flask: "3.1.*"}]\nservers: {a: {kind: flask-run}}\n')
    plan = shards.plan(tiny, 3)
    assert [len(s.cells) for s in plan] == [1, 0, 0]


def load_text(text: str) -> Matrix:
    from runner.matrix.cells import parse

    return parse(yaml.safe_load(text))


def workflow() -> dict[str, object]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def test_the_workflow_reads_the_plan_as_its_job_matrix(default: Matrix) -> None:
    jobs = workflow()["jobs"]
    assert isinstance(jobs, dict)
    assert jobs["shard"]["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.plan) }}"
    assert jobs["shard"]["strategy"]["fail-fast"] is False
    assert "--list-shards" in jobs["plan"]["steps"][-1]["run"]
    # fromJSON(...) of the plan is the matrix: {"include": [...]}, every field the jobs use present
    matrix = json.loads(shards.plan_json(shards.plan(default, 3)))
    assert set(matrix) == {"include"}
    expressions = re.findall(r"\$\{\{(.*?)\}\}", WORKFLOW.read_text())
    used = {field for e in expressions for field in re.findall(r"(?<!['\w])matrix\.(\w+)", e)}
    assert used
    assert all(used <= set(entry) for entry in matrix["include"])
    names = [f"run-{entry['name']}" for entry in matrix["include"]]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", name) for name in names)  # valid artifact names


def test_the_workflow_is_least_privilege_and_pinned() -> None:
    data = workflow()
    assert data["permissions"] == {"contents": "read"}
    uses = re.findall(r"uses:\s*(\S+)", WORKFLOW.read_text())
    assert uses
    assert all(re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", ref) for ref in uses)


def test_time_left_is_the_estimate_scaled_by_the_cells_done() -> None:
    import time

    from runner.workflow.run import Clock

    clock = Clock(
        estimates={"a": 10.0, "b": 10.0, "c": 20.0}, started=time.perf_counter() - 20.0
    )  # twice as slow as planned
    assert re.fullmatch(r"  \[0:2\d elapsed, about (0:59|1:0\d) left\]", clock.after({"b"}))
    # cells end in any order under the overlapping schedule: the estimate follows which ended
    assert re.fullmatch(r"  \[0:2\d elapsed, about (0:19|0:2\d) left\]", clock.after({"c"}))
    assert (
        "estimate was 33% long" in Clock(estimates={"a": 40.0}, started=time.perf_counter() - 30.0).verdict()
    )


def test_the_last_cell_leaves_no_time_and_never_less() -> None:
    import time

    from runner.workflow.run import Clock

    # estimates whose sum, less the sum of all but one, is not the last one's exactly
    estimates = {f"cell-{i}": 0.1 * (i % 7) + 0.3 for i in range(140)}
    clock = Clock(estimates, time.perf_counter() - 218.0, in_rounds=True)
    assert clock.after(set(estimates)).endswith("about 0:00 left]")


def test_cells_ending_in_rounds_do_not_make_the_time_left_explode() -> None:
    import time

    from runner.workflow.run import Clock

    estimates = {f"cell-{i}": 2.0 for i in range(100)}  # 200 s planned
    started = time.perf_counter() - 87.0
    first_three = {"cell-0", "cell-1", "cell-2"}
    # The overlapping schedule: the first cells of a round end after the whole
    # round's start-ups and waiting probes.  The time left stays near the plan
    # (200 s in all, 87 s of them gone) ...
    in_rounds = Clock(estimates, started, in_rounds=True).after(first_three)
    assert re.fullmatch(r"  \[1:2\d elapsed, about 1:5\d left\]", in_rounds)
    # ... where one cell after another would mean each took 29 s, not 2.
    one_by_one = Clock(estimates, started).after(first_three)
    assert re.fullmatch(r"  \[1:2\d elapsed, about 46:\d\d left\]", one_by_one)
    # Nearly all done, the pace is trusted: twice as slow as planned, 20 s
    # of the plan left take about 40 s (32 s, a fifth of it still the plan's).
    most = {f"cell-{i}" for i in range(90)}
    late = Clock(estimates, time.perf_counter() - 360.0, in_rounds=True).after(most)
    assert re.fullmatch(r"  \[6:0\d elapsed, about 0:3[0-3] left\]", late)


def test_cells_that_start_no_server_cost_the_clock_nothing(tmp_path: Path) -> None:
    import time

    from runner.environments.envs import Env, EnvSpec
    from runner.environments.interpreters import Interpreter
    from runner.errors import CellNotApplicable
    from runner.workflow.cell import Built, Plan, starts_no_server
    from runner.workflow.run import Clock

    tiny = load_text(
        'versions: [{flask: "0.10.1"}, {flask: "3.1.*"}]\n'
        "servers: {a: {kind: flask-run}, b: {kind: werkzeug}}\n"
    )
    cells = {c.name: c for c in tiny.cells()}
    spec = EnvSpec(interpreter=Interpreter("/usr/bin/python3", "3.11.7"), requirements=("flask==0.10.1",))
    (tmp_path / "bin").mkdir()  # Flask 0.10.1 has no `flask` command
    env = Env(path=tmp_path, packages={"Flask": "0.10.1", "Werkzeug": "0.9.1"}, backend="uv", reused=True)
    built: Built = {spec.key(): env}
    no_flask_command = Plan(cells["flask-0.10.1--a"], spec=spec)
    runs = Plan(cells["flask-0.10.1--b"], spec=spec)
    planned_out = Plan(cells["flask-3.1.x--a"], problem=CellNotApplicable("no nginx"))
    assert starts_no_server(no_flask_command, built)
    assert not starts_no_server(runs, built)
    assert starts_no_server(planned_out, built)
    assert starts_no_server(runs, {})  # its environment failed to build
    # Such a cell ends at once and says nothing of how fast the others go.
    clock = Clock({"na": 0.0, "ok": 100.0}, time.perf_counter() - 1.0)
    assert re.fullmatch(r"  \[0:01 elapsed, about 1:3\d left\]", clock.after({"na"}))


def test_the_plan_json_leaves_out_shards_with_no_cells() -> None:
    tiny = load_text('versions: [{flask: "3.1.*"}]\nservers: {a: {kind: flask-run}}\n')
    plan = json.loads(shards.plan_json(shards.plan(tiny, 3)))
    assert [entry["shard"] for entry in plan["include"]] == ["1/3"]


def test_a_count_that_is_not_plain_digits_is_one_clear_line() -> None:
    for text in ("²", "0", "257", "three"):
        with pytest.raises(UserError, match="expected a number of shards from 1 to 256"):
            shards.parse_count(text)


@given(
    st.lists(st.floats(0.01, 100.0), min_size=1, max_size=30),
    st.floats(0.0, 5000.0),
    st.integers(0, 30),
    st.booleans(),
)
def test_no_progress_line_shows_a_negative_time(
    costs: list[float], elapsed: float, done: int, in_rounds: bool
) -> None:
    import time

    from runner.workflow.run import Clock

    estimates = {f"cell-{i}": c for i, c in enumerate(costs)}
    clock = Clock(estimates, time.perf_counter() - elapsed, in_rounds=in_rounds)
    line = clock.after(set(list(estimates)[:done]))
    assert "-" not in line, line
