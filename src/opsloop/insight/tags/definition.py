"""The tag catalogue entry: a frozen, typed definition that validates completely or names
the field that is wrong.

Four types, told apart by ``type``:

* ``rule`` — a segment-style condition (:mod:`opsloop.insight.segments.model`) → yes/no;
* ``statistic`` — an aggregate per customer (transactions, events, AUM month-ends, RFM)
  → a number, or an enum when ``bands`` cut the number into labelled ranges;
* ``model`` — a model's score or band from the warehouse's ``model_scores``;
* ``manual`` — a list of customer ids imported from a file → yes for those listed.

Every definition has an owner, a category path (``资产/存款``), a value type that must
agree with what the source produces, and an optional five-field cron refresh schedule.
"""

from __future__ import annotations

import itertools
import re
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from pydantic import model_validator as _model_validator

from opsloop.errors import InvalidInputError
from opsloop.insight.segments.errors import Issue, SegmentValidationError, issues_from
from opsloop.insight.segments.model import Condition, EventStep, TxnFilter
from opsloop.strategy.cron import parse as parse_cron

ValueType: TypeAlias = Literal["bool", "enum", "number"]
TAG_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,127}$")
LastDays = Annotated[int, Field(gt=0, le=3660, description="window length in days")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Band(_Frozen):
    """A labelled half-open range ``[low, high)`` of a statistic (None = unbounded)."""

    label: str = Field(min_length=1, max_length=64)
    low: float | None = None
    high: float | None = None

    @_model_validator(mode="after")
    def _ordered(self) -> Band:
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ValueError(f"band {self.label!r}: low {self.low} must be below high {self.high}")
        return self


class TxnMeasure(_Frozen):
    """An aggregate of transaction amounts in the last N days (count/sum of none are 0)."""

    of: Literal["transactions"] = "transactions"
    agg: Literal["sum", "count", "avg", "max", "min"]
    where: TxnFilter = TxnFilter()
    last_days: LastDays


class EventMeasure(_Frozen):
    """How many times the customer did an event in the last N days (0 counts)."""

    of: Literal["events"] = "events"
    step: EventStep
    last_days: LastDays


class AumMeasure(_Frozen):
    """The average of a month-end balance over the last ``months`` month-ends up to as_of."""

    of: Literal["aum"] = "aum"
    column: Literal["aum", "deposit_balance", "wealth_balance", "insurance_value", "loan_balance"]
    months: int = Field(default=1, ge=1, le=120)


class RfmMeasure(_Frozen):
    """RFM (opsloop.insight.rfm): one quintile score 1..5, or the 8-group segment label."""

    of: Literal["rfm"] = "rfm"
    output: Literal["recency", "frequency", "monetary", "segment"]
    where: TxnFilter = TxnFilter()
    last_days: LastDays = 365


Measure = Annotated[TxnMeasure | EventMeasure | AumMeasure | RfmMeasure, Field(discriminator="of")]


class _TagBase(_Frozen):
    name: str
    title: str = Field(default="", max_length=200)
    owner: str = Field(min_length=1, max_length=128)
    category: str = Field(min_length=1, max_length=256)
    description: str = Field(default="", max_length=2000)
    value_type: ValueType
    schedule: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not TAG_NAME.match(name):
            raise ValueError(
                f"tag name {name!r} must start with a-z and use a-z, 0-9, '_', '.', '-'"
            )
        return name

    @field_validator("category")
    @classmethod
    def _category(cls, path: str) -> str:
        parts = path.strip("/").split("/")
        if any(not p.strip() for p in parts) or len(parts) > 6:
            raise ValueError("category is a path of 1 to 6 non-empty names like '资产/存款'")
        return "/".join(p.strip() for p in parts)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, expr: str | None) -> str | None:
        if expr is not None:
            parse_cron(expr)  # ValueError names the bad cron field
        return expr

    @property
    def category_path(self) -> tuple[str, ...]:
        return tuple(self.category.split("/"))

    def _need(self, value_type: str, why: str) -> None:
        if self.value_type != value_type:
            raise _ValueTypeError(f"value_type must be {value_type!r}: {why}")


