"""``report.html``: the report as one page that needs no network.

The page holds its style, the charts' specs and the vega-embed library
(Vega, Vega-Lite and vega-embed in one script, from vl-convert, which keeps
them for offline use), so it opens from a file, an e-mail attachment or a CI
artifact as it is.  The library is bundled once per vl-convert version and
kept in a cache, as bundling it takes seconds.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from runner import settings
from runner.files import gzipped_json, write_text
from runner.publish.charts import ChartSpec
from runner.publish.doc import Block, html_body
from runner.records.record import CellRecord, RunMeta

STYLE = """
:root { --fg: #222; --bg: #fff; --muted: #666; --line: #ddd; --head: #f6f6f6; --zebra: #fbfbfb;
        --code: #f3f3f3; --link: #0b57d0; --panel: #fff; color-scheme: light dark; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6e6e6; --bg: #16181c; --muted: #a0a4ab; --line: #3a3d44; --head: #23262c;
          --zebra: #1b1e23; --code: #2a2d33; --link: #8ab4f8; --panel: #1f2227; }
  .chart svg { background: #fff; border-radius: 3px; }
}
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1rem auto;
       max-width: 1200px; padding: 0 1rem; color: var(--fg); background: var(--bg); }
a { color: var(--link); }
h1 { font-size: 1.5rem; margin: .2rem 0; } h1 + p { margin: .2rem 0; color: var(--muted); font-size: 13px; }
nav.toc { font-size: 13px; margin: .3rem 0 .2rem; } nav.toc a { margin-right: .8rem; white-space: nowrap; }
details.section > summary { cursor: pointer; list-style: none; }
details.section > summary::-webkit-details-marker { display: none; }
details.section > summary h2 { display: inline-block; margin: 1rem 0 .3rem; font-size: 1.25rem; }
details.section > summary::before { content: "\\25be  "; color: var(--muted); }
details.section:not([open]) > summary::before { content: "\\25b8  "; }
details.section > summary { border-bottom: 1px solid var(--line); }
ol.findings { margin: .3rem 0; padding-left: 1.4rem; font-size: 14px; }
ol.findings li { margin: 0 0 .25rem; } ol.findings p { margin: 0; }
ol.findings .meta { color: var(--muted); font-size: 12px; }
ol.findings .meta details { display: inline; } ol.findings .meta summary { display: inline; cursor: pointer; }
code { background: var(--code); padding: 0 .25em; border-radius: 3px; font-size: 90%; }
.table { overflow-x: auto; } table { border-collapse: separate; border-spacing: 0; font-size: 13px;
        margin: .5rem 0 1rem; }
th, td { border: 1px solid var(--line); padding: 3px 7px; text-align: left; white-space: nowrap;
         background: var(--bg); }
th { background: var(--head); position: sticky; top: 0; } tr:nth-child(even) td { background: var(--zebra); }
th:first-child, td:first-child { position: sticky; left: 0; z-index: 1; box-shadow: 1px 0 0 var(--line); }
td.wrap { white-space: normal; min-width: 24rem; } pre.compare { white-space: pre-wrap; font-size: 13px; }
td[data-cell] { cursor: pointer; }
td[data-cell]:hover { outline: 2px solid var(--link); outline-offset: -2px; }
figure { margin: .5rem 0; overflow: auto; max-height: 88vh; } figure.tall { max-height: none; }
figcaption { color: var(--muted); font-size: 13px; }
details.fold > summary { cursor: pointer; } details.fold > summary > h3 { display: inline; }
.vega-bind { display: inline-block; margin-right: 1.2rem; font-size: 13px; }
.chart-error { color: #b00; }
dialog#cell-panel { max-width: min(900px, 92vw); max-height: 85vh; overflow: auto; color: var(--fg);
                    background: var(--panel); border: 1px solid var(--line); border-radius: 6px; }
