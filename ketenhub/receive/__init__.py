"""Receive: transports that bring payloads onto local disk. A transport knows nothing of
formats or mappings; it hands over files and is told afterwards whether each was accepted."""
