"""The web service: health, readiness and metrics today; the pages and the REST API come next.

`create_app(...)` builds the FastAPI application that `calsync serve` runs under uvicorn.
"""

from __future__ import annotations

from calsync.web.app import create_app

__all__ = ["create_app"]
