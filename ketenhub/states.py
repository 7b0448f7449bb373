"""The states things are in, as the store keeps them and the audit trail names them. StrEnums:
a member is its string, so the store and the trail hold plain words."""
from __future__ import annotations

from enum import StrEnum


class PayloadState(StrEnum):
    RECEIVED = "received"  # kept, being stored
    ACCEPTED = "accepted"  # its events stored (each accepted or quarantined)
    REJECTED = "rejected"  # refused whole, quarantined with its reason
    ALREADY_RECEIVED = "already-received"  # the same bytes came before: nothing new (reports only)


# How a payload stored as accepted, all of whose events were rejected, is shown (reports, status,
# trace): "accepted" would read as the opposite.
EVERY_EVENT_REJECTED = "rejected (each of its events was)"
# How a rejected event without a BerichtId to show is named: it had none, or one not shown
# (processing.EventProcessor._naming)
NO_BERICHT_ID = "(no BerichtId, or none that may be shown)"


class DeliveryState(StrEnum):
    PENDING = "pending"  # due at its next attempt
    SENDING = "sending"  # in a batch claimed under a lease
    DELIVERED = "delivered"
    FAILED = "failed"  # refused for good: an operator may replay it
    DEAD = "dead"  # still failing after the destination's max_attempts


class BatchState(StrEnum):
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # nothing in it was delivered
    EMPTY = "empty"  # its items were replayed or settled elsewhere before it was sent
    REFUSED = "refused"  # the destination refused it after taking it (CJIB's rejected/)


class EventState(StrEnum):
    ACCEPTED = "accepted"


class QuarantineState(StrEnum):
    OPEN = "open"
    REPROCESSED = "reprocessed"
    PURGED = "purged"  # its bytes were past their retention period: nothing left to re-process


class Outcome(StrEnum):
    """What a transport says became of an item."""
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"


IN_TROUBLE = (DeliveryState.FAILED, DeliveryState.DEAD)  # what an operator may replay
