"""The hub's own database: payloads, events, quarantine, deliveries, outbound batches, audit."""
