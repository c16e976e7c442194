"""The development-server warning, found in what servers really print at start.

The lines are the ones each release prints when bound to 127.0.0.1 (as the
runner binds every server), read from its source at its tag and seen in a
real run: Flask 1.0.0 to 2.1 print their own warning on stdout through
click; Werkzeug prints one through its logger from 2.2.2 on, coloured.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.measuring.facts import dev_server_warning
from runner.serving.process import log_head

PORT = 5000
FLASK_1_0_2 = [
    ' * Serving Flask app "target_app.app"',
    " * Environment: production",
    "   WARNING: Do not use the development server in a production environment.",
    "   Use a production WSGI server instead.",
    " * Debug mode: off",
    f" * Running on http://127.0.0.1:{PORT}/ (Press CTRL+C to quit)",
]
FLASK_1_0_4 = [
    ' * Serving Flask app "target_app.app"',
    " * Environment: production",
    "   WARNING: This is a development server. Do not use it in a production deployment.",
    "   Use a production WSGI server instead.",
    " * Debug mode: off",
    f" * Running on http://127.0.0.1:{PORT}/ (Press CTRL+C to quit)",
]
WERKZEUG_2_3 = [
    " * Serving Flask app 'target_app.app'",
    " * Debug mode: off",
    "\x1b[31m\x1b[1mWARNING: This is a development server. Do not use it in a production deployment. "
    "Use a production WSGI server instead.\x1b[0m",
    f" * Running on http://127.0.0.1:{PORT}",
    "\x1b[33mPress CTRL+C to quit\x1b[0m",
]
FLASK_0_12 = [
    ' * Serving Flask app "target_app.app"',
    f" * Running on http://127.0.0.1:{PORT}/ (Press CTRL+C to quit)",
]
WERKZEUG_1_0 = [f" * Running on http://127.0.0.1:{PORT}/ (Press CTRL+C to quit)"]
# Werkzeug 2.0 and 2.1 warn only when bound to all addresses, never on 127.0.0.1.
WERKZEUG_2_1 = [f" * Running on http://127.0.0.1:{PORT} (Press CTRL+C to quit)"]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (FLASK_1_0_2, "WARNING: Do not use the development server in a production environment."),
        (FLASK_1_0_4, "WARNING: This is a development server. Do not use it in a production deployment."),
        (
            WERKZEUG_2_3,
            "WARNING: This is a development server. Do not use it in a production deployment. "
            "Use a production WSGI server instead.",
        ),
        (FLASK_0_12, None),
        (WERKZEUG_1_0, None),
        (WERKZEUG_2_1, None),
    ],
    ids=["flask-1.0.2", "flask-1.0.4", "werkzeug-2.3", "flask-0.12", "werkzeug-1.0", "werkzeug-2.1"],
)
def test_the_warning_is_found_without_its_colour(lines: list[str], expected: str | None) -> None:
    assert dev_server_warning(lines) == expected


def test_a_warning_at_start_is_found_under_thousands_of_access_lines(tmp_path: Path) -> None:
    log = tmp_path / "cell.log"
    access = ['127.0.0.1 - - [24/Nov/2026 16:00:00] "GET /hello HTTP/1.1" 200 -' for _ in range(20000)]
    log.write_text("\n".join(["$ flask run", *FLASK_1_0_4, *access]) + "\n")
    assert dev_server_warning(log_head(log)) is not None
