"""calsync.graph: the async Microsoft Graph client (being written)."""
