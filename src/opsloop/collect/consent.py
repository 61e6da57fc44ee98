"""Tracking consent and the right to erasure (PIPL / GDPR) for collected events.

Withdrawal comes two ways: a profile property in the SDK's own calls — Segment
``identify`` with trait ``consent.tracking = false`` (or ``consent: {"tracking":
false}``), Sensors ``profile_set`` with ``$tracking_consent = false`` — or
``POST /api/v1/collect/consent``. ``true`` grants it again. From then on, the
customer's events (their user id, or an anonymous id linked to it) are, per
``OPSLOOP_COLLECT_CONSENT_MODE``:

* ``drop`` (default): acknowledged to the SDK (so it does not retry) but not stored;
* ``anonymise``: stored without who — ``userId`` removed, ``anonymousId`` replaced by
  ``"anonymised"``, traits and the personal parts of ``context`` (ip, device, traits,
  location, network) removed — so counts stay right and nobody can be recognised.

Erasure (``POST /api/v1/collect/erasure``, ``opsloop collect erase CUSTOMER_ID``):
the customer's events in the warehouse are deleted, or with
``OPSLOOP_COLLECT_ERASURE_MODE=anonymise`` kept without customer, anonymous id and
properties; their identity links are deleted; consent is set withdrawn (so nothing
new comes in); the flusher skips their records if the log ever redelivers them. The
raw event stream is erased too: in the embedded log each of their records becomes a
tombstone (delete) or its anonymised form (anonymise), segment files rewritten
atomically; in Redis their stream entries are ``XDEL``ed (both modes). Their anonymous
ids are those linked in the store plus any their own messages in the stream carry
(links not yet flushed). Both actions are audited. Decisions here are pure; the
store, warehouse and stream edges are marked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import delete, select

from opsloop.access import audit
from opsloop.access.principal import Principal
from opsloop.collect import identity
from opsloop.collect.log import TOMBSTONE, EventStream
from opsloop.collect.models import CollectConsent, IdentityLink
from opsloop.store import Store
from opsloop.warehouse import Warehouse

ANONYMISED = "anonymised"
_PERSONAL_CONTEXT = ("ip", "device", "traits", "location", "network", "userAgent")


class ConsentSettings(BaseSettings):
    """``OPSLOOP_COLLECT_CONSENT_MODE`` and ``OPSLOOP_COLLECT_ERASURE_MODE``."""

    model_config = SettingsConfigDict(env_prefix="OPSLOOP_COLLECT_", extra="ignore")

    consent_mode: Literal["drop", "anonymise"] = "drop"
    erasure_mode: Literal["delete", "anonymise"] = "delete"


# -- pure decisions ---------------------------------------------------------------------------


def consent_signal(message: Mapping[str, Any]) -> bool | None:
    """The tracking consent an identify/profile message sets (True/False), else None."""
    if message.get("type") != "identify":
        return None
    traits = message.get("traits")
    if not isinstance(traits, dict):
        return None
    for value in (
        traits.get("$tracking_consent"),
        traits.get("consent.tracking"),
        traits["consent"].get("tracking") if isinstance(traits.get("consent"), dict) else None,
    ):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
    return None


def who(message: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(userId, anonymousId)`` of a message as strings."""
    user, anon = message.get("userId"), message.get("anonymousId")
    return (str(user) if user else None, str(anon) if anon else None)


def anonymise(message: Mapping[str, Any]) -> dict[str, Any]:
    """The message with nothing that identifies the person."""
    out = {k: v for k, v in message.items() if k not in ("userId", "traits", "previousId")}
    out["anonymousId"] = ANONYMISED
    ctx = out.get("context")
    if isinstance(ctx, dict):
        out["context"] = {k: v for k, v in ctx.items() if k not in _PERSONAL_CONTEXT}
    return out


def apply(
    messages: list[dict[str, Any]], blocked: frozenset[str] | set[str], mode: str
) -> tuple[list[dict[str, Any]], int]:
    """Messages to store given the blocked ids, and how many were dropped/anonymised."""
    if not blocked:
        return messages, 0
    out: list[dict[str, Any]] = []
    hit = 0
    for m in messages:
        user, anon = who(m)
        if (user is not None and user in blocked) or (anon is not None and anon in blocked):
            hit += 1
            if mode == "anonymise":
                out.append(anonymise(m))
            continue
        out.append(m)
    return out, hit


# -- store edge -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsentChange:
    user_id: str
    tracking: bool
    via: str


