"""What nginx buys: each yes/no of the registry, for each server alone, behind
nginx, and behind nginx without its buffering.

The grid is drawn from the columns that differ in nothing but what stands
in front (see :func:`runner.publish.answers.nginx_pairs`); each of its
entries says what the column said over every row measured: yes, no, varies
(with its counts), or each row's answer where rows differ.  The summary
says the grid in words: where nginx turns a "no" into a "yes", where its
buffering is what does it, and what it leaves as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runner.analysis import Inputs, RowView
from runner.measuring.probes import HEADLINE, PROBES
from runner.measuring.probes.base import Probe
from runner.publish.doc import Block, Finding, Heading, Para, Table
from runner.records.record import CellRecord

YES, NO, VARIES = "yes", "no", "varies"


@dataclass(frozen=True)
class Front:
    """A column alone, and the columns that put nginx in front of it, with
    its buffering (``buffered``) and without (``unbuffered``; "" for none)."""

    alone: str
    buffered: str
    unbuffered: str


def fronts(rows: Sequence[RowView], inputs: Inputs) -> list[Front]:
    from runner.publish.answers import nginx_pairs

    unbuffered = {
        c.server for row in rows for c in row.cells.values() if c.proxy_options.get("buffering") is False
    }
    found: dict[str, Front] = {}
    for pair in nginx_pairs(rows, inputs):
        was = found.get(pair.plain, Front(pair.plain, "", ""))
        if pair.front in unbuffered:
            found[pair.plain] = Front(was.alone, was.buffered, was.unbuffered or pair.front)
        else:
            found[pair.plain] = Front(was.alone, was.buffered or pair.front, was.unbuffered)
    return [f for f in found.values() if f.buffered]


def said(
    rows: Sequence[RowView], server: str, name: str, probe: Probe[Any]
) -> tuple[str, str, list[CellRecord]]:
    """What a column's yes/no said over the rows: YES, NO, VARIES or "" (not
    measured), the words for the table, and the cells."""
    assert probe.outcome is not None
    answers: list[tuple[str, str]] = []  # (value, row) for each row measured
    cells = []
    counts = [0, 0]
    for row in rows:
        record = row.cells.get(server)
        got = record.probe(name) if record is not None else None
        tally = got.tally(probe) if got is not None and got.result is not None else None
        if record is None or tally is None or tally.n == 0:
            continue
        cells.append(record)
        value = VARIES if tally.varies else YES if tally.value else NO
        counts[0] += tally.yes
        counts[1] += tally.no
        answers.append((value, row.flask))
    values = {v for v, _ in answers}
    if not values:
        return "", "", cells
    word = {YES: probe.outcome.yes, NO: probe.outcome.no}
    if values == {VARIES} or (VARIES in values and len(values) > 1):
        return VARIES, f"varies ({probe.outcome.no} in {counts[1]} of {sum(counts)} runs)", cells
    if len(values) == 1:
        value = values.pop()
        return value, word[value], cells
    return VARIES, ", ".join(f"{word[v]} (Flask {flask})" for v, flask in answers), cells


def conditions() -> list[tuple[str, Probe[Any]]]:
    """The registry's yes/no probes but the headline, in its order."""
    return [(n, p) for n, p in PROBES.items() if p.outcome is not None and n != HEADLINE]


def section(rows: Sequence[RowView], inputs: Inputs) -> list[Block]:
    """The grid, one line per condition and server, after the summary's words."""
    table = []
    links = []
    for front in fronts(rows, inputs):
        for name, probe in conditions():
            entries = [said(rows, column, name, probe) if column else ("", "", []) for column in _of(front)]
            if not entries[0][0] or not entries[1][0]:
                continue
            words = [
                entry[1] or ("not measured" if column else "-") for entry, column in zip(entries, _of(front))
            ]
            table.append((probe.title, f"`{front.alone}`", *words))
            links.append(("", "", *(entry[2][-1].cell if entry[2] else "" for entry in entries)))
    if not table:
        return []
    return [
        Heading("What nginx buys, condition by condition", folded=True),
        Para(
            "Each server alone, behind nginx (which buffers requests and answers by default), and behind "
            "nginx with `proxy_buffering` and `proxy_request_buffering` off, over every row measured."
        ),
        Table(
            ("Condition", "Server", "Alone", "Behind nginx", "nginx, no buffering"),
            tuple(table),
            tuple(links),
        ),
    ]


