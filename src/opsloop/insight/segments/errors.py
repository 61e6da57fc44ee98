"""Segment errors: each names the node it is about as a JSON path (``root.children[2].value``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from opsloop.errors import InvalidInputError


@dataclass(frozen=True)
class Issue:
    """One problem in a segment document: where it is and what is wrong."""

    where: str
    message: str


class SegmentValidationError(InvalidInputError):
    """The document is not a valid segment; ``issues`` lists every problem found."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues = tuple(issues)
        first = self.issues[0]
        more = f" (and {len(self.issues) - 1} more)" if len(self.issues) > 1 else ""
        super().__init__(first.message + more, where=first.where)


class UnsupportedNodeError(InvalidInputError):
    """The compiler has no ``visit_<Node>`` for this node type."""


class SegmentCycleError(InvalidInputError):
    """Segments refer to each other in a loop (a → b → a)."""


class UnknownSegmentError(InvalidInputError):
    """An ``in_segment`` condition names a segment the resolver does not know."""


def issues_from(exc: ValidationError, doc: Any) -> list[Issue]:
    """Pydantic's errors as JSON paths into ``doc`` (union tags dropped), one per path.

    The alternatives of a union fail at the same path; their messages are joined. A
    list that is "too short" only because its items failed is not reported again.
    """
    seen: dict[str, list[str]] = {}
    too_short: set[str] = set()
    for err in exc.errors(include_url=False):
        where = json_path(err["loc"], doc, keep_last=err["type"] in _NAMES_A_FIELD)
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "too_short":
            too_short.add(where)
        if message not in seen.setdefault(where, []):
            seen[where].append(message)
    for where in too_short:
        if any(other.startswith(where + "[") for other in seen):
            del seen[where]
    return [Issue(where, "; or ".join(msgs)) for where, msgs in seen.items()]


_NAMES_A_FIELD = frozenset({"missing", "extra_forbidden"})


def json_path(loc: Sequence[int | str], doc: Any, *, keep_last: bool = False) -> str:
    """``('root', 'and', 'children', 2, 'attribute', 'value')`` → ``root.children[2].value``.

    A string step that is not a key of the document at that point is a union tag that
    Pydantic adds (``and``, ``attribute``, ``str`` …) and is skipped, except for the last
    step of a missing or forbidden field.
    """
    out = ""
    cur: Any = doc
    for i, step in enumerate(loc):
        if isinstance(step, int):
            out += f"[{step}]"
            ok = isinstance(cur, list | tuple) and 0 <= step < len(cur)
            cur = cur[step] if ok else None
            continue
        is_key = isinstance(cur, Mapping) and step in cur
        if not is_key and not (keep_last and i == len(loc) - 1):
            continue
        out += f".{step}" if out else step
        cur = cur[step] if is_key else None
    return out or "$"
