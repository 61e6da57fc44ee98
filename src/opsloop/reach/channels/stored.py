"""Channels delivered inside opsloop: the in-app inbox (站内信) and task lists.

Both write a row keyed by the outbox key (``ON CONFLICT DO NOTHING``), so a message
re-sent after a crash lands once. Call lists (外呼名单) and RM tasks (客户经理任务) are
assigned to the customer's RM when the payload names one, else to the branch queue.
"""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from opsloop.access.clock import utcnow
from opsloop.reach.channels.base import Outbound, SendResult, text
from opsloop.reach.models import InboxRow, TaskRow
from opsloop.store import Store


class InboxChannel:
    def __init__(self, name: str, store: Store) -> None:
        self.name, self.store = name, store

    def send(self, msg: Outbound) -> SendResult:
        with self.store.session() as s:
            ins = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
            s.execute(
                ins(InboxRow)
                .values(
                    message_key=msg.key,
                    customer_id=msg.customer_id,
                    campaign=msg.campaign,
                    title=text(msg.payload, "title")[:200],
                    body=text(msg.payload, "body")[:4000],
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["message_key"])
            )
        return SendResult("sent", provider_id=msg.key)

    def close(self) -> None:
        return None


class TaskChannel:
    """``kind`` is ``call`` (outbound call list) or ``rm`` (relationship-manager task)."""

    def __init__(self, name: str, store: Store, *, kind: str) -> None:
        self.name, self.store, self.kind = name, store, kind

    def send(self, msg: Outbound) -> SendResult:
        org_path = text(msg.payload, "org_path")
        if not org_path:
            return SendResult("dead", error="no org_path to queue the task in")
        rm_value = msg.payload.get("rm_id")
        rm = rm_value if isinstance(rm_value, str) and rm_value else None
        with self.store.session() as s:
            ins = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
            s.execute(
                ins(TaskRow)
                .values(
                    message_key=msg.key,
                    kind=self.kind,
                    customer_id=msg.customer_id,
                    campaign=msg.campaign,
                    org_path=org_path,
                    rm_id=rm,
                    script=text(msg.payload, "script")[:4000],
                    status="open",
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["message_key"])
            )
        return SendResult("sent", provider_id=msg.key)

    def close(self) -> None:
        return None