dialog#cell-panel pre { background: var(--code); padding: .5rem; overflow-x: auto; font-size: 12px; }
dialog#cell-panel table { font-size: 12px; }
@media print {
  body { max-width: none; color: #000; background: #fff; }
  nav.toc, dialog { display: none; }
  details.section > summary::before { content: ""; }
  details::details-content { content-visibility: visible; display: block; }
  .table, figure { overflow: visible; max-height: none; } th, td { position: static; }
}
"""

# Each chart div gets its spec; a chart that fails says so in its place and
# on the console, so that a test (or a reader) sees it.  A cell's name, or a
# table cell of the matrix, opens the panel with that cell's record.
SCRIPT = """
async function unpack(text) {
  const bytes = Uint8Array.from(atob(text.trim()), (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return JSON.parse(await new Response(stream).text());
}
function island(id) {
  return unpack(document.getElementById(id).textContent);
}
function draw(target, spec) {
  return vegaEmbed(target, spec, {actions: false, renderer: "svg"})
    .then(() => target.setAttribute("data-drawn", "yes"))
    .catch((error) => {
      target.textContent = "This chart could not be drawn: " + error;
      target.className = "chart-error";
      console.error(error);
    });
}
island("chart-specs").then((specs) => {
  for (const [name, spec] of Object.entries(specs)) draw(document.getElementById("chart-" + name), spec);
}).catch((error) => console.error(error));
const cellsReady = island("cell-records");
const panel = document.getElementById("cell-panel");
function add(parent, tag, text) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  parent.appendChild(node);
  return node;
}
function rows(parent, pairs) {
  const body = add(add(parent, "table"), "tbody");
  for (const [key, value] of pairs) {
    const row = add(body, "tr");
    add(row, "th", key);
    add(row, "td", typeof value === "string" ? value : JSON.stringify(value));
  }
}
async function openCell(name) {
  const cell = (await cellsReady)[name];
  if (!cell) return;
  const body = panel.querySelector(".body");
  body.replaceChildren();
  add(body, "h3", name);
  rows(body, [["status", cell.status + (cell.reason ? ": " + cell.reason : "")],
              ["measured", cell.measured], ["versions", cell.versions], ["server", cell.server],
              ["options", cell.options]]);
  add(body, "h4", "Figures");
  rows(body, Object.entries(cell.probes));
  if (cell.packages && Object.keys(cell.packages).length) {
    add(body, "h4", "Installed");
    add(body, "p", Object.entries(cell.packages).map(([k, v]) => k + " " + v).join(", "));
  }
  if (cell.reproduce) {
    add(body, "h4", "Measure it again");
    add(body, "pre", cell.reproduce);
  }
  if (cell.log_tail.length) {
    add(body, "h4", "Log tail");
    add(body, "pre", cell.log_tail.join("\\n"));
  }
  panel.dataset.showing = name;
  if (!panel.open) panel.showModal();
}
// A cell's name is a link to "#cell=<name>"; a table cell carries its name.
function cellOf(node) {
  if (node.dataset.cell) return node.dataset.cell;
  return decodeURIComponent(node.getAttribute("href").slice("#cell=".length));
}
document.addEventListener("click", (event) => {
  const target = event.target.closest("td[data-cell], a.cell");
  if (target) { event.preventDefault(); openCell(cellOf(target)); }
});
for (const td of document.querySelectorAll("td[data-cell]")) td.tabIndex = 0;
document.addEventListener("keydown", (event) => {
  const target = event.target.closest && event.target.closest("td[data-cell]");
  if (target && event.key === "Enter") openCell(target.dataset.cell);
});
panel.querySelector("button").addEventListener("click", () => panel.close());
// Print shows every section, the collapsed ones too, and folds them again after.
function unfold() {
  for (const d of document.querySelectorAll("details:not([open])")) {
    d.dataset.folded = "yes";
    d.open = true;
  }
}
function refold() {
  for (const d of document.querySelectorAll("details[data-folded]")) {
    d.open = false;
    delete d.dataset.folded;
  }
}
matchMedia("print").addEventListener("change", (event) => (event.matches ? unfold() : refold()));
addEventListener("beforeprint", unfold);
addEventListener("afterprint", refold);
const asked = decodeURIComponent(location.hash.slice(1));
if (asked.startsWith("cell=")) openCell(asked.slice(5));
"""

# The command that rebuilds a cell from its record and measures it again (runner.reproduce).
REPRODUCE = "nox -s reproduce -- {run} {cell}"

PANEL = (
    '<dialog id="cell-panel" aria-label="A cell\'s record">'
    '<form method="dialog"><button type="button">Close</button></form><div class="body"></div></dialog>'
)


def cell_records(records: Sequence[CellRecord], run: str = "RUN_DIR") -> dict[str, dict[str, Any]]:
    """What a cell's panel shows: versions, server and options, each probe's
    figures (with every run's yes/no), the reason, the log tail, and the
    command that measures it again from ``run`` (a run folder, or its records)."""
    out: dict[str, dict[str, Any]] = {}
    for record in records:
        probes: dict[str, Any] = {}
        for name, outcome in record.probes.items():
            figures: dict[str, Any] = (
                outcome.result.to_dict() if outcome.result is not None else {"error": outcome.error}
            )
            if outcome.said:
                figures["runs said"] = list(outcome.said)
            if outcome.repeats.n > 1:
                figures["runs"] = outcome.repeats.n
            probes[name] = figures
        out[record.cell] = {
            "status": record.status.value,
            "reason": record.reason or "",
            "measured": f"in run {record.reused.run} on {record.reused.date}, reused here (same inputs)"
            if record.reused
            else "in this run",
            "versions": f"Flask {record.flask or record.asked.flask}, Werkzeug {record.werkzeug or '?'}, "
            f"Python {record.python or record.asked.python}",
            "server": record.kind,
            "options": dict(record.options),
            "packages": dict(record.packages),
            "probes": probes,
            "log_tail": list(record.log_tail[-40:]),
            "reproduce": REPRODUCE.format(run=run, cell=record.cell) if record.ok else "",
        }
    return out


def vega_embed_script() -> str:
    """vega-embed with Vega and Vega-Lite, as one script with no imports."""
    import vl_convert

    version = getattr(vl_convert, "__version__", "unknown")
    cached = settings.current().cache_dir / f"vega-embed-vl-convert-{version}.js"
    if cached.exists():
        return cached.read_text(encoding="utf-8")
    bundle: Callable[..., str] = vl_convert.javascript_bundle  # its stub makes the optional snippet required
    script = bundle()
    write_text(cached, script)
    return script


ISLAND = "application/gzip;base64"  # the type of a data island: gzip of JSON, in base64


def packed(data: object) -> str:
    """gzip of ``data``'s JSON, in base64, as the page's ``unpack`` reads it."""
    return base64.b64encode(gzipped_json(data)).decode("ascii")


def island(name: str, data: object) -> str:
    """``data`` as a ``<script>`` element the page decodes itself (DecompressionStream):
    gzip of its JSON, in base64, whose letters cannot end or confuse the element.
    The same data give the same bytes (no time in the gzip header)."""
    return f'<script type="{ISLAND}" id="{name}">{packed(data)}</script>'


def islands(page: str) -> dict[str, Any]:
    """Every data island of a page, decoded (what the page's script reads)."""
    found = re.finditer(
        rf'<script type="{re.escape(ISLAND)}" id="([a-z-]+)">([A-Za-z0-9+/=]*)</script>', page
    )
    return {m.group(1): json.loads(gzip.decompress(base64.b64decode(m.group(2)))) for m in found}


def _script_safe(text: str) -> str:
    """A script (the bundled library, not data) that cannot end its element
    (``<\\/`` is ``</`` inside a JavaScript string, the only place it can be)."""
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)


LIBRARY = "vega-embed.js"  # the names of a site's shared files, in its assets folder
STYLE_FILE = "page.css"
SCRIPT_FILE = "page.js"


def shared_assets() -> dict[str, str]:
    """What a site's pages share, by name: the chart library, the style and the page's script."""
    return {LIBRARY: vega_embed_script(), STYLE_FILE: STYLE, SCRIPT_FILE: SCRIPT}


def _style_and_code(assets: str | None, scripts: Sequence[str]) -> tuple[str, list[str]]:
    """The style and the scripts, inline, or the site's shared files by relative path."""
    if assets is None:
        style = f"<style>{STYLE}</style>"
        code = [f"<script>{_script_safe(vega_embed_script())}</script>", f"<script>{SCRIPT}</script>"]
    else:
        style = f'<link rel="stylesheet" href="{html.escape(f"{assets}/{STYLE_FILE}")}">'
        code = [
            f'<script src="{html.escape(f"{assets}/{name}")}"></script>' for name in (LIBRARY, SCRIPT_FILE)
        ]
    return style, code + [f'<script src="{html.escape(src)}"></script>' for src in scripts]


def page_html(
    meta: RunMeta,
    blocks: Sequence[Block],
    drawn: Sequence[ChartSpec],
    records: Sequence[CellRecord] = (),
    *,
    assets: str | None = None,
    title: str | None = None,
    extra: str = "",
    scripts: Sequence[str] = (),
    cited_as: str | None = None,
) -> str:
    """The page, whole; with ``assets`` (a relative path to a site's assets
    folder), the library, style and script are files there that a site's
    pages share (:func:`shared_assets`).  ``extra`` is HTML put after the
    blocks (a site's own links and tables); ``scripts`` are relative paths
    of scripts run after the page's own; ``cited_as`` is the path the panel's
    reproduce command names (default ``results/runs/<run>``)."""
    specs = {chart.name: chart.spec for chart in drawn}
    shown = cell_records(records, cited_as or f"results/runs/{meta.run}")
    body = html_body(blocks, list(specs), shown) + extra
    title = html.escape(title or f"Flask concurrency matrix: run {meta.run}")
    style, code = _style_and_code(assets, scripts)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{title}</title>",
            style,
            "</head>",
            "<body>",
            "<noscript><p>The charts need JavaScript; the tables below do not.</p></noscript>",
            body,
            PANEL,
            island("chart-specs", specs),
            island("cell-records", shown),
            *code,
            "</body>",
            "</html>",
            "",
        ]
    )