def set_consent(
    store: Store, change: ConsentChange, *, actor: Principal, ip: str | None = None
) -> bool:
    """Record a consent change (audited); returns whether it changed anything."""
    now = datetime.now(UTC)
    with store.session() as s:
        row = s.get(CollectConsent, change.user_id)
        before = None if row is None else {"tracking": row.tracking}
        if row is not None and row.tracking == change.tracking:
            return False
        if row is None:
            row = CollectConsent(user_id=change.user_id, tracking=change.tracking)
            s.add(row)
        row.tracking = change.tracking
        row.updated_at = now
        row.via = change.via
        audit.record(
            s,
            actor=actor,
            action="collect.consent." + ("grant" if change.tracking else "withdraw"),
            target_type="customer",
            target_id=change.user_id,
            ip=ip,
            before=before,
            after={"tracking": change.tracking, "via": change.via},
        )
        return True


def blocked_ids(store: Store) -> set[str]:
    """User ids whose consent is withdrawn, and every anonymous id linked to them."""
    with store.session() as s:
        users = set(
            s.scalars(select(CollectConsent.user_id).where(CollectConsent.tracking.is_(False)))
        )
        anons: set[str] = set()
        ids = sorted(users)
        for i in range(0, len(ids), 500):
            q = select(IdentityLink.anonymous_id).where(IdentityLink.user_id.in_(ids[i : i + 500]))
            anons.update(s.scalars(q))
    return users | anons


def erased_ids(store: Store) -> set[str]:
    """Ids whose data was erased (the customer and their former anonymous ids)."""
    with store.session() as s:
        q = select(CollectConsent.user_id).where(
            (CollectConsent.erased_at.is_not(None)) | (CollectConsent.via == "erasure")
        )
        return set(s.scalars(q))


class ConsentRegistry:
    """The blocked-id set on the ingest hot path: reloaded every ``ttl_s`` seconds (a
    change made by another process — the CLI — applies within that), at once after a
    change through this process."""

    def __init__(self, store: Store, settings: ConsentSettings | None = None, ttl_s: float = 2.0):
        self.store = store
        self.settings = settings or ConsentSettings()
        self.ttl_s = ttl_s
        self.applied = 0  # events dropped or anonymised since start
        self._blocked: frozenset[str] = frozenset()
        self._loaded = 0.0
        self._lock = threading.Lock()

    def blocked(self) -> frozenset[str]:
        if time.monotonic() - self._loaded > self.ttl_s:
            self.reload()
        return self._blocked

    def reload(self) -> None:
        with self._lock:
            self._blocked = frozenset(blocked_ids(self.store))
            self._loaded = time.monotonic()

    def filter(self, messages: list[dict[str, Any]], *, actor: Principal) -> list[dict[str, Any]]:
        """Record consent changes the messages carry, then drop/anonymise as configured."""
        changed = False
        for m in messages:
            signal = consent_signal(m)
            user = who(m)[0] if signal is not None else None
            if signal is not None and user is not None:
                via = "profile:" + str(m.get("sourceId", ""))
                changed |= set_consent(self.store, ConsentChange(user, signal, via), actor=actor)
        if changed:
            self.reload()
        kept, hit = apply(messages, self.blocked(), self.settings.consent_mode)
        self.applied += hit
        return kept


# -- erasure --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErasureResult:
    user_id: str
    mode: str
    events: int
    identity_links: int
    anonymous_ids: tuple[str, ...]
    stream_records: int = 0


def belongs_to(message: Mapping[str, Any], user_id: str, anons: frozenset[str]) -> bool:
    """Whether a stored message is the person's by the identity rules: its ``userId``
    is theirs, or it has none and its anonymous id is linked to them."""
    user, anon = who(message)
    if user is not None:
        return user == user_id
    return anon is not None and anon in anons


def stream_eraser(
    user_id: str, anons: frozenset[str], mode: str
) -> Callable[[str, bytes], bytes | None]:
    """The replacement of a raw stream record for erasure (pure): None keeps it,
    :data:`TOMBSTONE` deletes it, an anonymised payload in ``anonymise`` mode."""

    def replace(_mid: str, payload: bytes) -> bytes | None:
        try:
            m = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(m, dict) or not belongs_to(m, user_id, anons):
            return None
        return orjson.dumps(anonymise(m)) if mode == "anonymise" else TOMBSTONE

    return replace


def _scan(stream: EventStream, needles: list[bytes], see: Callable[[dict[str, Any]], None]) -> None:
    """Show every JSON message of the stream containing a needle to ``see``, in order."""

    def visit(_mid: str, payload: bytes) -> None:
        try:
            m = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None
        if isinstance(m, dict):
            see(m)
        return None

    stream.rewrite(visit, needles=needles)  # visit returns None: nothing is rewritten


