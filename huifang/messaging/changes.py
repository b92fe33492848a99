"""What became of messages, told to the apps above that react to it (event subscriptions):
``happened(kind, message_ids, now)``, called inside the transaction that wrote the change.

``SENT``: the provider accepted the message (the dispatcher); ``DELIVERED``: a delivery
receipt says it arrived; ``FAILED``: the provider refused it for good, its attempts ran out,
or a receipt says it did not arrive. Replies are events (``message_replied``), told through
``customers.events.recorded``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from huifang.core.hooks import Hook

SENT, DELIVERED, FAILED = "sent", "delivered", "failed"

# listener(kind, message ids, now)
happened: Hook[Callable[[str, Sequence[int], datetime], object]] = Hook("messages changed")
