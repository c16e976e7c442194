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

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Union, cast

import altair as alt

from runner.measuring.probes import PROBES
from runner.measuring.probes.base import Bars, Map, Outcomes, RateAndSpan, Steps
from runner.publish.tidy import field_name

Shape = Union[Map, Steps, Bars, Outcomes, RateAndSpan]

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
VALIDATE = False
ROW_COLOURS = alt.Scale(scheme="tableau20")
WHO = ["cell", "row", "server", "flask", "werkzeug", "python", "machine"]


@dataclass(frozen=True)
class ChartSpec:
    name: str
    title: str
    spec: Spec


def charts(facts: Facts, changed_cells: Mapping[str, str]) -> list[ChartSpec]:
    """Every chart the run's data supports, in the registry's order: each
    probe's charts (:attr:`runner.measuring.probes.base.Probe.charts`), each
    drawn by its shape where at least one cell has the figure it needs.

    ``changed_cells`` maps each cell that differs in verdict from its
    neighbour above to the change's text (``serial -> concurrent``).
    """
    axes = Axes.of(facts)
    out = []
    for name, probe in PROBES.items():
        for chart in probe.charts:
            measured = [f for f in facts if f.get(field_name(name, chart.needs)) is not None]
            if not measured:
                continue
            # The map shows every cell, the ones that did not run too.
            data = facts if isinstance(chart.shape, Map) else measured
            if isinstance(chart.shape, Steps):  # each change marked where it happened
                data = [{**f, "change": changed_cells.get(f["cell"], "")} for f in data]
            drawn = _draw(name, chart.shape, data, axes, machine_bound=probe.machine_bound)
            out.append(ChartSpec(chart.name, chart.title, _finish(drawn, chart.title)))
    return out


def _draw(probe: str, shape: Shape, facts: Facts, axes: Axes, *, machine_bound: bool) -> alt.TopLevelMixin:
    """The chart of ``shape`` for ``probe``'s figures; one panel per machine where they depend on it."""
    if isinstance(shape, Map):
        return _map(facts, axes, probe)
    if isinstance(shape, Steps):
        return _changes(facts, axes, probe)
    panel: Callable[[Facts], alt.TopLevelMixin]
    if isinstance(shape, Bars):
        panel = partial(_bars, shape=shape, axes=axes, probe=probe)
    elif isinstance(shape, Outcomes):
        panel = partial(_outcomes, shape=shape, axes=axes, probe=probe)
    else:
        panel = partial(_rate_and_span, shape=shape, axes=axes, probe=probe)
    return _per_machine(facts, axes, panel) if machine_bound else panel(facts)


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


# The rows of each chart's data until its spec is made: altair walks inline
# values item by item as it serialises a chart (5 of the 16 s of a 952-cell
# report), so a chart names its data, and its spec gets the rows inline after.
_PENDING: dict[str, list[dict[str, Any]]] = {}
_NAMES = itertools.count()


def _data(values: Sequence[Mapping[str, Any]]) -> alt.NamedData:
    """Inline data; a missing figure is left out (a tooltip skips it rather than print null)."""
    name = f"rows-{next(_NAMES)}"
    _PENDING[name] = [{k: x for k, x in v.items() if x is not None} for v in values]
    return alt.NamedData(name=name)


def _finish(chart: alt.TopLevelMixin, title: str) -> Spec:
    # Validated against the Vega-Lite schema in the tests (test_publish), not on every rendering.
    spec: Spec = chart.properties(title=title).to_dict(validate=VALIDATE)
    spec.pop("$schema", None)  # a link, never fetched; kept out so the files stay offline
    used: set[str] = set()
    inlined = cast(Spec, _inlined(spec, used))
    for name in used:  # a chart's data may be named in several of its parts
        del _PENDING[name]
    return inlined


def _inlined(node: Any, used: set[str]) -> Any:
    """``node`` with each named data of :data:`_PENDING` as its rows inline."""
    if isinstance(node, dict):
        if len(node) == 1 and node.get("name") in _PENDING:
            used.add(node["name"])
            return {"values": _PENDING[node["name"]]}
        return {key: _inlined(value, used) for key, value in node.items()}
    if isinstance(node, list):
        return [_inlined(value, used) for value in node]
    return node


def _tooltip(*fields: tuple[str, str]) -> list[alt.Tooltip]:
    tips = [alt.Tooltip(f"{name}:N") for name in WHO]
    return tips + [alt.Tooltip(f"{name}:N", title=title) for name, title in fields]