class _ValueTypeError(ValueError):
    pass


class RuleTag(_TagBase):
    """Yes for the customers a segment-style condition selects, no for the others."""

    type: Literal["rule"] = "rule"
    value_type: ValueType = "bool"
    condition: Condition

    @_model_validator(mode="after")
    def _types(self) -> RuleTag:
        self._need("bool", "a rule tag is yes/no")
        return self


class StatisticTag(_TagBase):
    """A number per customer, or an enum when ``bands`` label its ranges."""

    type: Literal["statistic"] = "statistic"
    measure: Measure
    bands: tuple[Band, ...] = ()

    @field_validator("bands")
    @classmethod
    def _bands(cls, bands: tuple[Band, ...]) -> tuple[Band, ...]:
        for a, b in itertools.pairwise(bands):
            if a.high is None or b.low is None or b.low < a.high:
                raise ValueError(f"bands overlap: {a.label!r} and {b.label!r}; order them")
        if len({b.label for b in bands}) != len(bands):
            raise ValueError("band labels must be distinct")
        return bands

    @_model_validator(mode="after")
    def _types(self) -> StatisticTag:
        labelled = self.bands or getattr(self.measure, "output", None) == "segment"
        if isinstance(self.measure, RfmMeasure) and self.measure.output == "segment" and self.bands:
            raise _ValueTypeError("the RFM segment is already a label; bands do not apply")
        why = "bands and the RFM segment give labels" if labelled else "the measure is a number"
        self._need("enum" if labelled else "number", why)
        return self


class ModelTag(_TagBase):
    """A model's band (high/medium/low) or raw score from ``model_scores``."""

    type: Literal["model"] = "model"
    model: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    output: Literal["band", "score"] = "band"

    @_model_validator(mode="after")
    def _types(self) -> ModelTag:
        self._need("enum" if self.output == "band" else "number", f"output is {self.output}")
        return self


class ManualTag(_TagBase):
    """Yes for the customers in an imported id list (``opsloop tag import``), no otherwise."""

    type: Literal["manual"] = "manual"
    value_type: ValueType = "bool"

    @_model_validator(mode="after")
    def _types(self) -> ManualTag:
        self._need("bool", "a manual tag is yes/no")
        return self


TagDefinition: TypeAlias = Annotated[
    RuleTag | StatisticTag | ModelTag | ManualTag, Field(discriminator="type")
]
TagDef: TypeAlias = RuleTag | StatisticTag | ModelTag | ManualTag
_ADAPTER: TypeAdapter[TagDef] = TypeAdapter(TagDefinition)


def validate_tag(doc: Any) -> TagDef:
    """Parse a JSON document into a tag definition, or raise with every problem's path.

    Raises:
        SegmentValidationError: ``issues`` lists each problem (``value_type``,
            ``condition.children[1].value``, ``schedule`` …); ``where`` is the first.
    """
    if not isinstance(doc, dict):
        raise SegmentValidationError([Issue("$", "a tag definition is a JSON object")])
    try:
        return _ADAPTER.validate_python(doc)
    except ValidationError as exc:
        issues = issues_from(exc, doc)
        # Cross-field checks are reported by Pydantic at the object; point at value_type.
        fixed = [
            Issue("value_type", i.message)
            if i.message.startswith("value_type must")
            else Issue("type", i.message)
            if i.where == "$" and "'type'" in i.message
            else i
            for i in issues
        ]
        raise SegmentValidationError(fixed) from None


def dump_tag(defn: TagDef) -> dict[str, Any]:
    """The definition as plain JSON (what the catalogue stores)."""
    out: dict[str, Any] = defn.model_dump(mode="json", exclude_none=False)
    return out


__all__ = [
    "AumMeasure",
    "Band",
    "EventMeasure",
    "InvalidInputError",
    "ManualTag",
    "ModelTag",
    "RfmMeasure",
    "RuleTag",
    "StatisticTag",
    "TagDef",
    "TagDefinition",
    "TxnMeasure",
    "dump_tag",
    "validate_tag",
]
