"""The search itself, on plain data: where along ordered candidates does a value change?

The two ends are known to differ (``left`` at the start, ``right`` at the
end); the candidates lie strictly between them, in version order.  Each probe
returns the candidate's value or why it could not be measured.  As ``git
bisect`` does, a candidate that cannot be measured is skipped and the search
goes on around it, picking the untested candidate nearest the middle.  A
value that is neither end's stops the search: the field is not monotonic
across the range, and the answer says what was seen instead of naming a
release.  The ends are probed again at the close, so that the boundary
rests on measurements made by the same code, here and now; an end that no
longer shows its value is reported as a contradiction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

C = TypeVar("C")


@dataclass(frozen=True)
class Probed:
    """One probe: the field's value, or why the candidate could not be measured."""

    value: object = None
    skipped: str | None = None


@dataclass(frozen=True)
class Answer(Generic[C]):
    """What the search found.

    ``kind`` is ``found`` (``last_left`` shows the left value and
    ``first_right`` the right one, neighbours among the candidates that could
    be measured), ``narrowed`` (as found, but the candidates in ``between``
    could not be measured, so the change lies in one of them or at
    ``first_right``), or ``contradiction`` (``seen`` holds a value that is
    neither end's, or an end that no longer shows its value).
    """

    kind: str
    last_left: C | None = None
    first_right: C | None = None
    between: tuple[tuple[C, str], ...] = ()
    seen: tuple[tuple[C, object], ...] = ()
    probed: tuple[tuple[C, Probed], ...] = ()  # every probe in order, the ends' too
    candidates: int = 0  # how many lay between the ends
    tried: int = 0  # candidates probed, skipped ones included (ends not counted)


def budget(candidates: int) -> int:
    """The most probes a search of ``candidates`` needs when none is skipped:
    a binary search plus the two ends."""
    return (math.ceil(math.log2(candidates + 1)) if candidates else 0) + 2


@dataclass
class _State(Generic[C]):
    sequence: list[C]
    values: dict[int, object]
    skipped: dict[int, str] = field(default_factory=dict)
    probed: list[tuple[int, Probed]] = field(default_factory=list)


def search(
    start: C,
    candidates: Sequence[C],
    end: C,
    left: object,
    right: object,
    probe: Callable[[C], Probed],
) -> Answer[C]:
    """Bisect ``candidates`` between ``start`` (value ``left``) and ``end`` (``right``)."""
    state = _State(sequence=[start, *candidates, end], values={0: left, len(candidates) + 1: right})
    lo, hi = 0, len(candidates) + 1
    while True:
        untested = [i for i in range(lo + 1, hi) if i not in state.skipped]
        if not untested:
            break
        middle = (lo + hi) / 2
        index = min(untested, key=lambda i: (abs(i - middle), i))
        result = _probe(state, index, probe)
        if result.skipped is not None:
            state.skipped[index] = result.skipped
        elif result.value == left:
            lo = index
        elif result.value == right:
            hi = index
        else:
            return _answer(state, "contradiction", seen=((state.sequence[index], result.value),))
    return _close(state, lo, hi, left, right, probe)


def _probe(state: _State[C], index: int, probe: Callable[[C], Probed]) -> Probed:
    result = probe(state.sequence[index])
    state.probed.append((index, result))
    return result


def _close(
    state: _State[C], lo: int, hi: int, left: object, right: object, probe: Callable[[C], Probed]
) -> Answer[C]:
    """Probe the ends again; the boundary lies between ``lo`` and ``hi``."""
    last = len(state.sequence) - 1
    for index, expected in ((0, left), (last, right)):
        result = _probe(state, index, probe)
        if result.skipped is None and result.value != expected:
            return _answer(state, "contradiction", seen=((state.sequence[index], result.value),))
    between = tuple((state.sequence[i], state.skipped[i]) for i in range(lo + 1, hi))
    kind = "narrowed" if between else "found"
    return _answer(state, kind, last_left=state.sequence[lo], first_right=state.sequence[hi], between=between)


def _answer(
    state: _State[C],
    kind: str,
    *,
    last_left: C | None = None,
    first_right: C | None = None,
    between: tuple[tuple[C, str], ...] = (),
    seen: tuple[tuple[C, object], ...] = (),
) -> Answer[C]:
    ends = (0, len(state.sequence) - 1)
    return Answer(
        kind=kind,
        last_left=last_left,
        first_right=first_right,
        between=between,
        seen=seen,
        probed=tuple((state.sequence[i], p) for i, p in state.probed),
        candidates=len(state.sequence) - 2,
        tried=len({i for i, _ in state.probed if i not in ends}),
    )
