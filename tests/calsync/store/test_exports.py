"""calsync.store's public API is exactly its __all__."""

from __future__ import annotations

import calsync.store


def test_all_lists_the_public_names() -> None:
    """Every name in __all__ exists, the list is sorted, and no other public name is exported."""
    exported = calsync.store.__all__
    assert exported == sorted(exported)
    assert all(hasattr(calsync.store, name) for name in exported)
    modules = {
        "api_tables",
        "apievents",
        "apikeys",
        "engine",
        "memory",
        "migrate",
        "records",
        "schema",
        "scoped",
        "sqlbase",
        "sqlleases",
        "sqlstore",
    }
    public = {n for n in vars(calsync.store) if not n.startswith("_")} - modules - {"annotations"}
    assert public == set(exported)
