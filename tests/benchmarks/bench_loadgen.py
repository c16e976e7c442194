"""The built-in load generator against wrk, on the same servers in the same run.

    python tests/benchmarks/bench_loadgen.py [--duration 3] [--connections 8]

For gunicorn-sync, gunicorn-gthread, waitress and flask-run on today's Flask,
each generator drives the same fresh server in turn; the ratio built-in / wrk
must stay at 0.8 or above for the built-in generator not to be what limits a
figure.  Needs wrk (`apt-get install wrk`).  Not part of the test suite.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from runner.cli import DEFAULT_ENVS  # noqa: E402
from runner.environments import envs  # noqa: E402
from runner.matrix.cells import parse  # noqa: E402
from runner.measuring import load  # noqa: E402
from runner.measuring.probes.throughput import measure_throughput  # noqa: E402
from runner.measuring.stats import median  # noqa: E402
from runner.measuring.wrk import wrk_binary  # noqa: E402
from runner.records import store  # noqa: E402
from runner.serving.launch import launched  # noqa: E402
from runner.serving.servers import recipe_for  # noqa: E402
from runner.workflow.run import build_envs, plan_cell  # noqa: E402

SERVERS = {
    "gunicorn-sync": {"kind": "gunicorn", "workers": 2},
    "gunicorn-gthread": {"kind": "gunicorn", "workers": 2, "threads": 4},
    "waitress": {"kind": "waitress", "threads": 4},
    "flask-run": {"kind": "flask-run"},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--repeats", type=int, default=3, help="fresh servers per generator; the median is compared"
    )
    args = parser.parse_args()
    if not wrk_binary():
        print("wrk is not installed; install it with `apt-get install wrk`", file=sys.stderr)
        return 2
    matrix = parse({"versions": [{"flask": "3.1.*"}], "servers": SERVERS})
    results = Path(tempfile.mkdtemp(prefix="bench-loadgen-"))
    run = store.new_run(results, {}, cells=[], tools={})
    print(f"server logs in {run.path}", file=sys.stderr)
    plans = [plan_cell(cell, DEFAULT_ENVS) for cell in matrix.cells()]
    built = build_envs(plans, DEFAULT_ENVS, run, progress=lambda line: None)
    print(f"{'server':<18} {'wrk rps':>9} {'builtin rps':>12} {'ratio':>6} {'builtin cpu':>12}")
    worst = 1.0
    for plan in plans:
        server = plan.cell.server
        env = built.get(plan.spec.key()) if plan.spec is not None else plan.problem
        if not isinstance(env, envs.Env):
            print(f"{server.name:<18} not measured: {getattr(env, 'reason', env)}", flush=True)
            worst = 0.0
            continue
        figures: dict[str, list[load.Throughput]] = {"wrk": [], "builtin": []}
        for _ in range(args.repeats):
            for generator in ("wrk", "builtin"):  # alternated, so drift hits both
                log = run.log_path(f"{server.name}-{generator}")
                with launched(recipe_for(server.kind), server, env, log, run.id) as front:
                    figures[generator].append(
                        measure_throughput(
                            front.port,
                            connections=args.connections,
                            duration_s=args.duration,
                            warmup_s=args.warmup,
                            generator=generator,
                        )
                    )
        wrk = median([f.rps for f in figures["wrk"]])
        builtin = median([f.rps for f in figures["builtin"]])
        cpu = median([f.client_cpu for f in figures["builtin"]])
        ratio = builtin / wrk if wrk else 0.0
        worst = min(worst, ratio)
        print(f"{server.name:<18} {wrk:>9.0f} {builtin:>12.0f} {ratio:>6.2f} {cpu:>12.2f}", flush=True)
    run.release()
    print(f"lowest ratio: {worst:.2f} ({'ok' if worst >= 0.8 else 'below 0.8'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
