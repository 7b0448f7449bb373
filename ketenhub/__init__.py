"""Ketenhub: integration hub for the Dutch criminal-justice chain.

The pipeline stages are subpackages: receive, validate, normalise, route, store, deliver,
audit. ``pipeline`` runs the inbound stages for one payload; ``cli`` and the DAGs call it.
"""
