"""User accounts and jurisdiction-scoped access."""
