"""Reading wrk's output, from plain text."""

from __future__ import annotations

from runner.measuring.load import Throughput
from runner.measuring.probes.throughput import lawful
from runner.measuring.wrk import parse_wrk

WRK = """Running 2s test @ http://127.0.0.1:5997/hello
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   383.60us  481.09us  14.90ms   97.62%
    Req/Sec    13.27k   660.93    14.08k    76.19%
  Latency Distribution
     50%  324.00us
     75%  431.00us
     90%  535.00us
     99%    1.71ms
  27710 requests in 2.10s, 2.11MB read
  Socket errors: connect 0, read 27710, write 0, timeout 0
Requests/sec:  13198.36
Transfer/sec:      1.01MB
"""


def test_figures_from_wrk():
    result = parse_wrk(WRK, 8, cpu=0.5)
    assert result.generator == "wrk"
    assert result.rps == 13198.36
    assert result.latency_ms == {"mean": 0.384, "p50": 0.324, "p90": 0.535, "p99": 1.71}
    assert result.duration_s == 2.1
    # One read error per request: the server closed after every answer.
    assert result.errors == 0
    assert result.little is not None
    assert result.little.ratio == round(13198.36 * 0.0003836 / 8, 3)


def test_real_errors_are_counted_by_kind():
    text = (
        WRK.replace("read 27710, write 0, timeout 0", "read 3, write 0, timeout 7")
        + "  Non-2xx or 3xx responses: 5\n"
    )
    result = parse_wrk(text, 8)
    assert result.error_kinds == {"read": 3, "timeout": 7, "non-2xx": 5}
    assert result.errors == 15


def _figures(generator: str, rps: float, mean_ms: float, connections: int = 8) -> Throughput:
    from runner.measuring.stats import littles_law

    return Throughput(
        generator=generator,
        connections=connections,
        duration_s=1.0,
        requests=int(rps),
        rps=rps,
        latency_ms={"mean": mean_ms, "p50": mean_ms, "p90": mean_ms, "p99": mean_ms},
        errors=0,
        error_kinds={},
        client_cpu=0.2,
        client_bound=False,
        little=littles_law(connections, rps, mean_ms / 1000),
    )


def test_the_generator_whose_figures_obey_littles_law_is_published() -> None:
    wrk = _figures("wrk", 2415, 17.6)  # 42.5 in flight with 8 connections
    builtin = _figures("builtin", 2154, 3.7)  # 7.97
    kept = lawful(wrk, builtin)
    assert kept.generator == "builtin"
    assert kept.other is not None
    assert kept.other["generator"] == "wrk"
    assert kept.why.startswith("wrk broke Little's law (x5.")


def test_when_neither_holds_the_first_is_kept_and_flagged() -> None:
    kept = lawful(_figures("wrk", 2415, 17.6), _figures("builtin", 2154, 9.0))
    assert kept.generator == "wrk"
    assert kept.little is not None
    assert not kept.little.ok
    assert kept.why.startswith("neither generator's figures obey Little's law")
