"""A report as a list of blocks, and the two ways it is written out.

The report is made once, as blocks (headings, paragraphs, lists, tables and
charts); :func:`markdown` writes it for ``report.md`` and :func:`html_body`
for the self-contained page, so the two never say different things.
Paragraph and list text is Markdown's inline subset this project uses:
```code``` spans only.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Union

from tabulate import tabulate


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2
    folded: bool = False  # in the page, a section that starts collapsed (detail a reader opens)


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]

    def shown(self) -> list[str]:
        """The items, each once: one that comes again (the same finding in
        several blocks of rows, or copies) says how many times, where it first came."""
        return [f"{item} ({n} times)" if n > 1 else item for item, n in counted(self.items)]


def counted(items: Sequence[str]) -> list[tuple[str, int]]:
    """Each item once, in the order it first came, with how many times it came."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return list(counts.items())


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    # the cell of the matrix behind each table cell ("" for none): in the
    # page, clicking it opens that cell's record
    links: tuple[tuple[str, ...], ...] = ()

    def markdown(self) -> str:
        def cell(text: str) -> str:
            return inert(text).replace("|", "\\|")

        rows = [tuple(cell(c) for c in row) for row in self.rows]
        return tabulate(
            rows, headers=[cell(h) for h in self.headers], tablefmt="github", disable_numparse=True
        )


@dataclass(frozen=True)
class Chart:
    """A chart drawn from the run's data; ``name`` is its file name and id."""

    name: str
    title: str


@dataclass(frozen=True)
class Finding:
    """One finding of the summary: a sentence, its key figure, how sure it
    is, and the cells it rests on (see :mod:`runner.publish.summary`)."""

    text: str
    figure: str
    sure: str
    cells: tuple[str, ...]

    def meta(self) -> str:
        """``figure; how sure; N cells``, as the terminal and report.md give it."""
        parts = [p for p in (self.figure, self.sure) if p]
        return "; ".join(parts)


@dataclass(frozen=True)
class Findings:
    items: tuple[Finding, ...]


Block = Union[Heading, Para, Bullets, Table, Chart, Findings]


