"""What happened to a message, as Collection events (so journeys can wait for them).

Receipts, clicks and unsubscribes become Segment ``track`` messages with the customer
as ``userId`` and a deterministic ``messageId`` (a repeated receipt is stored once by
the event log). They are validated by the Collection center's own parser, so they
land in the ``events`` table exactly like app events.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import orjson

from opsloop.collect.segment import Limits, iso, parse_request

SOURCE_ID = "reach"
EVENTS = {
    "delivered": "reach_delivered",
    "opened": "reach_opened",
    "clicked": "reach_clicked",
    "replied": "reach_replied",
    "unsubscribed": "reach_unsubscribed",
    "failed": "reach_failed",
}


def event_items(
    *,
    kind: str,
    customer_id: int,
    message_id: str,
    properties: Mapping[str, object],
    now: datetime,
) -> list[tuple[str, bytes]]:
    """One ``reach_<kind>`` event ready for ``Collector.store``."""
    body = {
        "type": "track",
        "event": EVENTS[kind],
        "userId": str(customer_id),
        "messageId": message_id[:200],
        "timestamp": iso(now),
        "properties": dict(properties),
        "context": {"library": {"name": "opsloop-reach"}},
    }
    msgs = parse_request("track", body, received_at=now, source_id=SOURCE_ID, limits=Limits())
    return [(m["messageId"], orjson.dumps(m)) for m in msgs]
