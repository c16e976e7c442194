"""Launch the target app with a version's own entry points and defaults.

``python -m target_app.serve app-run --port N`` calls ``app.run()``;
``python -m target_app.serve werkzeug --port N`` calls
``werkzeug.serving.run_simple``.  Only the host and port are given, plus the
options a server column names explicitly, so every other setting is the
installed version's default.  Python 2.7 syntax on purpose.
"""
import argparse
import sys

# Types in comments: this file runs on Python 2.7 too (MYPY is true for mypy only).
MYPY = False
if MYPY:
    from typing import Any, Dict, List, Optional  # noqa: F401 - used in type comments


def main(argv=None):
    # type: (Optional[List[str]]) -> int
    parser = argparse.ArgumentParser(prog="python -m target_app.serve")
    parser.add_argument("entry", choices=["app-run", "werkzeug"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threaded", choices=["true", "false"])
    parser.add_argument("--processes", type=int)
    args = parser.parse_args(argv)

    options = {}  # type: Dict[str, Any]
    if args.threaded is not None:
        options["threaded"] = args.threaded == "true"
    if args.processes is not None:
        options["processes"] = args.processes

    from target_app.app import app

    if args.entry == "app-run":
        app.run(host="127.0.0.1", port=args.port, **options)
    else:
        from werkzeug.serving import run_simple

        run_simple("127.0.0.1", args.port, app, **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
