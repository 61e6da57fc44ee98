"""The segment (客群) document: a frozen, typed boolean tree of conditions.

Every node is a frozen Pydantic model with ``extra="forbid"`` and a ``kind`` tag, so a
definition is plain JSON that either validates completely or names the node that is
wrong. Semantic checks (the field whitelist, value types, ``between`` order …) raise
``ValueError`` inside field validators, so Pydantic reports them at the exact
location (``root.children[2].value``). No node carries SQL: attribute fields are
whitelisted against the canonical ``customers`` table and property keys are plain
identifiers.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal, TypeAlias

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from opsloop.warehouse.schema import CUSTOMERS

Scalar: TypeAlias = bool | int | float | dt.date | str
Comparison: TypeAlias = Literal["=", "!=", "<", "<=", ">", ">="]
AttributeOp: TypeAlias = Literal[
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "in",
    "not_in",
    "between",
    "is_null",
    "is_not_null",
    "starts_with",
]
PropertyValue: TypeAlias = bool | int | str
LastDays = Annotated[int, Field(gt=0, le=3660, description="window length in days")]

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_EVENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:$-]{0,127}$")
_SEGMENT_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_COLUMN_TYPES: dict[str, pa.DataType] = {c.name: c.type for c in CUSTOMERS.columns}


class _Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class And(_Node):
    """All children hold."""

    kind: Literal["and"] = "and"
    children: tuple[Condition, ...] = Field(min_length=1)


class Or(_Node):
    """At least one child holds."""

    kind: Literal["or"] = "or"
    children: tuple[Condition, ...] = Field(min_length=1)


class Not(_Node):
    """The child does not hold (every condition is two-valued: unknown counts as false)."""

    kind: Literal["not"] = "not"
    child: Condition


class Attribute(_Node):
    """A comparison on one whitelisted column of ``customers``."""

    kind: Literal["attribute"] = "attribute"
    field: str
    op: AttributeOp
    value: Scalar | tuple[Scalar, ...] | None = None

    @field_validator("field")
    @classmethod
    def _known_field(cls, name: str) -> str:
        if name not in _COLUMN_TYPES:
            raise ValueError(f"unknown customer field {name!r}; use a column of 'customers'")
        return name

    @field_validator("value", mode="before")
    @classmethod
    def _typed_value(cls, value: Any, info: ValidationInfo) -> Any:
        name, op = info.data.get("field"), info.data.get("op")
        if name is None or op is None:  # already reported on its own field
            return value
        return check_value(name, op, value)


class TxnFilter(_Node):
    """Which transactions count: empty tuples mean any."""

    direction: Literal["in", "out"] | None = None
    kinds: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()


class TransactionAggregate(_Node):
    """An aggregate of ``transactions.amount`` in the last N days, compared to a value.

    ``count`` and ``sum`` of no transactions are 0 (so ``count = 0`` finds the silent);
    ``avg`` and ``max`` of none are unknown, so the condition is false.
    """

    kind: Literal["txn_aggregate"] = "txn_aggregate"
    agg: Literal["sum", "count", "avg", "max"]
    where: TxnFilter = TxnFilter()
    last_days: LastDays
    op: Comparison
    value: float


class EventStep(_Node):
    """One event name with optional property equality filters (on the JSON properties)."""

    event: str
    properties: dict[str, PropertyValue] = Field(default_factory=dict)

    @field_validator("event")
    @classmethod
    def _event_name(cls, name: str) -> str:
        if not _EVENT.match(name):
            raise ValueError(f"event name {name!r} must be letters, digits, '_', '.', ':', '-'")
        return name

    @field_validator("properties")
    @classmethod
    def _keys(cls, props: dict[str, PropertyValue]) -> dict[str, PropertyValue]:
        for key in props:
            if not _KEY.match(key):
                raise ValueError(f"property key {key!r} must be a plain identifier")
        return props


class Behaviour(_Node):
    """Did the event (count op value) times in the last N days; 0 times counts."""

    kind: Literal["behaviour"] = "behaviour"
    step: EventStep
    op: Comparison = ">="
    count: int = Field(default=1, ge=0)
    last_days: LastDays


class Sequence(_Node):
    """Did ``first`` and then ``then`` (strictly later, within the gap), in the last N days."""

    kind: Literal["sequence"] = "sequence"
    first: EventStep
    then: EventStep
    within: int = Field(gt=0, le=24 * 3660)
    unit: Literal["hours", "days"] = "hours"
    last_days: LastDays


class InSegment(_Node):
    """Member of another saved segment (resolved at compile time; cycles are errors)."""

    kind: Literal["in_segment"] = "in_segment"
    segment_id: str

    @field_validator("segment_id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SEGMENT_ID.match(value):
            raise ValueError(f"segment id {value!r} must be letters, digits, '_', '.', '-'")
        return value


ScoreRange = Annotated[tuple[int, int], Field(description="inclusive [low, high] in 1..5")]


class RfmBand(_Node):
    """Recency/frequency/monetary scores 1..5 by quintile over the last N days' transactions.

    A customer's score on a measure is ``ceil(5 * k / n)``, where ``n`` customers have a
    transaction in the window and ``k`` of them have a value ≤ theirs (recency: the last
    transaction's time, later is better). Ties share a score. Customers with no
    transaction in the window have no score, so the condition is false for them.
    """

    kind: Literal["rfm"] = "rfm"
    where: TxnFilter = TxnFilter()
    last_days: LastDays = 365
    recency: ScoreRange | None = None
    frequency: ScoreRange | None = None
    monetary: ScoreRange | None = Field(default=None, validate_default=True)

    @field_validator("recency", "frequency", "monetary")
    @classmethod
    def _range(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None:
            low, high = value
            if not 1 <= low <= high <= 5:
                raise ValueError(f"score range {list(value)} must satisfy 1 <= low <= high <= 5")
        return value

    @field_validator("monetary")
    @classmethod
    def _some_range(cls, value: tuple[int, int] | None, info: ValidationInfo) -> Any:
        if value is None and not info.data.get("recency") and not info.data.get("frequency"):
            raise ValueError("give at least one of recency, frequency, monetary")
        return value


TagOp: TypeAlias = Literal["=", "!=", "<", "<=", ">", ">=", "in", "not_in", "has_value"]
TagValue: TypeAlias = bool | float | str
_TAG_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,127}$")


class Tag(_Node):
    """A customer's tag value (标签) from the latest tag run on or before ``as_of``.

    The value's JSON type picks the column compared: true/false for yes/no tags,
    numbers for statistic/score tags, text for enum tags. ``has_value`` holds when the
    run gave the customer any value. A customer without a value in that run fails every
    other test too (``!=`` included), like any unknown.
    """

    kind: Literal["tag"] = "tag"
    tag: str
    op: TagOp = "="
    value: TagValue | tuple[float | str, ...] | None = Field(default=True, validate_default=True)

    @field_validator("tag")
    @classmethod
    def _tag_name(cls, name: str) -> str:
        if not _TAG_NAME.match(name):
            raise ValueError(
                f"tag name {name!r} must start with a-z and use a-z, 0-9, '_', '.', '-'"
            )
        return name

    @field_validator("value", mode="before")
    @classmethod
    def _value_fits_op(cls, value: Any, info: ValidationInfo) -> Any:
        return check_tag_value(info.data.get("op"), value)


def check_tag_value(op: str | None, value: Any) -> Any:
    """The tag condition's value if it suits ``op``, or a ValueError saying why not."""
    if op is None:  # already reported on its own field
        return value
    if op == "has_value":
        if value is not None and value is not True:
            raise ValueError("has_value takes no value")
        return None
    if op in ("in", "not_in"):
        items = value if isinstance(value, list | tuple) else None
        if not items or any(isinstance(v, bool | list | tuple | dict) or v is None for v in items):
            raise ValueError(f"{op} needs a non-empty list of texts or numbers")
        if len({isinstance(v, str) for v in items}) > 1:
            raise ValueError(f"{op}: do not mix texts and numbers in one list")
        return tuple(items)
    if value is None or isinstance(value, list | tuple | dict):
        raise ValueError(f"tag operator {op} needs one value (true/false, a number or a text)")
    if isinstance(value, bool | str) and op not in ("=", "!="):
        raise ValueError(f"{op} compares numbers; use = or != for {type(value).__name__} values")
    return value


Condition = Annotated[
    And
    | Or
    | Not
    | Attribute
    | TransactionAggregate
    | Behaviour
    | Sequence
    | InSegment
    | RfmBand
    | Tag,
    Field(discriminator="kind"),
]


class SegmentDefinition(_Node):
    """A saved segment: identity, version, and the condition tree at ``root``."""

    id: str | None = Field(default=None, pattern=_SEGMENT_ID.pattern)
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    version: int = Field(default=1, ge=1)
    root: Condition


def check_value(name: str, op: str, value: Any) -> Scalar | tuple[Scalar, ...] | None:
    """The attribute value converted to the column's type, or a ValueError saying why not."""
    type_ = _COLUMN_TYPES[name]
    if op in ("is_null", "is_not_null"):
        if value is not None:
            raise ValueError(f"{op} takes no value")
        return None
    if op == "starts_with" and not pa.types.is_string(type_):
        raise ValueError(f"starts_with needs a text field; {name} is {type_}")
    if pa.types.is_boolean(type_) and op not in ("=", "!=", "in", "not_in"):
        raise ValueError(f"{name} is a yes/no field: use =, !=, in or not_in")
    if op in ("in", "not_in", "between"):
        if not isinstance(value, list | tuple) or not value:
            raise ValueError(f"{op} needs a non-empty list of values")
        items = tuple(_scalar(name, type_, v) for v in value)
        if op == "between":
            if len(items) != 2:
                raise ValueError("between needs exactly [low, high]")
            low, high = items
            if low > high:  # type: ignore[operator]
                raise ValueError(f"between: low {low} is greater than high {high}")
        return items
    return _scalar(name, type_, value)


def _scalar(name: str, type_: pa.DataType, value: Any) -> Scalar:
    if value is None or isinstance(value, list | tuple | dict):
        raise ValueError(f"{name} needs a single {_type_word(type_)} value")
    if pa.types.is_boolean(type_) and isinstance(value, bool):
        return value
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if pa.types.is_integer(type_) and not isinstance(value, bool) and whole:
        return int(value)
    if (
        pa.types.is_floating(type_)
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        return float(value)
    if pa.types.is_string(type_) and isinstance(value, str):
        return value
    if pa.types.is_date(type_):
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
    raise ValueError(f"{name} is a {_type_word(type_)} field; got {value!r}")


def _type_word(type_: pa.DataType) -> str:
    if pa.types.is_boolean(type_):
        return "true/false"
    if pa.types.is_integer(type_):
        return "whole-number"
    if pa.types.is_floating(type_):
        return "number"
    if pa.types.is_date(type_):
        return "date (YYYY-MM-DD)"
    return "text"


for _model in (And, Or, Not, SegmentDefinition):
    _model.model_rebuild()