def _stream_anons(stream: EventStream, store: Store, user_id: str) -> set[str]:
    """Anonymous ids linked to the person by messages still only in the raw stream
    (not flushed yet): ids their messages carry whose first link — in the store, else
    in stream order — is to them (first link wins, as in :mod:`identity`)."""
    carried: set[str] = set()

    def theirs(m: dict[str, Any]) -> None:
        if who(m)[0] == user_id:
            carried.update(a.anonymous_id for a in identity.links_in([m]))

    _scan(stream, [user_id.encode()], theirs)
    if not carried:
        return set()
    known = identity.load_links(store, carried)
    first: dict[str, str] = {}

    def link(m: dict[str, Any]) -> None:
        for a in identity.links_in([m]):
            if a.anonymous_id in carried:
                first.setdefault(a.anonymous_id, a.user_id)

    if carried - set(known):
        _scan(stream, [a.encode() for a in sorted(carried - set(known))], link)
    return {a for a in carried if known.get(a, first.get(a)) == user_id}


def erase(
    store: Store,
    warehouse: Warehouse,
    user_id: str,
    *,
    actor: Principal,
    mode: str | None = None,
    ip: str | None = None,
    stream: EventStream | None = None,
) -> ErasureResult:
    """Erase one customer's collected data (see the module docstring); audited.

    ``stream``: the raw event stream (embedded log or Redis) to erase them from too."""
    mode = mode or ConsentSettings().erasure_mode
    with store.session() as s:
        linked = set(
            s.scalars(select(IdentityLink.anonymous_id).where(IdentityLink.user_id == user_id))
        )
    links = len(linked)
    anons = tuple(sorted(linked | (_stream_anons(stream, store, user_id) if stream else set())))
    events = _erase_events(warehouse, user_id, anons, mode)
    raw = 0
    if stream is not None:
        needles = [x.encode() for x in (user_id, *anons)]
        raw = stream.rewrite(stream_eraser(user_id, frozenset(anons), mode), needles=needles)
    now = datetime.now(UTC)
    with store.session() as s:
        s.execute(delete(IdentityLink).where(IdentityLink.user_id == user_id))
        row = s.get(CollectConsent, user_id)
        if row is None:
            row = CollectConsent(user_id=user_id, tracking=False)
            s.add(row)
        row.tracking = False
        row.updated_at = now
        row.via = "erasure"
        row.erased_at = now
        audit.record(
            s,
            actor=actor,
            action="collect.erasure",
            target_type="customer",
            target_id=user_id,
            ip=ip,
            after={
                "mode": mode,
                "events": events,
                "identity_links": links,
                "stream_records": raw,
            },
        )
    # The erased customer's anonymous ids stay blocked: keep them as consent rows too.
    with store.session() as s:
        for anon in anons:
            if s.get(CollectConsent, anon) is None:
                s.add(CollectConsent(user_id=anon, tracking=False, updated_at=now, via="erasure"))
    return ErasureResult(user_id, mode, events, links, anons, raw)


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _erase_events(wh: Warehouse, user_id: str, anons: Iterable[str], mode: str) -> int:
    """Delete (or strip) the events of ``user_id`` and its anonymous ids in the warehouse."""
    if "events" not in wh.tables():
        return 0
    target = f'"{wh.default_dataset}"."events"'
    conds = []
    if user_id.isascii() and user_id.isdigit() and len(user_id) <= 18:
        conds.append(f"customer_id = {int(user_id)}")
    if wh.dialect == "duckdb":
        named = "json_extract_string(properties, '$.\"$user_id\"')"
    else:
        named = "(properties::jsonb ->> '$user_id')"
    conds.append(f"{named} = {_lit(user_id)}")
    anon_list = [a for a in anons]
    if anon_list:  # their devices' events that nobody else (logged in) claims
        conds.append(
            f"(anonymous_id in ({', '.join(_lit(a) for a in anon_list)}) "
            f"and customer_id is null and {named} is null)"
        )
    where = " or ".join(conds)
    if mode == "anonymise":
        stmt = (
            f"update {target} set customer_id = null, anonymous_id = {_lit(ANONYMISED)}, "
            f"properties = '{{}}' where {where}"
        )
    else:
        stmt = f"delete from {target} where {where}"
    with wh.lock:
        before = _count(wh, target, where)
        _raw(wh, stmt)
    return before


def _count(wh: Warehouse, target: str, where: str) -> int:
    rows = wh._raw_fetch(f"select count(*) from {target} where {where}")
    return int(rows[0][0])


def _raw(wh: Warehouse, stmt: str) -> None:
    if wh.dialect == "duckdb":
        wh._duck().execute(stmt)
        return
    with wh.con.raw_sql(stmt):  # type: ignore[attr-defined]
        pass
