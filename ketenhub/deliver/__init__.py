"""Deliver: stored deliveries, grouped into the destination's envelope, sent by a transport."""
