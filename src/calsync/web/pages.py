"""The pages' machinery: one place that renders templates, guards forms and turns errors into pages.

How to add pages (the pattern every page module follows, e.g. `calsync.web.home`):

    from calsync.web.pages import WebContext, pages_router, render

    def router(web: WebContext) -> APIRouter:
        pages = pages_router()                      # CSRF-guarded, HTML by default
        web.add_nav("Status", "/status", audience="signed_in")

        @pages.get("/status")
        async def status(request: Request, user: WebUser = Depends(user_required("/connect"))):
            data = await off_loop(...)              # use-case logic lives in calsync.services
            return render(request, "status.html", data=data)

        @pages.post("/status/pause")
        async def pause(request: Request, user: WebUser = Depends(...)) -> RedirectResponse:
            ...                                     # the CSRF token was already checked
            flash(request, "Sync paused.")
            return see_other("/status")             # POST-redirect-GET
        return pages

then add the module's `router` to `features()` below. Templates live in `calsync/web/templates/`,
extend `base.html` and put `{{ csrf_field() }}` in every form; they get `user`, `nav`, `flashes`,
`csrf_token()` (for an `X-CSRF-Token` header) and whatever the route passes. Errors are exceptions
(`calsync.web.errors`): `PageError` (any status), `Forbidden`, `CsrfRefused`, `SignInRequired`
(redirect), `FlowRefused` (calsync.web.flows); they become pages here, with the same security
headers as every response (calsync.web.security).
"""

from __future__ import annotations

import inspect
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Depends, FastAPI
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request

from calsync.services import Deployment
from calsync.settings import Settings
from calsync.web.csrf import FIELD, csrf_token, require_csrf
from calsync.web.errors import PageError, SignInRequired
from calsync.web.flows import FlowStore
from calsync.web.security import SecurityHeaders, safe_return_path
from calsync.web.sessions import SessionMiddleware, load_session_secret
from calsync.web.users import WebUser, current_user

__all__ = [
    "NavEntry",
    "WebContext",
    "flash",
    "mount_pages",
    "pages_router",
    "render",
    "return_path_of",
    "see_other",
    "web_context",
]

HERE = Path(__file__).parent
Audience = Literal["anyone", "anonymous", "signed_in", "admin"]
log = logging.getLogger("calsync.web")


@dataclass(frozen=True, slots=True)
class NavEntry:
    """A link in the header: shown to `audience` (anyone, anonymous only, any signed-in user, admins)."""

    label: str
    path: str
    audience: Audience = "anyone"
    exact: bool = False  # current only on `path` itself, not on the pages below it

    def visible_to(self, user: WebUser | None) -> bool:
        """Whether this entry appears in `user`'s header."""
        return {
            "anyone": True,
            "anonymous": user is None,
            "signed_in": user is not None,
            "admin": user is not None and user.is_admin,
        }[self.audience]


@dataclass
class WebContext:
    """What every page module gets: the deployment, the public URL, templates, navigation, flows."""

    deployment: Deployment
    public_url: str
    secure: bool
    templates: jinja2.Environment
    flows: FlowStore = field(default_factory=FlowStore)
    nav: list[NavEntry] = field(default_factory=list)
    # the runtime's "run this scope now" (None: no runtime, e.g. tests of the pages alone)
    request_run: Callable[[str, bool], Awaitable[str]] | None = None

    @property
    def settings(self) -> Settings:
        """The deployment's settings."""
        return self.deployment.settings

    def url(self, path: str) -> str:
        """An absolute URL on this site (redirect URIs registered with Entra are built from it)."""
        return self.public_url.rstrip("/") + path

    def add_nav(self, label: str, path: str, audience: Audience = "anyone", *, exact: bool = False) -> None:
        """Add a header link (in the order modules are mounted); it is marked current on `path` and,
        unless `exact`, on the pages below it."""
        self.nav.append(NavEntry(label, path, audience, exact))


def web_context(request: Request) -> WebContext:
    """The app's `WebContext` (also a FastAPI dependency)."""
    web: WebContext = request.app.state.web
    return web


def pages_router(**kwargs: Any) -> APIRouter:
    """An APIRouter whose routes answer HTML and check the CSRF token on every unsafe method."""
    dependencies = [Depends(require_csrf), *kwargs.pop("dependencies", [])]
    return APIRouter(default_response_class=HTMLResponse, dependencies=dependencies, **kwargs)


def flash(request: Request, message: str, kind: Literal["info", "success", "error"] = "info") -> None:
    """A message shown once, on the next page rendered for this session (POST-redirect-GET)."""
    request.session.setdefault("_flash", []).append([kind, message])


