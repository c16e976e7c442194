"""Each probe's declared code version moves with its module's source.

A record keeps the version of the code that measured each of its probes
(``measured_by``), so that a record measured by old code is never taken for
one of the new.  ``probe_sources.json`` beside this file holds, per probe,
the version declared and a hash of its module's source when it was last
recorded; changing the module without raising ``PROBE.version`` fails here.

After raising it: ``python tests/test_probe_versions.py`` records the new
sources.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from runner.measuring import probes  # noqa: E402
from runner.measuring.probes import PROBES  # noqa: E402

RECORDED = HERE / "probe_sources.json"


def source_of(name: str) -> tuple[Path, str]:
    """The module that declares the probe (its ``PROBE``), and a hash of its source."""
    for found in pkgutil.iter_modules(probes.__path__):
        module = importlib.import_module(f"{probes.__name__}.{found.name}")
        if getattr(module, "PROBE", None) is PROBES[name]:
            path = Path(str(module.__file__))
            return path, hashlib.sha256(path.read_bytes()).hexdigest()
    raise AssertionError(f"no module of {probes.__name__} declares the probe {name}")


def current() -> dict[str, dict[str, object]]:
    return {name: {"version": PROBES[name].version, "source": source_of(name)[1]} for name in sorted(PROBES)}


@pytest.mark.parametrize("name", sorted(PROBES))
def test_a_probes_module_changes_only_with_its_version(name: str) -> None:
    recorded = json.loads(RECORDED.read_text()).get(name)
    path, digest = source_of(name)
    where = path.relative_to(HERE.parent)
    assert recorded is not None, (
        f"{name} is not in {RECORDED.name}: run `python tests/test_probe_versions.py`"
    )
    if digest != recorded["source"]:
        assert PROBES[name].version != recorded["version"], (
            f"{where} changed, but its PROBE.version is still {recorded['version']}: raise it (records of the "
            "old code must not pass for the new), then run `python tests/test_probe_versions.py`"
        )
        pytest.fail(
            f"{name}'s version is raised: run `python tests/test_probe_versions.py` to record its source"
        )
    assert PROBES[name].version == recorded["version"], (
        f"{name}'s version moved without its source: put it back to {recorded['version']}"
    )


def test_a_record_names_the_code_that_measured_it() -> None:
    from runner.records.record import CellRecord
    from tests.test_record import EVERY_PROBE, cell, outcome

    record = cell(
        probes={"concurrency": outcome("concurrency", EVERY_PROBE["concurrency"])},
        measured_by={"concurrency": PROBES["concurrency"].version},
    )
    again = CellRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert again.measured_by == {"concurrency": PROBES["concurrency"].version}


if __name__ == "__main__":
    RECORDED.write_text(json.dumps(current(), indent=2, sort_keys=True) + "\n")
    print(f"recorded {len(PROBES)} probes' sources in {RECORDED}")
