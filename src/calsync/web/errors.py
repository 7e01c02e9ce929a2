"""The web layer's exceptions: each becomes a human page (or a redirect) in `calsync.web.pages`.

Raise them from routes and dependencies; never build an error page by hand, so every refusal carries
the same headers, status codes and wording.
"""

from __future__ import annotations

__all__ = ["CsrfRefused", "Forbidden", "PageError", "SignInRequired", "WebError"]


class WebError(Exception):
    """Base of the web layer's errors."""


class PageError(WebError):
    """Show an error page: `status`, a short `title` and a sentence saying what to do next."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.message = message


class CsrfRefused(PageError):
    """A state-changing request without this session's CSRF token, or from another site (403)."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            403,
            "This form has expired",
            "The request did not come from a page of this site in your current session. "
            "Go back, reload the page and try again.",
        )
        self.reason = reason


class Forbidden(PageError):
    """Signed in, but not allowed here (e.g. not an administrator) (403)."""

    def __init__(self, message: str = "Your account is not allowed to see this page.") -> None:
        super().__init__(403, "Not allowed", message)


class SignInRequired(WebError):
    """Anonymous on a page that needs a user: redirected to `signin_path?next=<this page>`."""

    def __init__(self, signin_path: str) -> None:
        super().__init__(signin_path)
        self.signin_path = signin_path
