"""The administration pages: overview, a mailbox (runs, quarantine, mappings, plan), runs, audit log,
and the actions (sync now, full reconcile, release, purge with a typed confirmation).

Every route needs an administrator (`require_admin`: anonymous -> sign-in, others -> 403). Reads come
from calsync.services.admin; actions call the runtime (`WebContext.request_run`) or calsync.services,
and each is written to the audit log with its outcome. Every form posts, then redirects (PRG).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.requests import Request

from calsync.services import admin as admin_service
from calsync.services.status import status
from calsync.sync.engine import off_loop
from calsync.web.adminauth import audit
from calsync.web.errors import PageError
from calsync.web.pages import WebContext, flash, pages_router, render, see_other
from calsync.web.users import WebUser, require_admin

__all__ = ["Admin", "FormText", "mailbox_path", "router"]

Admin = Annotated[WebUser, Depends(require_admin)]
"""A route parameter: the signed-in administrator (anonymous: sign-in; others: 403)."""
FormText = Annotated[str, Form()]


def mailbox_path(profile: str, mailbox: str) -> str:
    """The page of one mailbox of one profile."""
    return f"/admin/mailboxes/{profile}/{mailbox}"


def router(web: WebContext) -> APIRouter:
    """/admin, /admin/mailboxes/..., /admin/runs, /admin/audit."""
    pages = pages_router(dependencies=[Depends(require_admin)])
    web.add_nav("Overview", "/admin", audience="admin", exact=True)  # not current on /admin/signin
    web.add_nav("Runs", "/admin/runs", audience="admin")
    web.add_nav("App registration", "/admin/app", audience="admin")
    web.add_nav("Audit log", "/admin/audit", audience="admin")

    known = partial(_known, web)
    _reads(web, pages, known)
    _actions(web, pages, known)
    return pages


Known = Callable[[str, str], tuple[str, str]]


def _known(web: WebContext, profile: str, mailbox: str) -> tuple[str, str]:
    """(profile, mailbox) if the deployment has that profile and runs of that mailbox, else a 404 page:
    actions are only taken on mailboxes calsync has synced, never on any address typed into a URL."""
    names = {view.name for view in web.deployment.profiles()}
    if profile not in names:
        raise PageError(404, "No such profile", f"The deployment has no profile {profile!r}.")
    found = status(web.deployment, mailboxes=[mailbox], profile=profile)
    if not found:
        raise PageError(404, "No such mailbox", f"No run of {mailbox} is recorded for profile {profile}.")
    return profile, found[0].mailbox


def _reads(web: WebContext, pages: APIRouter, known: Known) -> None:
    @pages.get("/admin")
    async def overview(request: Request) -> HTMLResponse:
        data = await off_loop(admin_service.overview, web.deployment)
        return render(request, "admin/overview.html", title="Overview", data=data, now=_now(),
                      mailbox_path=mailbox_path)  # fmt: skip

    @pages.get("/admin/runs")
    async def runs(request: Request) -> HTMLResponse:
        rows = await off_loop(admin_service.recent_runs, web.deployment, 200)
        return render(request, "admin/runs.html", title="Runs", rows=rows, mailbox_path=mailbox_path)

    @pages.get("/admin/audit")
    async def audit_log(request: Request) -> HTMLResponse:
        entries = await off_loop(lambda: admin_service.audit_log(web.deployment, limit=500))
        return render(request, "admin/audit.html", title="Audit log", entries=entries)

    @pages.get("/admin/mailboxes/{profile}/{mailbox}")
    async def mailbox(request: Request, profile: str, mailbox: str) -> HTMLResponse:
        profile, mailbox = await off_loop(known, profile, mailbox)
        detail = await off_loop(
            lambda: admin_service.mailbox_detail(web.deployment, mailbox, profile=profile)
        )
        return render(
            request, "admin/mailbox.html", title=mailbox, d=detail, here=mailbox_path(profile, mailbox)
        )

    @pages.get("/admin/mailboxes/{profile}/{mailbox}/plan")
    async def plan(request: Request, profile: str, mailbox: str) -> HTMLResponse:
        profile, mailbox = await off_loop(known, profile, mailbox)
        try:
            steps = await admin_service.plan(web.deployment, mailbox, profile=profile)
            problem = None
        except Exception as exc:  # any failure to plan is shown, never a stack trace
            steps, problem = [], _plain(exc)
        return render(request, "admin/plan.html", title=f"Plan for {mailbox}", steps=steps, problem=problem,
                      mailbox=mailbox, profile=profile, here=mailbox_path(profile, mailbox))  # fmt: skip


def _actions(web: WebContext, pages: APIRouter, known: Known) -> None:
    @pages.post("/admin/mailboxes/{profile}/{mailbox}/run")
    async def run_now(
        request: Request, profile: str, mailbox: str, user: Admin, full: FormText = ""
    ) -> RedirectResponse:
        profile, mailbox = await off_loop(known, profile, mailbox)
        action = "full_reconcile" if full else "sync_now"
        if web.request_run is None:
            await audit(
                web, user, action, "failed", "no runtime in this process", target=f"{profile}:{mailbox}"
            )
            flash(request, "This process runs no syncs: use `calsync sync`.", "error")
            return see_other(mailbox_path(profile, mailbox))
        from calsync.store import scope_key

        answer = await web.request_run(scope_key(profile, mailbox), bool(full))
        await audit(
            web,
            user,
            action,
            "ok" if answer != "refused" else "refused",
            answer,
            target=f"{profile}:{mailbox}",
        )
        what = "A full reconcile" if full else "A sync"
        flash(request, {"queued": f"{what} of {mailbox} is queued.",
                        "merged": f"{what} of {mailbox} was already waiting: it will run once.",
                        }.get(answer, "The service is stopping: try again in a moment."),
              "success" if answer != "refused" else "error")  # fmt: skip
        return see_other(mailbox_path(profile, mailbox))

    @pages.post("/admin/mailboxes/{profile}/{mailbox}/release")
    async def release(
        request: Request, profile: str, mailbox: str, user: Admin, key: FormText = ""
    ) -> RedirectResponse:
        profile, mailbox = await off_loop(known, profile, mailbox)
        from calsync.services import NothingToRelease
        from calsync.services import release as release_items

        try:
            done = await off_loop(lambda: release_items(web.deployment, mailbox, [key] if key else [],
                                                        everything=not key, profile=profile))  # fmt: skip
        except NothingToRelease:
            await audit(
                web, user, "release", "refused", f"not quarantined: {key}", target=f"{profile}:{mailbox}"
            )
            flash(request, "Nothing to release: the item is no longer quarantined.", "error")
        else:
            await audit(web, user, "release", "ok", ", ".join(done), target=f"{profile}:{mailbox}")
            flash(request, f"Released {len(done)} item(s): they are tried again on the next sync.", "success")
        return see_other(mailbox_path(profile, mailbox))

    @pages.get("/admin/mailboxes/{profile}/{mailbox}/purge")
    async def purge_form(request: Request, profile: str, mailbox: str) -> HTMLResponse:
        profile, mailbox = await off_loop(known, profile, mailbox)
        return render(request, "admin/purge.html", title=f"Purge {mailbox}", mailbox=mailbox, profile=profile,
                      here=mailbox_path(profile, mailbox), error=None)  # fmt: skip

    @pages.post("/admin/mailboxes/{profile}/{mailbox}/purge")
    async def purge(
        request: Request, profile: str, mailbox: str, user: Admin, confirm: FormText = ""
    ) -> Response:
        profile, mailbox = await off_loop(known, profile, mailbox)
        target = f"{profile}:{mailbox}"
        if confirm.strip().lower() != mailbox.lower():
            await audit(web, user, "purge", "refused", "confirmation did not match", target=target)
            return render(request, "admin/purge.html", 400, title=f"Purge {mailbox}", mailbox=mailbox,
                          profile=profile, here=mailbox_path(profile, mailbox),
                          error="The address you typed does not match: nothing was removed.")  # fmt: skip
        from calsync.services import MailboxBusy, purge_mailbox

        try:
            result = await purge_mailbox(web.deployment, mailbox, profile=profile)
        except MailboxBusy:
            await audit(web, user, "purge", "refused", "a run of the mailbox is in progress", target=target)
            flash(request, "A sync of this mailbox is running: try the purge again in a minute.", "error")
            return see_other(mailbox_path(profile, mailbox))
        except Exception as exc:  # recorded and shown in plain words
            await audit(web, user, "purge", "failed", _plain(exc), target=target)
            flash(request, f"The purge failed: {_plain(exc)}", "error")
            return see_other(mailbox_path(profile, mailbox))
        await audit(
            web, user, "purge", "ok", f"{result.deleted} of {result.found} events removed", target=target
        )
        flash(request, f"Purged {mailbox}: {result.deleted} of {result.found} events removed.", "success")
        return see_other("/admin")


def _now() -> datetime:
    return datetime.now(UTC)


def _plain(exc: Exception) -> str:
    """One line about a failure, never a traceback (the log has the details)."""
    hint = getattr(exc, "hint", None)
    return f"{type(exc).__name__}: {hint or str(exc)}"[:300]