def see_other(path: str) -> RedirectResponse:
    """303 to a path on this site (after a POST, or the sign-in's redirect back)."""
    return RedirectResponse(safe_return_path(path), status_code=303)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render `template` with the common context (user, nav, flashes, CSRF) plus `context`."""
    web = web_context(request)
    user = current_user(request)
    flashes = request.session.pop("_flash", []) if "_flash" in request.session else []
    nav = [e for e in web.nav if e.visible_to(user)]
    path = request.url.path
    here = [
        e.path
        for e in nav
        if path == e.path or (not e.exact and e.path != "/" and path.startswith(e.path + "/"))
    ]
    html = web.templates.get_template(template).render(
        request=request,
        user=user,
        nav=nav,
        active_path=max(here, key=len, default=None),  # the most specific entry is the current one
        flashes=flashes,
        csrf_token=lambda: csrf_token(request),  # lazy: a page without a form starts no session
        csrf_field=lambda: _hidden(FIELD, csrf_token(request)),
        current_path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


def _hidden(name: str, value: str) -> Markup:
    """A hidden form field; `Markup.format` escapes both values."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(name, value)


def mount_pages(
    app: FastAPI, deployment: Deployment, *, request_run: Callable[[str, bool], Awaitable[str]] | None = None
) -> WebContext:
    """Install sessions, headers, static files, error pages and every page module on `app`."""
    settings = deployment.settings
    public_url, secure = _public_url(settings)
    web = WebContext(deployment, public_url, secure, _templates(), request_run=request_run)
    app.state.web = web
    app.add_middleware(
        SessionMiddleware,
        secret=load_session_secret(settings),
        secure=secure,
        idle_seconds=settings.session_idle_minutes * 60.0,
        max_age_seconds=settings.session_max_hours * 3600.0,
    )
    app.add_middleware(SecurityHeaders, hsts=public_url.startswith("https://"))
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _error_pages(app)
    for feature in features():
        app.include_router(feature(web))
    return web


def features() -> list[Callable[[WebContext], APIRouter]]:
    """Each page module's `router(web)`, mounted in this order (which is also the header's order).

    Imported here, not at the top: the page modules import this module."""
    from calsync.web import admin, adminapp, adminauth, connect, home, me

    return [home.router, connect.router, me.router, adminauth.router, admin.router, adminapp.router]


def _public_url(settings: Settings) -> tuple[str, bool]:
    """(public URL, whether cookies are Secure). An http URL off loopback keeps Secure cookies, so
    signing in fails closed instead of sending a session over plain http."""
    if settings.public_url is not None:
        url = settings.public_url.rstrip("/")
        return url, url.startswith("https://")
    host = settings.listen_host
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{settings.listen_port}"
    if _loopback(host) and settings.web_insecure_http_loopback:
        return url, False
    log.warning(
        "calsync.web.no_public_url",
        extra={"hint": "set public_url to the https URL of the TLS proxy in front of calsync serve"},
    )
    return url, True


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["quote"] = lambda value: quote(str(value), safe="")
    env.filters["when"] = _when
    env.filters["ago"] = _ago
    env.filters["status_class"] = _status_class
    return env


def _when(value: datetime | None) -> str:
    """A time as people read it in a table: UTC, to the minute ("never" for None)."""
    return "never" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _ago(seconds: float | None) -> str:
    """A lag: "never" (no success yet), seconds, minutes, hours or days."""
    if seconds is None:
        return "never synced"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{max(seconds, 0):.0f} s"


def _status_class(status: str) -> str:
    """The CSS class for a run status, a finding level or an outcome (colour plus the word itself)."""
    if status in ("ok", "not_applicable", "info"):
        return "status-ok"
    if status in ("partial", "skipped", "stopped", "warning", "problems"):
        return "status-warn"
    return "status-bad"


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "") and not request.url.path.startswith("/v1/")


def _error_pages(app: FastAPI) -> None:
    """HTML error pages for browsers; every other request keeps the handler registered before (the REST
    API's JSON error shape, calsync.web.api) or FastAPI's own."""
    http_before = app.exception_handlers.get(StarletteHTTPException, http_exception_handler)
    form_before = app.exception_handlers.get(RequestValidationError, request_validation_exception_handler)

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        return render(request, "error.html", exc.status, title=exc.title, message=exc.message)

    @app.exception_handler(SignInRequired)
    async def signin_required(request: Request, exc: SignInRequired) -> Response:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{exc.signin_path}?next={quote(here, safe='/')}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if not _wants_html(request):
            return await _delegate(http_before, request, exc)
        title = {404: "Page not found", 405: "Not allowed here"}.get(exc.status_code, "Something went wrong")
        message = "Check the address, or go back to the start page."
        return render(request, "error.html", exc.status_code, title=title, message=message)

    @app.exception_handler(RequestValidationError)
    async def bad_form(request: Request, exc: RequestValidationError) -> Response:
        if not _wants_html(request):
            return await _delegate(form_before, request, exc)
        fields = sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")})
        message = "Some fields were missing or not valid" + (f": {', '.join(fields)}." if fields else ".")
        return render(request, "error.html", 400, title="Please check the form", message=message)


async def _delegate(handler: Any, request: Request, exc: Exception) -> Response:
    """Call an exception handler FastAPI keeps (plain or async)."""
    answer = handler(request, exc)
    if inspect.isawaitable(answer):
        answer = await answer
    assert isinstance(answer, Response)
    return answer


def return_path_of(request: Request, default: str = "/") -> str:
    """The `next` query parameter, if it is a safe path on this site (else `default`)."""
    return safe_return_path(request.query_params.get("next"), default)
