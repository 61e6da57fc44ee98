"""Channel adapters behind one protocol (:class:`~opsloop.reach.channels.base.Channel`)."""

from opsloop.reach.channels.base import Channel, Outbound, SendResult

__all__ = ["Channel", "Outbound", "SendResult"]