def markdown(blocks: Sequence[Block], images: Mapping[str, str] | None = None) -> str:
    """The report as Markdown; a chart is its image at ``images[name]`` (a relative path)."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {inert(block.text)}")
        elif isinstance(block, Para):
            out.append(inert(block.text))
        elif isinstance(block, Bullets):
            out.append("\n".join(f"- {inert(item)}" for item in block.shown()))
        elif isinstance(block, Table):
            out.append(block.markdown())
        elif isinstance(block, Findings):
            out.append(
                "\n".join(
                    f"{n}. {inert(f.text)} ({inert(f.meta())}; {cells_cited(f.cells)})"
                    for n, f in enumerate(block.items, 1)
                )
            )
        elif images and block.name in images:
            out.append(f"![{block.title}]({images[block.name]})")
        else:
            continue
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def cells_cited(names: Sequence[str]) -> str:
    """``cell `a```, ``cells `a`, `b```, or ``cells `a` to `z`, 14 in all``."""
    if len(names) == 1:
        return f"cell `{names[0]}`"
    if len(names) <= 3:
        return "cells " + ", ".join(f"`{n}`" for n in names)
    return f"cells `{names[0]}` to `{names[-1]}`, {len(names)} in all"


_CODE = re.compile(r"`([^`]+)`")
_SPAN = re.compile(r"(`[^`]+`)")
_LINE_BREAK = re.compile(r"[\r\n\u2028\u2029]+")


def inert(text: str) -> str:
    """Text a record may have put words into, unable to add markup to Markdown:
    no HTML or autolink (``<``), no link or image (``](``, ``][``), no new
    block (a line break).  Code spans, the one markup the report uses, stay."""
    text = _LINE_BREAK.sub(" ", text)
    # a code span shows ``<`` as itself and makes no HTML of it: only the text between spans is escaped
    parts = _SPAN.split(text)
    text = "".join(part if i % 2 else part.replace("<", "&lt;") for i, part in enumerate(parts))
    return text.replace("](", "]\\(").replace("][", "]\\[")


_CONTROL = re.compile(
    r"\x1b(\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves
    r"|\][^\x07\x1b]*(\x07|\x1b\\\\)?"  # OSC: window titles, links
    r"|.)?"  # any other escape
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"  # C0 and C1 controls but tab and line feed
)


def terminal_safe(text: str) -> str:
    """Text for a terminal: no escape sequence or control character a record
    may carry (a colour, a cursor move, a retitled window); lines and tabs stay."""
    return _CONTROL.sub("", text)


def inline_html(text: str, cells: Collection[str] = ()) -> str:
    """Escaped text with Markdown's code spans as ``<code>``; a code span that
    names a cell of the run opens its panel in the page."""

    def code(match: re.Match[str]) -> str:
        name = html.unescape(match.group(1))
        return cell_link(name) if name in cells else f"<code>{match.group(1)}</code>"

    return _CODE.sub(code, html.escape(text, quote=False))


def anchor_of(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def html_body(blocks: Sequence[Block], charts: Sequence[str], cells: Collection[str] = ()) -> str:
    """The report's blocks as HTML: each section (a level-2 heading and what
    follows it) a ``<details>`` that can be collapsed, a table of contents
    before the first, a chart in ``charts`` a ``div`` for vega-embed, and
    every name of a cell in ``cells`` a link that opens its record."""
    out: list[str] = []
    toc = [(anchor_of(b.text), b.text) for b in blocks if isinstance(b, Heading) and b.level == 2]
    in_section = fold = False
    for block in blocks:
        if isinstance(block, Heading) and block.level == 2:
            if in_section:
                out.append("</div></details>")
            elif toc:
                links = " ".join(f'<a href="#{a}">{inline_html(t)}</a>' for a, t in toc)
                out.append(f'<nav class="toc" aria-label="Contents">{links}</nav>')
            opened = "" if block.folded else " open"
            out.append(
                f'<details class="section" id="{anchor_of(block.text)}"{opened}>'
                f"<summary><h2>{inline_html(block.text)}</h2></summary><div>"
            )
            in_section = True
        elif isinstance(block, Heading):
            level = block.level
            heading = f'<h{level} id="{anchor_of(block.text)}">{inline_html(block.text, cells)}</h{level}>'
            # a folded heading below a section's holds the one block after it, a click away
            out.append(f'<details class="fold"><summary>{heading}</summary>' if block.folded else heading)
            fold = block.folded
            continue
        elif isinstance(block, Para):
            out.append(f"<p>{inline_html(block.text, cells)}</p>")
        elif isinstance(block, Bullets):
            items = "".join(f"<li>{inline_html(item, cells)}</li>" for item in block.shown())
            out.append(f"<ul>{items}</ul>")
        elif isinstance(block, Table):
            out.append(_table_html(block, cells))
        elif isinstance(block, Findings):
            out.append(_findings_html(block, cells))
        elif isinstance(block, Chart) and block.name in charts:
            out.append(
                f'<figure><div class="chart" id="chart-{block.name}" data-chart="{block.name}"></div>'
                f"<figcaption>{inline_html(block.title)}</figcaption></figure>"
            )
        if fold:
            out.append("</details>")
            fold = False
    if in_section:
        out.append("</div></details>")
    return "\n".join(out)


def cell_link(name: str) -> str:
    """A cell's name that opens its panel (the page's script shows the record)."""
    safe = html.escape(name)
    return f'<a class="cell" href="#cell={safe}">{safe}</a>'


def _findings_html(block: Findings, cells: Collection[str]) -> str:
    items = []
    for finding in block.items:
        links = " ".join(cell_link(name) for name in finding.cells)
        count = "1 cell" if len(finding.cells) == 1 else f"{len(finding.cells)} cells"
        items.append(
            f"<li><p>{inline_html(finding.text, cells)}</p>"
            f'<div class="meta">{inline_html(finding.meta())}; '
            f"<details><summary>the {count} it rests on</summary>{links}</details></div></li>"
        )
    return f'<ol class="findings">{"".join(items)}</ol>'


def _table_html(table: Table, cells: Collection[str] = ()) -> str:
    head = "".join(f"<th>{inline_html(h)}</th>" for h in table.headers)
    rows = []
    for r, row in enumerate(table.rows):
        links = table.links[r] if r < len(table.links) else ()
        tds = []
        for c, text in enumerate(row):
            name = links[c] if c < len(links) else ""
            # the page's script makes each such cell focusable (no tabindex in every cell)
            attribute = f' data-cell="{html.escape(name)}"' if name and name in cells else ""
            tds.append(f"<td{attribute}>{inline_html(text, cells)}</td>")
        rows.append("<tr>" + "".join(tds) + "</tr>")
    table_html = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    return f'<div class="table">{table_html}</div>'
