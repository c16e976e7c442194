"""``report.html``: the report as one page that needs no network.

The page holds its style, the charts' specs and the vega-embed library
(Vega, Vega-Lite and vega-embed in one script, from vl-convert, which keeps
them for offline use), so it opens from a file, an e-mail attachment or a CI
artifact as it is.  The library is bundled once per vl-convert version and
kept in a cache, as bundling it takes seconds.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Sequence

from runner import settings
from runner.files import write_text
from runner.publish.charts import ChartSpec
from runner.publish.doc import Block, html_body
from runner.records.record import RunMeta

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.7rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
code { background: #f3f3f3; padding: 0 .25em; border-radius: 3px; font-size: 90%; }
.table { overflow-x: auto; } table { border-collapse: collapse; font-size: 13px; margin: .5rem 0 1rem; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: left; white-space: nowrap; }
th { background: #f6f6f6; position: sticky; top: 0; } tr:nth-child(even) td { background: #fbfbfb; }
figure { margin: 1rem 0; overflow-x: auto; } figcaption { color: #666; font-size: 13px; }
.vega-bind { display: inline-block; margin-right: 1.2rem; font-size: 13px; }
.chart-error { color: #b00; }
"""

# Each chart div gets its spec; a chart that fails says so in its place and
# on the console, so that a test (or a reader) sees it.
SCRIPT = """
const specs = JSON.parse(document.getElementById("chart-specs").textContent);
for (const [name, spec] of Object.entries(specs)) {
  const target = document.getElementById("chart-" + name);
  vegaEmbed(target, spec, {actions: false, renderer: "svg"})
    .then(() => target.setAttribute("data-drawn", "yes"))
    .catch((error) => {
      target.textContent = "This chart could not be drawn: " + error;
      target.className = "chart-error";
      console.error(error);
    });
}
"""


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


def _json_safe(text: str) -> str:
    """JSON that cannot end or confuse the ``<script>`` element it sits in,
    whatever strings it holds: no ``<``, ``>`` or ``&`` at all (``\\u003c`` in a
    JSON string is ``<``, the only place such a character can be)."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _script_safe(text: str) -> str:
    """A script (the bundled library, not data) that cannot end its element
    (``<\\/`` is ``</`` inside a JavaScript string, the only place it can be)."""
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)


def page_html(meta: RunMeta, blocks: Sequence[Block], drawn: Sequence[ChartSpec]) -> str:
    specs = {chart.name: chart.spec for chart in drawn}
    body = html_body(blocks, list(specs))
    specs_json = _json_safe(json.dumps(specs, sort_keys=True))
    title = html.escape(f"Flask concurrency matrix: run {meta.run}")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{title}</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            "<body>",
            "<noscript><p>The charts need JavaScript; the tables below do not.</p></noscript>",
            body,
            f'<script type="application/json" id="chart-specs">{specs_json}</script>',
            f"<script>{_script_safe(vega_embed_script())}</script>",
            f"<script>{SCRIPT}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )
