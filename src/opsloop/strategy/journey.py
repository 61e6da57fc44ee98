"""The journey (营销旅程) document: a versioned, validated graph of typed nodes.

A journey is plain JSON: ``nodes`` (each a ``kind`` with its own typed ``config``) and
``edges`` (``from`` → ``to``, with the ``branch`` of a split). Pydantic checks each
node's config; :func:`validate_journey` then checks the graph (dangling edges, unknown
branches, unreachable nodes, cycles with no wait in them) and reports every problem at
its JSON path (``nodes[3].config.delay``, ``edges[2].to``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from opsloop.errors import InvalidInputError
from opsloop.insight.segments.errors import Issue, issues_from
from opsloop.insight.segments.model import Condition, EventStep, SegmentDefinition
from opsloop.strategy import webhooks

_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
Channel: TypeAlias = Literal["sms", "push", "email", "wechat", "call", "inapp", "slot"]
CHANNELS: tuple[str, ...] = ("sms", "push", "email", "wechat", "call", "inapp", "slot")


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Duration(_Doc):
    """A length of time; ``business_days`` counts only working days of the calendar."""

    amount: int = Field(gt=0, le=100_000)
    unit: Literal["minutes", "hours", "days", "business_days"]

    def seconds(self) -> int:
        """Wall-clock seconds (a business day counts as a day; the calendar refines it)."""
        per = {"minutes": 60, "hours": 3600, "days": 86400, "business_days": 86400}
        return self.amount * per[self.unit]


class OnBlocked(_Doc):
    """What happens when the contact policy blocks a contact at this node (default: exit)."""

    action: Literal["skip", "wait", "exit"] = "exit"
    deadline: Duration | None = None

    @model_validator(mode="after")
    def _deadline(self) -> OnBlocked:
        if self.action == "wait" and self.deadline is None:
            raise ValueError("on_blocked wait needs a deadline")
        return self


# ---- entry -------------------------------------------------------------------------


class SegmentEntryConfig(_Doc):
    """Enter a segment's members once, or on a cron schedule (recurring)."""

    segment: SegmentDefinition | None = None
    segment_id: str | None = None
    schedule: Literal["once"] | str = "once"

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if value != "once":
            from opsloop.strategy.cron import parse

            parse(value)  # ValueError names the bad field
        return value

    @model_validator(mode="after")
    def _one_source(self) -> SegmentEntryConfig:
        if (self.segment is None) == (self.segment_id is None):
            raise ValueError("give exactly one of segment (inline) or segment_id")
        return self


class EventEntryConfig(_Doc):
    """Enter a customer when an event with these property values arrives (real time)."""

    trigger: EventStep


class ApiEntryConfig(_Doc):
    """Enter customers that a system posts to the journey's API trigger."""

    source: str = Field(default="api", min_length=1, max_length=64)


class FileEntryConfig(_Doc):
    """Enter the customers listed in an uploaded file (``POST …/upload``, ``opsloop journey
    upload``): a CSV whose header has ``id_column``, or one id per line; at most ``max_rows``."""

    id_column: str = Field(default="customer_id", min_length=1, max_length=64)
    max_rows: int = Field(default=100_000, ge=1, le=1_000_000)

    @field_validator("id_column")
    @classmethod
    def _column(cls, value: str) -> str:
        if value != value.strip() or any(ch in value for ch in ',"\r\n\t\x00'):
            raise ValueError("a CSV header name: no commas, quotes, tabs or surrounding spaces")
        return value


# ---- judgment ----------------------------------------------------------------------


class ConditionConfig(_Doc):
    """Two-way split by a segment-style condition: branches ``yes`` and ``no``."""

    condition: Condition


class Case(_Doc):
    branch: str = Field(pattern=_ID.pattern)
    values: tuple[str | int | bool, ...] = Field(min_length=1)


