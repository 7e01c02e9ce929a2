"""calsync.store (see docs/architecture.md)."""
