"""Audit: the append-only trail of every state change, and the trace of one event."""