def _of(front: Front) -> tuple[str, str, str]:
    return (front.alone, front.buffered, front.unbuffered)


def finding(rows: Sequence[RowView], inputs: Inputs, sure: str) -> Finding | None:
    """The grid in words: what nginx turns from no to yes, what only its
    buffering does, what it makes worse, and the conditions it leaves alone."""
    helped: dict[str, list[str]] = {}
    buffering: dict[str, list[str]] = {}
    hurt: dict[str, list[str]] = {}  # "{title}: {yes} alone, {no} behind nginx" -> servers
    alike: list[str] = []
    cells: list[CellRecord] = []
    found = fronts(rows, inputs)
    for name, probe in conditions():
        assert probe.outcome is not None
        title = probe.title[0].lower() + probe.title[1:]
        differs, measured = False, False
        for front in found:
            alone, behind, bare = (said(rows, c, name, probe) if c else ("", "", []) for c in _of(front))
            if not alone[0] or not behind[0]:
                continue
            measured = True
            cells += alone[2] + behind[2] + bare[2]
            if alone[0] == NO and behind[0] == YES:
                helped.setdefault(title, []).append(front.alone)
                if bare[0] in (NO, VARIES):
                    buffering.setdefault(title, []).append(front.alone)
            elif alone[0] == YES and behind[0] in (NO, VARIES):
                turned = f"{title}: {probe.outcome.yes} alone, {behind[1]} behind nginx"
                hurt.setdefault(turned, []).append(front.alone)
            differs = differs or alone[0] != behind[0]
        if measured and not differs:
            alike.append(title)
    if not cells:
        return None
    parts = []
    if helped:
        parts.append("nginx in front keeps serving where the server alone did not, under " + _listed(helped))
    if buffering:
        parts.append("its buffering is what does it under " + _listed(buffering))
    if hurt:
        parts.append("the other way round under " + _listed(hurt))
    if alike:
        parts.append(("it" if parts else "nginx in front") + " changes nothing measured under " + _and(alike))
    if not parts:
        return None
    return Finding(
        text="; ".join(parts) + ".",
        figure=f"{len(found)} servers, alone and behind nginx",
        sure=sure,
        cells=tuple(sorted({c.cell for c in cells})),
    )


def _listed(by_title: dict[str, list[str]]) -> str:
    return _and([f"{title} ({', '.join(f'`{s}`' for s in servers)})" for title, servers in by_title.items()])


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# The faults a server protects against beyond speed: the registry's names.
PROTECTIONS = ("crash", "hang")


def protections(rows: Sequence[RowView], inputs: Inputs, sure: str) -> Finding | None:
    """What a server alone does after a crash and with a hung request, in one
    sentence: the recovery and time-outs a WSGI server buys."""
    from runner.analysis import proxied_columns

    proxied = proxied_columns(rows, inputs)
    plain = [s for s in inputs.servers if s not in proxied]
    parts, cells = [], []
    for name in PROTECTIONS:
        probe = PROBES[name]
        if probe.outcome is None:
            continue
        answers = {s: said(rows, s, name, probe) for s in plain}
        measured = {s: a for s, a in answers.items() if a[0]}
        if not measured:
            continue
        cells += [c for a in measured.values() for c in a[2]]
        by = {value: [s for s, a in measured.items() if a[0] == value] for value in (YES, NO, VARIES)}
        said_here = []
        for value, phrase in ((YES, probe.outcome.yes_phrase), (NO, probe.outcome.no_phrase)):
            if by[value]:
                said_here.append(f"{_names(by[value])} {phrase[len(by[value]) > 1]}")
        said_here += [f"`{s}` varies" for s in by[VARIES]]
        lead = probe.outcome.lead(inputs.probe_settings.get(name) or probe.defaults())
        parts.append(lead[0].lower() + lead[1:] + ", " + "; ".join(said_here))
    if not parts:
        return None
    return Finding(
        text="Beyond speed, alone: " + "; and ".join(parts) + ".",
        figure="crashes and hung requests, each server alone",
        sure=sure,
        cells=tuple(sorted({c.cell for c in cells})),
    )


def _names(servers: Sequence[str]) -> str:
    return _and([f"`{s}`" for s in servers])
