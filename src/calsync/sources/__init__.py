"""calsync.sources (see docs/architecture.md)."""
