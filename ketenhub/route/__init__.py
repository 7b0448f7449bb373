"""Route: canonical event to outbound items, one per delivery (event × destination × recipient)."""
