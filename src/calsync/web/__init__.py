"""The web service: health, readiness, metrics and the pages (docs/web.md); the REST API comes next.

`create_app(...)` builds the FastAPI application that `calsync serve` runs under uvicorn. The pages'
building blocks: `pages` (render, pages_router, WebContext, flash, see_other, the list of page modules),
`users` (WebUser, sign_in, current_user, require_admin, user_required), `csrf`, `sessions`, `flows`
(sign-in flows kept server-side), `security` (headers, safe_return_path) and `errors`.
"""

from __future__ import annotations

from calsync.web.app import create_app

__all__ = ["create_app"]
