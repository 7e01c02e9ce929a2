"""calsync.adapters (see docs/architecture.md)."""
