"""The run's charts, defined once with Vega-Lite (through altair).

Each chart is a Vega-Lite spec built from :func:`runner.publish.tidy.cell_facts`;
the same spec becomes a static SVG and PNG beside ``report.md`` (rendered by
vl-convert) and an interactive view in ``report.html`` (vega-embed).  Every
view has a tooltip with the cell's figures and versions, and dropdowns that
filter it by server and by Python; in a static image the dropdowns are
absent and everything is shown.

A chart is drawn only when its probe ran in at least one cell.  Throughput,
CPU and burst figures depend on the machine: when the cells come from more
than one, those charts are split into one panel per machine, each with its
own scale, never one axis that mixes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import altair as alt

from runner.publish.tidy import field_name

Facts = Sequence[Mapping[str, Any]]
Spec = dict[str, Any]

VERDICT_COLOURS = {
    "serial": "#d95f02",
    "concurrent": "#1b9e77",
    "failed": "#e7298a",
    "error": "#7f7f7f",
    "skipped": "#cccccc",
    "n/a": "#e8e8e8",
}
OUTCOME_COLOURS = {
    "completed": "#1b9e77",
    "refused": "#d95f02",
    "reset": "#7570b3",
    "timed out": "#e7298a",
    "other": "#999999",
}
VALIDATE = False
ROW_COLOURS = alt.Scale(scheme="tableau20")
WHO = ["cell", "row", "server", "flask", "werkzeug", "python", "machine"]


@dataclass(frozen=True)
class ChartSpec:
    name: str
    title: str
    spec: Spec


def charts(facts: Facts, changed_cells: Mapping[str, str]) -> list[ChartSpec]:
    """Every chart the run's data supports, in the report's order.

    ``changed_cells`` maps each cell that differs in verdict from its
    neighbour above to the change's text (``serial -> concurrent``).
    """
    facts = rows = [dict(f) for f in facts]
    makers: list[tuple[str, str, str, Callable[[Facts, Axes], alt.TopLevelMixin]]] = [
        ("concurrency", "concurrency_peak", "The concurrency map: verdict and peak of every cell", _map),
        ("throughput", "throughput_rps", "What a server buys: requests per second, p50 and p99", _throughput),
        ("cpu", "cpu_speedup", "CPU-bound work: speed-up of requests at once over one after another", _cpu),
        ("burst", "burst_completed", "Bursts: how each request of a burst ended", _burst),
        ("slow_client", "slow_client_waited_s", "Slow clients: was an ordinary request served?", _slow),
    ]
    axes = Axes.of(facts)
    out = []
    for name, needs, title, make in makers:
        measured = [f for f in facts if f.get(needs) is not None]
        if not measured:
            continue
        # The map shows every cell, the ones that did not run too.
        out.append(
            ChartSpec(name, title, _finish(make(facts if name == "concurrency" else measured, axes), title))
        )
        if name == "concurrency":
            for row in rows:
                row["change"] = changed_cells.get(row["cell"], "")
            out.append(ChartSpec("changes", CHANGES_TITLE, _finish(_changes(facts, axes), CHANGES_TITLE)))
    return out


CHANGES_TITLE = "Where it changed: the peak of each column along the rows"


@dataclass(frozen=True)
class Axes:
    """The order of rows and servers, and the filters every chart offers."""

    rows: list[str]
    servers: list[str]
    pythons: list[str]
    machines: list[str]

    @classmethod
    def of(cls, facts: Facts) -> Axes:
        def ordered(key: str, by: str) -> list[str]:
            seen: dict[str, Any] = {}
            for fact in sorted(facts, key=lambda f: f[by]):
                seen.setdefault(fact[key], None)
            return list(seen)

        return cls(
            rows=ordered("row", "row_index"),
            servers=ordered("server", "server_index"),
            pythons=sorted({str(f["python"]) for f in facts}),
            machines=ordered("machine", "row_index"),
        )

    def filtered(self, chart: alt.Chart) -> alt.Chart:
        """The chart with a server and a Python dropdown (in the page only)."""
        server = alt.param(
            name="server_pick",
            value=None,
            bind=alt.binding_select(
                options=[None, *self.servers], labels=["all", *self.servers], name="Server "
            ),
        )
        python = alt.param(
            name="python_pick",
            value=None,
            bind=alt.binding_select(
                options=[None, *self.pythons], labels=["all", *self.pythons], name="Python "
            ),
        )
        filtered = chart.add_params(server, python).transform_filter(
            "(server_pick == null || datum.server == server_pick) && "
            "(python_pick == null || datum.python == python_pick)"
        )
        return cast(alt.Chart, filtered)


def _data(values: Sequence[Mapping[str, Any]]) -> alt.Data:
    """Inline data; a missing figure is left out (a tooltip skips it rather than print null)."""
    rows = [{k: x for k, x in v.items() if x is not None} for v in values]
    return alt.Data(values=rows)  # type: ignore[no-untyped-call]


def _finish(chart: alt.TopLevelMixin, title: str) -> Spec:
    # Validated against the Vega-Lite schema in the tests (test_publish), not on every rendering.
    spec: Spec = chart.properties(title=title).to_dict(validate=VALIDATE)
    spec.pop("$schema", None)  # a link, never fetched; kept out so the files stay offline
    return spec


def _tooltip(*fields: tuple[str, str]) -> list[alt.Tooltip]:
    tips = [alt.Tooltip(f"{name}:N") for name in WHO]
    return tips + [alt.Tooltip(f"{name}:N", title=title) for name, title in fields]


def _map(facts: Facts, axes: Axes) -> alt.TopLevelMixin:
    data = []
    for fact in facts:
        peak, expected = fact.get("concurrency_peak"), fact.get("concurrency_expected")
        shown = fact.get("concurrency_verdict") or ("failed" if fact["status"] == "ok" else fact["status"])
        label = "" if peak is None else str(peak) + (f" ≠{expected}" if expected not in (None, peak) else "")
        promise = "no capacity to promise" if expected is None else str(expected)
        data.append({**fact, "shown": shown, "label": label, "promise": promise})
    base = alt.Chart(_data(data)).encode(
        x=alt.X("server:N", sort=axes.servers, title=None, axis=alt.Axis(orient="top", labelAngle=-35)),
        y=alt.Y("row:N", sort=axes.rows, title=None, axis=alt.Axis(labelLimit=400)),
        # on the label too, which lies over the rectangle
        tooltip=_tooltip(
            ("shown", "verdict"),
            ("concurrency_peak", "peak"),
            ("promise", "options promise"),
            ("concurrency_wall_s", "wall (s)"),
            ("concurrency_errors", "failed requests"),
            ("repeats", "repeats"),
            ("reason", "why not run"),
        ),
    )
    colours = {k: v for k, v in VERDICT_COLOURS.items() if any(d["shown"] == k for d in data)}
    rect = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color(
            "shown:N",
            title="verdict",
            scale=alt.Scale(domain=list(colours), range=list(colours.values())),
        ),
    )
    text = base.mark_text(fontSize=11).encode(text="label:N")
    layered = alt.layer(rect, text).properties(
        width=max(70 * len(axes.servers), 300), height=22 * len(axes.rows)
    )
    return axes.filtered(layered)


def _changes(facts: Facts, axes: Axes) -> alt.TopLevelMixin:
    data = [f for f in facts if f.get("concurrency_peak") is not None]
    y = alt.Y("row:N", sort=axes.rows, title=None, axis=alt.Axis(labelLimit=400))
    x = alt.X("concurrency_peak:Q", title="peak", scale=alt.Scale(domainMin=0))
    tips = _tooltip(("concurrency_verdict", "verdict"), ("concurrency_peak", "peak"), ("change", "change"))
    line = alt.Chart().mark_line(color="#999999").encode(x=x, y=y, detail="group:N", order="row_index:Q")
    points = (
        alt.Chart()
        .mark_point(filled=True, size=40)
        .encode(
            x=x,
            y=y,
            color=alt.Color(
                "concurrency_verdict:N",
                title="verdict",
                scale=alt.Scale(
                    domain=["serial", "concurrent"],
                    range=[VERDICT_COLOURS["serial"], VERDICT_COLOURS["concurrent"]],
                ),
            ),
            tooltip=tips,
        )
    )
    marks = (
        alt.Chart()
        .mark_point(shape="diamond", size=220, strokeWidth=2, color="#000000")
        .encode(x=x, y=y, tooltip=tips)
        .transform_filter("datum.change != ''")
    )
    layered = alt.layer(line, points, marks, data=_data(data)).properties(
        width=80, height=22 * len(axes.rows)
    )
    faceted = layered.facet(column=alt.Column("server:N", sort=axes.servers, title=None), spacing=6)
    return axes.filtered(faceted)


def _per_machine(facts: Facts, axes: Axes, panel: Callable[[Facts], alt.TopLevelMixin]) -> alt.TopLevelMixin:
    """One panel, or one per machine with its own scales and a title naming it."""
    if len(axes.machines) <= 1:
        return panel(facts)
    panels = [
        panel([f for f in facts if f["machine"] == machine]).properties(title=f"Measured on {machine}")
        for machine in axes.machines
        if any(f["machine"] == machine for f in facts)
    ]
    return cast(alt.TopLevelMixin, alt.vconcat(*panels).resolve_scale(x="independent"))


def _throughput(facts: Facts, axes: Axes) -> alt.TopLevelMixin:
    def panel(part: Facts) -> alt.TopLevelMixin:
        data = _data(part)
        y = alt.Y("server:N", sort=axes.servers, title=None)
        offset = alt.YOffset("row:N", sort=axes.rows)
        colour = alt.Color(
            "row:N", sort=axes.rows, title="row", scale=ROW_COLOURS, legend=alt.Legend(labelLimit=400)
        )
        tips = _tooltip(
            (field_name("throughput", "rps"), "requests/s"),
            (field_name("throughput", "latency_ms.p50"), "p50 (ms)"),
            (field_name("throughput", "latency_ms.p99"), "p99 (ms)"),
            (field_name("throughput", "errors"), "errors"),
            (field_name("throughput", "generator"), "generator"),
            ("throughput_unstable", "unstable"),
        )
        height = max(14 * len(axes.servers) * max(len(axes.rows) // 3, 1), 200)
        rps = axes.filtered(
            alt.Chart(data)
            .mark_bar()
            .encode(
                x=alt.X("throughput_rps:Q", title="requests per second"), y=y, yOffset=offset, color=colour
            )
            .encode(tooltip=tips)
            .properties(width=320, height=height)
        )
        p50, p99 = field_name("throughput", "latency_ms.p50"), field_name("throughput", "latency_ms.p99")
        latency_x = alt.X(f"{p50}:Q", title="latency p50 (dot) to p99 (ms)", scale=alt.Scale(type="log"))
        spans = (
            alt.Chart(data).mark_rule().encode(x=latency_x, x2=f"{p99}:Q", y=y, yOffset=offset, color=colour)
        )
        dots = (
            alt.Chart(data)
            .mark_point(filled=True)
            .encode(x=latency_x, y=y, yOffset=offset, color=colour, tooltip=tips)
        )
        latency = axes.filtered(alt.layer(spans, dots).properties(width=320, height=height))
        return alt.hconcat(rps, latency)

    return _per_machine(facts, axes, panel)


def _server_bars(
    data: Sequence[Mapping[str, Any]],
    axes: Axes,
    x: alt.X,
    colour: alt.Color,
    tooltip: list[alt.Tooltip],
    **more: Any,
) -> alt.Chart:
    """Horizontal bars, a band per server and a bar per row in it, filterable."""
    bars = (
        alt.Chart(_data(data))
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y("server:N", sort=axes.servers, title=None),
            yOffset=alt.YOffset("row:N", sort=axes.rows),
            color=colour,
            tooltip=tooltip,
            **more,
        )
        .properties(width=420, height=30 * len(axes.servers))
    )
    return axes.filtered(bars)


def _cpu(facts: Facts, axes: Axes) -> alt.TopLevelMixin:
    def panel(part: Facts) -> alt.TopLevelMixin:
        return _server_bars(
            part,
            axes,
            alt.X("cpu_speedup:Q", title="speed-up (1 = no gain from running at once)"),
            alt.Color(
                "row:N", sort=axes.rows, title="row", scale=ROW_COLOURS, legend=alt.Legend(labelLimit=400)
            ),
            _tooltip(
                ("cpu_speedup", "speed-up"),
                ("cpu_speedup_per_process", "speed-up per process"),
                ("cpu_processes", "processes"),
                ("cpu_sequential_s", "one after another (s)"),
                ("cpu_concurrent_s", "all at once (s)"),
            ),
        )

    return _per_machine(facts, axes, panel)


def _burst(facts: Facts, axes: Axes) -> alt.TopLevelMixin:
    outcomes = {
        "completed": "burst_completed",
        "refused": "burst_refused",
        "reset": "burst_reset",
        "timed out": "burst_timed_out",
        "other": "burst_other",
    }

    def panel(part: Facts) -> alt.TopLevelMixin:
        data = [
            {**{k: f[k] for k in WHO}, "python": f["python"], "outcome": outcome, "requests": f.get(key) or 0}
            for f in part
            for outcome, key in outcomes.items()
        ]
        return _server_bars(
            data,
            axes,
            alt.X("sum(requests):Q", title="requests of the burst"),
            alt.Color(
                "outcome:N",
                scale=alt.Scale(domain=list(OUTCOME_COLOURS), range=list(OUTCOME_COLOURS.values())),
            ),
            _tooltip(("outcome", "ended"), ("requests", "requests")),
            order=alt.Order("outcome:N"),
        )

    return _per_machine(facts, axes, panel)


def _slow(facts: Facts, axes: Axes) -> alt.TopLevelMixin:
    data = [{**f, "answer": "served" if f.get("slow_client_served") else "blocked"} for f in facts]
    return _server_bars(
        data,
        axes,
        alt.X("slow_client_waited_s:Q", title="seconds the ordinary request waited"),
        alt.Color(
            "answer:N",
            title="ordinary request",
            scale=alt.Scale(domain=["served", "blocked"], range=["#1b9e77", "#d95f02"]),
        ),
        _tooltip(
            ("answer", "ordinary request"),
            ("slow_client_stalled", "stalled connections"),
            ("slow_client_waited_s", "waited (s)"),
            ("slow_client_wait_limit_s", "gave up after (s)"),
        ),
    )