class AttributeSplitConfig(_Doc):
    """Multi-way split on a customer attribute or a tag; unmatched go to ``other``."""

    field: str | None = None
    tag: str | None = None
    cases: tuple[Case, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _one(self) -> AttributeSplitConfig:
        if (self.field is None) == (self.tag is None):
            raise ValueError("give exactly one of field or tag")
        return self


class WaitEventConfig(_Doc):
    """Wait until the event happens (branch ``event``) or the timeout passes (``timeout``)."""

    event: EventStep
    timeout: Duration


class Arm(_Doc):
    name: str = Field(pattern=_ID.pattern)
    weight: float = Field(gt=0)


class AbSplitConfig(_Doc):
    """A/B/n split by a stable hash of customer + journey + node; ``holdout`` share gets none."""

    arms: tuple[Arm, ...] = Field(min_length=1)
    holdout: float = Field(default=0.0, ge=0.0, lt=1.0)

    @field_validator("arms")
    @classmethod
    def _unique(cls, arms: tuple[Arm, ...]) -> tuple[Arm, ...]:
        names = [a.name for a in arms]
        if len(set(names)) != len(names) or "holdout" in names:
            raise ValueError("arm names must be unique and not 'holdout'")
        return arms


class Band(_Doc):
    branch: str = Field(pattern=_ID.pattern)
    low: float
    high: float


class ScoreSplitConfig(_Doc):
    """Split by a model's score (``model_scores``), bands ``[low, high)``; else ``other``."""

    model: str = Field(min_length=1, max_length=128)
    bands: tuple[Band, ...] = Field(min_length=1)


# ---- control -----------------------------------------------------------------------


class WaitConfig(_Doc):
    """Wait a duration, or until a time of day (next occurrence, on a business day if asked)."""

    delay: Duration | None = None
    until: dt.time | None = None
    business_day: bool = False

    @model_validator(mode="after")
    def _one(self) -> WaitConfig:
        if (self.delay is None) == (self.until is None):
            raise ValueError("give exactly one of delay or until")
        return self


class FrequencyCapConfig(_Doc):
    """At most ``max`` passes per customer per ``per`` in this journey; others go ``capped``."""

    max: int = Field(gt=0)
    per: Duration


class QuietHoursConfig(_Doc):
    """Hold customers between ``start`` and ``end`` (local time) until ``end``."""

    start: dt.time
    end: dt.time


class ExitConfig(_Doc):
    reason: str = Field(default="done", max_length=64)


class MergeConfig(_Doc):
    """Joins branches; passes everyone on."""

    note: str = ""


# ---- action ------------------------------------------------------------------------


class SlotSpec(_Doc):
    """What a ``slot`` send shows in the app's resource slot (Reach's ``SlotChannel``):
    shown for ``hours`` while the journey runs and the customer has not exited."""

    slot: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    title: str = Field(min_length=1, max_length=200)
    image_url: str | None = Field(default=None, pattern=r"^https?://", max_length=500)
    link: str | None = Field(default=None, pattern=r"^https?://", max_length=500)
    priority: int = Field(default=0, ge=-1000, le=1000)
    hours: float = Field(default=24.0, gt=0, le=24 * 366)


class SendConfig(_Doc):
    channel: Channel
    template_id: str = Field(min_length=1, max_length=128)
    business_line: str = Field(default="general", max_length=64)
    marketing: bool = True
    cost_cents: int = Field(default=0, ge=0)
    slot: SlotSpec | None = None  # the content, for (and only for) channel ``slot``

    @model_validator(mode="after")
    def _slot(self) -> SendConfig:
        if (self.channel == "slot") != (self.slot is not None):
            raise ValueError("channel slot needs a slot (slot, title, …); other channels take none")
        return self


class BenefitConfig(_Doc):
    benefit_id: str = Field(min_length=1, max_length=64)
    cost_cents: int = Field(default=0, ge=0)


class RmTaskConfig(_Doc):
    title: str = Field(min_length=1, max_length=200)
    due: Duration


class TagConfig(_Doc):
    op: Literal["add", "remove"]
    tag: str = Field(pattern=_ID.pattern)


class WebhookConfig(_Doc):
    """Call ``url`` (https; path and query may use the step's variables) with ``headers``
    (templates too) through the Reach webhook channel named ``channel``; see
    :mod:`opsloop.strategy.webhooks`."""

    url: str = Field(min_length=9, max_length=2000)
    headers: dict[str, str] = Field(default_factory=dict, max_length=20)
    channel: str = Field(default="webhook", pattern=_ID.pattern)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return webhooks.check_url(value)

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        return webhooks.check_headers(value)


# ---- nodes -------------------------------------------------------------------------


class _Node(_Doc):
    id: str = Field(pattern=_ID.pattern)
    label: str = ""


class SegmentEntry(_Node):
    kind: Literal["segment_entry"]
    config: SegmentEntryConfig


class EventEntry(_Node):
    kind: Literal["event_entry"]
    config: EventEntryConfig


class ApiEntry(_Node):
    kind: Literal["api_entry"]
    config: ApiEntryConfig


class FileEntry(_Node):
    kind: Literal["file_entry"]
    config: FileEntryConfig


class ConditionSplit(_Node):
    kind: Literal["condition"]
    config: ConditionConfig


class AttributeSplit(_Node):
    kind: Literal["attribute_split"]
    config: AttributeSplitConfig


class WaitEvent(_Node):
    kind: Literal["wait_event"]
    config: WaitEventConfig


class AbSplit(_Node):
    kind: Literal["ab_split"]
    config: AbSplitConfig


class ScoreSplit(_Node):
    kind: Literal["score_split"]
    config: ScoreSplitConfig


class Wait(_Node):
    kind: Literal["wait"]
    config: WaitConfig


class FrequencyCap(_Node):
    kind: Literal["frequency_cap"]
    config: FrequencyCapConfig


class QuietHours(_Node):
    kind: Literal["quiet_hours"]
    config: QuietHoursConfig


class Exit(_Node):
    kind: Literal["exit"]
    config: ExitConfig


class Merge(_Node):
    kind: Literal["merge"]
    config: MergeConfig


class SendMessage(_Node):
    kind: Literal["send_message"]
    config: SendConfig
    on_blocked: OnBlocked = OnBlocked()


class IssueBenefit(_Node):
    kind: Literal["issue_benefit"]
    config: BenefitConfig
    on_blocked: OnBlocked = OnBlocked()


class RmTask(_Node):
    kind: Literal["rm_task"]
    config: RmTaskConfig
    on_blocked: OnBlocked = OnBlocked()


class Tag(_Node):
    kind: Literal["tag"]
    config: TagConfig


class Webhook(_Node):
    kind: Literal["webhook"]
    config: WebhookConfig


Node = Annotated[
    SegmentEntry
    | EventEntry
    | ApiEntry
    | FileEntry
    | ConditionSplit
    | AttributeSplit
    | WaitEvent
    | AbSplit
    | ScoreSplit
    | Wait
    | FrequencyCap
    | QuietHours
    | Exit
    | Merge
    | SendMessage
    | IssueBenefit
    | RmTask
    | Tag
    | Webhook,
    Field(discriminator="kind"),
]
ENTRY_KINDS = frozenset({"segment_entry", "event_entry", "api_entry", "file_entry"})
WAIT_KINDS = frozenset({"wait", "wait_event", "quiet_hours"})
ACTION_KINDS = frozenset({"send_message", "issue_benefit", "rm_task", "tag", "webhook"})


def branches(node: Any) -> tuple[str, ...]:
    """The outgoing branch labels a node has (``next`` for single-output nodes)."""
    kind, cfg = node.kind, node.config
    if kind == "exit":
        return ()
    if kind == "condition":
        return ("yes", "no")
    if kind == "attribute_split":
        return (*(c.branch for c in cfg.cases), "other")
    if kind == "wait_event":
        return ("event", "timeout")
    if kind == "ab_split":
        return (*(a.name for a in cfg.arms), "holdout")
    if kind == "score_split":
        return (*(b.branch for b in cfg.bands), "other")
    if kind == "frequency_cap":
        return ("pass", "capped")
    return ("next",)


class Edge(_Doc):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    source: str = Field(alias="from")
    target: str = Field(alias="to")
    branch: str = "next"


class Reentry(_Doc):
    """May a customer enter again: ``once``, ``once_per_period`` (with ``period``), ``always``."""

    mode: Literal["once", "once_per_period", "always"] = "once"
    period: Duration | None = None

    @model_validator(mode="after")
    def _period(self) -> Reentry:
        if (self.mode == "once_per_period") != (self.period is not None):
            raise ValueError("once_per_period needs a period (and only it takes one)")
        return self


class Goal(_Doc):
    """The conversion event: reaching it within ``within`` counts, and ends the journey."""

    event: EventStep
    within: Duration
    exit_on_goal: bool = True


class JourneyDefinition(_Doc):
    """A journey document (one version of it)."""

    id: str = Field(pattern=_ID.pattern)
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    version: int = Field(default=1, ge=1)
    business_line: str = Field(default="general", max_length=64)
    reentry: Reentry = Reentry()
    goal: Goal | None = None
    nodes: tuple[Node, ...] = Field(min_length=1)
    edges: tuple[Edge, ...] = ()

    def node(self, node_id: str) -> Any:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def next_of(self, node_id: str) -> dict[str, str]:
        """Branch → target node id for one node (a missing branch means exit)."""
        return {e.branch: e.target for e in self.edges if e.source == node_id}


class JourneyValidationError(InvalidInputError):
    """The document is not a valid journey; ``issues`` lists every problem found."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = tuple(issues)
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__(issues[0].message + more, where=issues[0].where)


def validate_journey(
    doc: Any, *, webhook_hosts: Mapping[str, Sequence[str]] | None = None
) -> JourneyDefinition:
    """Parse and check a journey document; raise with every problem's JSON path.

    ``webhook_hosts`` (Reach's webhook channels → their ``allow_hosts``, from
    ``ReachConfig.webhook_hosts``) also checks where each webhook node may call.
    """
    if not isinstance(doc, Mapping):
        raise JourneyValidationError([Issue("$", "a journey document is a JSON object")])
    try:
        journey = JourneyDefinition.model_validate(doc)
    except ValidationError as exc:
        raise JourneyValidationError(issues_from(exc, doc)) from None
    issues = graph_issues(journey)
    if webhook_hosts is not None:
        issues += webhooks.target_issues(journey.nodes, webhook_hosts)
    if issues:
        raise JourneyValidationError(issues)
    return journey


def graph_issues(j: JourneyDefinition) -> list[Issue]:
    """Dangling edges, unknown branches, duplicate ids, unreachable nodes, wait-less cycles."""
    issues: list[Issue] = []
    index: dict[str, int] = {}
    for i, n in enumerate(j.nodes):
        if n.id in index:
            issues.append(Issue(f"nodes[{i}].id", f"duplicate node id {n.id!r}"))
        index.setdefault(n.id, i)
    if not any(n.kind in ENTRY_KINDS for n in j.nodes):
        issues.append(Issue("nodes", "a journey needs at least one entry node"))
    out: dict[str, list[str]] = {n.id: [] for n in j.nodes}
    seen_branch: set[tuple[str, str]] = set()
    for k, e in enumerate(j.edges):
        for side, ref in (("from", e.source), ("to", e.target)):
            if ref not in index:
                issues.append(Issue(f"edges[{k}].{side}", f"no node {ref!r}"))
        if e.source not in index or e.target not in index:
            continue
        src = j.nodes[index[e.source]]
        if e.branch not in branches(src):
            allowed = ", ".join(branches(src)) or "none (exit ends the journey)"
            issues.append(
                Issue(
                    f"edges[{k}].branch",
                    f"{src.kind} {src.id!r} has no branch {e.branch!r}; it has: {allowed}",
                )
            )
        if (e.source, e.branch) in seen_branch:
            issues.append(Issue(f"edges[{k}]", f"branch {e.branch!r} of {e.source!r} used twice"))
        seen_branch.add((e.source, e.branch))
        if j.nodes[index[e.target]].kind in ENTRY_KINDS:
            issues.append(Issue(f"edges[{k}].to", "an entry node cannot have incoming edges"))
        out[e.source].append(e.target)
    reached = _reach([n.id for n in j.nodes if n.kind in ENTRY_KINDS], out)
    for i, n in enumerate(j.nodes):
        if n.id not in reached:
            issues.append(Issue(f"nodes[{i}]", f"node {n.id!r} cannot be reached from an entry"))
    waits = {n.id for n in j.nodes if n.kind in WAIT_KINDS}
    no_wait = {k: [t for t in v if t not in waits] for k, v in out.items() if k not in waits}
    for node_id in _cycle_nodes(no_wait):
        issues.append(
            Issue(f"nodes[{index[node_id]}]", f"node {node_id!r} is on a cycle with no wait")
        )
    return issues


def _reach(starts: list[str], out: dict[str, list[str]]) -> set[str]:
    seen, stack = set(starts), list(starts)
    while stack:
        for t in out.get(stack.pop(), []):
            if t not in seen:
                seen.add(t)
                stack.append(t)
    return seen


def _cycle_nodes(out: dict[str, list[str]]) -> list[str]:
    """Nodes on a cycle of the graph (first node of each cycle found, in id order)."""
    colour: dict[str, int] = {}
    found: list[str] = []

    def visit(start: str) -> None:
        stack: list[tuple[str, int]] = [(start, 0)]
        colour[start] = 1
        while stack:
            node, i = stack.pop()
            targets = out.get(node, [])
            if i < len(targets):
                stack.append((node, i + 1))
                t = targets[i]
                if colour.get(t) == 1:
                    found.append(t)
                elif t not in colour and t in out:
                    colour[t] = 1
                    stack.append((t, 0))
            else:
                colour[node] = 2

    for n in sorted(out):
        if n not in colour:
            visit(n)
    return sorted(set(found))
