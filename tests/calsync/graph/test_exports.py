"""The public surface of calsync.graph: an explicit, sorted __all__ that names every public export."""

from __future__ import annotations

import calsync.graph


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted (constants, classes, functions, as isort orders them) and names every export."""
    names = calsync.graph.__all__
    assert names == sorted(names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n))
    public = {n for n in vars(calsync.graph) if not n.startswith("_")} - {"annotations"}
    modules = {n for n in public if type(getattr(calsync.graph, n)).__name__ == "module"}
    assert set(names) == public - modules
