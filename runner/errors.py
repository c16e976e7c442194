"""The two kinds of expected failure.

``UserError`` stops the whole command with one line and exit code 2 (a bad
``matrix.yaml``, a cell name that does not exist).  ``CellError`` ends one
cell, which is recorded with the reason, and the run goes on.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input: reported as one line on stderr, exit code 2."""

    exit_code = 2


# Why a cell did not run, apart from its status: a limit of this machine
# must never read as a finding about Flask.
# Each is said in the report as its value here.
CAUSES = {
    "machine": "a limit of this machine",  # a compiler, a library, nginx, cores
    "interpreter": "interpreter missing or unusable",
    "resolver": "resolver unsupported",  # what the row asks, the installer cannot do
    "upstream": "broken upstream",  # the release itself does not install or run there
}


class CellError(Exception):
    """A cell could not be measured; ``status`` is what its record says, and
    ``cause`` (one of :data:`CAUSES`, or None for a fact about the versions
    themselves) why it did not run."""

    status = "error"

    def __init__(self, reason: str, log_path: object = None, cause: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.log_path = log_path
        self.cause = cause


class CellSkipped(CellError):
    """The machine lacks something the cell needs (an interpreter, say)."""

    status = "skipped"


class CellNotApplicable(CellError):
    """The cell makes no sense for this row (no ``flask`` command in 0.10)."""

    status = "n/a"