def _map(facts: Facts, axes: Axes, probe: str) -> alt.TopLevelMixin:
    peak_field, verdict_field = field_name(probe, "peak"), field_name(probe, "verdict")
    data = []
    for fact in facts:
        peak, expected = fact.get(peak_field), fact.get(field_name(probe, "expected"))
        shown = fact.get(verdict_field) or ("failed" if fact["status"] == "ok" else fact["status"])
        label = "" if peak is None else str(peak) + (f" ≠{expected}" if expected not in (None, peak) else "")
        promise = "no capacity to promise" if expected is None else str(expected)
        data.append({**fact, "shown": shown, "label": label, "promise": promise})
    base = alt.Chart(_data(data)).encode(
        x=alt.X("server:N", sort=axes.servers, title=None, axis=alt.Axis(orient="top", labelAngle=-35)),
        y=alt.Y("row:N", sort=axes.rows, title=None, axis=alt.Axis(labelLimit=400)),
        # on the label too, which lies over the rectangle
        tooltip=_tooltip(
            ("shown", "verdict"),
            (peak_field, "peak"),
            ("promise", "options promise"),
            (field_name(probe, "wall_s"), "wall (s)"),
            (field_name(probe, "errors"), "failed requests"),
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


def _changes(facts: Facts, axes: Axes, probe: str) -> alt.TopLevelMixin:
    peak_field, verdict_field = field_name(probe, "peak"), field_name(probe, "verdict")
    data = [f for f in facts if f.get(peak_field) is not None]
    y = alt.Y("row:N", sort=axes.rows, title=None, axis=alt.Axis(labelLimit=400))
    x = alt.X(f"{peak_field}:Q", title="peak", scale=alt.Scale(domainMin=0))
    tips = _tooltip((verdict_field, "verdict"), (peak_field, "peak"), ("change", "change"))
    line = alt.Chart().mark_line(color="#999999").encode(x=x, y=y, detail="group:N", order="row_index:Q")
    points = (
        alt.Chart()
        .mark_point(filled=True, size=40)
        .encode(
            x=x,
            y=y,
            color=alt.Color(
                f"{verdict_field}:N",
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


def _tips(probe: str, tips: Sequence[tuple[str, str]]) -> list[alt.Tooltip]:
    return _tooltip(*((field_name(probe, figure), title) for figure, title in tips))


def _by_row(axes: Axes) -> alt.Color:
    return alt.Color(
        "row:N", sort=axes.rows, title="row", scale=ROW_COLOURS, legend=alt.Legend(labelLimit=400)
    )


def _rate_and_span(facts: Facts, *, shape: RateAndSpan, axes: Axes, probe: str) -> alt.TopLevelMixin:
    data = _data(facts)
    y = alt.Y("server:N", sort=axes.servers, title=None)
    offset = alt.YOffset("row:N", sort=axes.rows)
    colour = _by_row(axes)
    tips = _tips(probe, shape.tips)
    height = max(14 * len(axes.servers) * max(len(axes.rows) // 3, 1), 200)
    rate_field = field_name(probe, shape.rate)
    rate = axes.filtered(
        alt.Chart(data)
        .mark_bar()
        .encode(x=alt.X(f"{rate_field}:Q", title=shape.rate_axis), y=y, yOffset=offset, color=colour)
        .encode(tooltip=tips)
        .properties(width=320, height=height)
    )
    low, high = field_name(probe, shape.low), field_name(probe, shape.high)
    span_x = alt.X(f"{low}:Q", title=shape.span_axis, scale=alt.Scale(type="log"))
    spans = alt.Chart(data).mark_rule().encode(x=span_x, x2=f"{high}:Q", y=y, yOffset=offset, color=colour)
    dots = (
        alt.Chart(data)
        .mark_point(filled=True)
        .encode(x=span_x, y=y, yOffset=offset, color=colour, tooltip=tips)
    )
    span = axes.filtered(alt.layer(spans, dots).properties(width=320, height=height))
    return alt.hconcat(rate, span)


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


def _bars(facts: Facts, *, shape: Bars, axes: Axes, probe: str) -> alt.TopLevelMixin:
    x = alt.X(f"{field_name(probe, shape.figure)}:Q", title=shape.axis)
    if not shape.by:
        return _server_bars(facts, axes, x, _by_row(axes), _tips(probe, shape.tips))
    (yes, yes_colour), (no, no_colour) = shape.labels
    by = field_name(probe, shape.by)
    data = [{**f, "answer": yes if f.get(by) else no} for f in facts]
    colour = alt.Color(
        "answer:N", title=shape.by_title, scale=alt.Scale(domain=[yes, no], range=[yes_colour, no_colour])
    )
    tips = _tooltip(("answer", shape.by_title), *((field_name(probe, f), t) for f, t in shape.tips))
    return _server_bars(data, axes, x, colour, tips)


def _outcomes(facts: Facts, *, shape: Outcomes, axes: Axes, probe: str) -> alt.TopLevelMixin:
    data = [
        {**{k: f[k] for k in WHO}, "outcome": label, "requests": f.get(field_name(probe, figure)) or 0}
        for f in facts
        for label, figure, _ in shape.parts
    ]
    colour = alt.Color(
        "outcome:N",
        scale=alt.Scale(domain=[p[0] for p in shape.parts], range=[p[2] for p in shape.parts]),
    )
    tips = _tooltip(("outcome", "ended"), ("requests", "requests"))
    x = alt.X("sum(requests):Q", title=shape.axis)
    return _server_bars(data, axes, x, colour, tips, order=alt.Order("outcome:N"))
