"""The workflow holds the least it needs: read-only everywhere, Pages writes in the deploy job alone.

Read from ``.github/workflows/matrix.yml`` as YAML; actionlint and zizmor
check it in ``nox -s lint``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "matrix.yml"


def _workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def test_every_job_reads_only_but_deploy_which_writes_pages_alone() -> None:
    flow = _workflow()
    assert flow["permissions"] == {"contents": "read"}
    jobs = flow["jobs"]
    granted = {
        name: job.get("permissions") for name, job in jobs.items() if job.get("permissions") is not None
    }
    assert granted == {"deploy": {"pages": "write", "id-token": "write"}}
    assert jobs["deploy"]["needs"] == "site"
    assert jobs["site"]["needs"] == "merge"
    steps = jobs["deploy"]["steps"]
    assert [s["uses"].split("@")[0] for s in steps] == [
        "actions/deploy-pages"
    ]  # no code of ours holds the token


def test_it_is_never_run_with_a_pull_requests_target_and_every_action_is_pinned() -> None:
    flow = _workflow()
    triggers = flow.get("on") or flow.get(True)  # YAML 1.1 reads the key `on` as true
    assert "pull_request_target" not in triggers
    assert "schedule" in triggers
    for job in flow["jobs"].values():
        for step in job.get("steps", []):
            if "uses" in step:
                ref = step["uses"].split("@")[1]
                assert len(ref) == 40, step["uses"]  # a commit, not a tag that can move


def test_the_weekly_watch_stops_the_rest_when_nothing_is_new() -> None:
    jobs = _workflow()["jobs"]
    assert "schedule" in jobs["watch"]["if"]
    assert "needs.watch.outputs.new == 'true'" in jobs["plan"]["if"]
    assert "nox -s watch" in "".join(step.get("run", "") for step in jobs["watch"]["steps"])


def test_a_scheduled_run_measures_the_matrix_the_watch_found() -> None:
    jobs = _workflow()["jobs"]
    for name in ("plan", "shard"):
        assert "would-run.yaml" in jobs[name]["env"]["MATRIX_FILE"]
        taken = [s for s in jobs[name]["steps"] if s.get("with", {}).get("name") == "would-run"]
        assert len(taken) == 1
        assert taken[0]["uses"].startswith("actions/download-artifact@")
    handed = [s for s in jobs["watch"]["steps"] if s.get("with", {}).get("name") == "would-run"]
    assert [s["uses"].split("@")[0] for s in handed] == ["actions/upload-artifact"]
    said = "".join(step.get("run", "") for step in jobs["site"]["steps"])
    assert "nox -s compare --" in said
    assert "--format md" in said
    assert "GITHUB_STEP_SUMMARY" in said


def test_a_pull_request_measures_what_it_touches_and_writes_nothing() -> None:
    flow = _workflow()
    triggers = flow.get("on") or flow.get(True)
    assert sorted(triggers["pull_request"]["paths"]) == ["matrix.yaml", "runner/**"]
    jobs = flow["jobs"]
    job = jobs["pull-request"]
    assert "pull_request" in job["if"]
    assert "permissions" not in job  # the workflow's contents: read, nothing more
    assert all(
        s.get("with", {}).get("persist-credentials", False) is False for s in job["steps"] if "uses" in s
    )
    said = "".join(step.get("run", "") for step in job["steps"])
    assert "nox -s matrix -- --reuse-from published/last.json.gz" in said
    assert "nox -s compare -- published/last.json.gz results/latest --format md" in said
    assert "GITHUB_STEP_SUMMARY" in said
    assert "github.event_name != 'pull_request'" in jobs["plan"]["if"]  # no shards, no merge
    assert "refs/heads/main" in jobs["site"]["if"]  # nothing of a pull request is published
