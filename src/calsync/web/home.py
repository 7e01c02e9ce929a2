"""The start page and signing out: the pages every visitor can reach.

`/` says what calsync is and offers the ways in (administrators' sign-in; the connect page for people,
when delegated mode adds it); signed in, it links to what the user may see. `POST /signout` ends the
session (a POST with the CSRF token, so another site cannot sign a user out with a link).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.requests import Request

from calsync.web.pages import WebContext, flash, pages_router, render, see_other
from calsync.web.users import ADMIN_SIGNIN, current_user, sign_out

__all__ = ["router"]


def router(web: WebContext) -> APIRouter:
    """`/` and `/signout`."""
    pages = pages_router()
    web.add_nav("Home", "/")

    @pages.get("/")
    async def home(request: Request) -> HTMLResponse:
        return render(request, "home.html", admin_signin=ADMIN_SIGNIN)

    @pages.post("/signout")
    async def signout(request: Request) -> RedirectResponse:
        was_signed_in = current_user(request) is not None
        sign_out(request)
        if was_signed_in:
            flash(request, "You are signed out.", "success")
        return see_other("/")

    return pages
