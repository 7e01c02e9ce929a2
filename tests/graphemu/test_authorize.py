"""The sign-in/consent page at /authorize and the admin consent pages, driven like a login."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.graphemu.conftest import CLIENT, TENANT
from tests.graphemu.msal_http import Form

AUTHORIZE = f"/{TENANT}/oauth2/v2.0/authorize"
REDIRECT = "http://localhost:8080/callback"
SCOPE = "https://graph.microsoft.com/Calendars.ReadWrite offline_access openid profile"


def params(**extra: str) -> dict[str, str]:
    base = {
        "client_id": CLIENT,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "state": "st-1",
        "nonce": "nn",
        "code_challenge": "c" * 43,
        "code_challenge_method": "S256",
    }
    base.update(extra)
    return {k: v for k, v in base.items() if v != ""}


def user_id(app: Any, upn: str) -> str:
    return str(app.state.world.find_user(upn).id)


def query_of(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


async def submit(
    login: httpx.AsyncClient, page: httpx.Response, path: str = AUTHORIZE, **fields: str
) -> httpx.Response:
    data = {"ctx": Form(page.text).hidden["ctx"], **fields}
    return await login.post(path, data=data)


async def test_the_page_lists_the_tenants_users_and_scopes(app: Any, login: httpx.AsyncClient) -> None:
    """The page offers the tenant's users (login_hint preselected), shows the scopes and sets a CSP."""
    page = await login.get(AUTHORIZE, params=params(login_hint="Alex@contoso.onmicrosoft.com"))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    form = Form(page.text)
    assert user_id(app, "alex@contoso.onmicrosoft.com") in form.options
    assert form.options[user_id(app, "alex@contoso.onmicrosoft.com")] is True
    assert user_id(app, "eve@fabrikam.onmicrosoft.com") not in form.options
    assert "Calendars.ReadWrite" in page.text
    assert "offline_access" in page.text
    assert "ctx" in form.hidden
    assert "graphemu_csrf" in login.cookies


async def test_values_are_escaped(app: Any, login: httpx.AsyncClient) -> None:
    """Names from the directory are HTML-escaped on the page."""
    app.state.world.apps[CLIENT].display_name = '<script>alert("x")</script>'
    page = await login.get(AUTHORIZE, params=params())
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert" in page.text


async def test_accept_redirects_with_a_code_and_records_consent(app: Any, login: httpx.AsyncClient) -> None:
    """Accept records the user's consent and redirects with code, state and session_state."""
    page = await login.get(AUTHORIZE, params=params(scope="Calendars.Read openid"))
    megan = user_id(app, "megan@contoso.onmicrosoft.com")
    answer = query_of(await submit(login, page, user=megan, password="anything", action="accept"))
    assert answer["state"] == "st-1"
    assert answer["code"]
    assert answer["session_state"]
    assert "Calendars.Read" in app.state.world.apps[CLIENT].user_consents[megan]


async def test_cancel_redirects_with_access_denied(app: Any, login: httpx.AsyncClient) -> None:
    """Cancel redirects with error=access_denied, AADSTS65004 and the state."""
    page = await login.get(AUTHORIZE, params=params())
    answer = query_of(
        await submit(login, page, user=user_id(app, "adele@contoso.onmicrosoft.com"), action="cancel")
    )
    assert answer["error"] == "access_denied"
    assert answer["state"] == "st-1"
    assert answer["error_description"].startswith("AADSTS65004")


async def test_wrong_password_shows_the_page_again(app: Any, login: httpx.AsyncClient) -> None:
    """A user with a password must type it: a wrong one shows AADSTS50126 and no redirect."""
    app.state.world.find_user("adele@contoso.onmicrosoft.com").password = "correct horse"
    page = await login.get(AUTHORIZE, params=params())
    adele = user_id(app, "adele@contoso.onmicrosoft.com")
    again = await submit(login, page, user=adele, password="wrong", action="accept")
    assert again.status_code == 200
    assert "AADSTS50126" in again.text
    assert query_of(await submit(login, again, user=adele, password="correct horse", action="accept"))["code"]


async def test_unknown_client_is_an_error_page_not_a_redirect(login: httpx.AsyncClient) -> None:
    """An unknown client_id shows AADSTS700016 and never redirects."""
    page = await login.get(AUTHORIZE, params=params(client_id="00000000-0000-0000-0000-000000000009"))
    assert page.status_code == 400
    assert "location" not in page.headers
    assert "AADSTS700016" in page.text


async def test_unregistered_redirect_uri_is_an_error_page(login: httpx.AsyncClient) -> None:
    """A redirect_uri not registered for the app shows AADSTS50011 and never redirects to it."""
    page = await login.get(AUTHORIZE, params=params(redirect_uri="https://evil.example/cb"))
    assert page.status_code == 400
    assert "location" not in page.headers
    assert "AADSTS50011" in page.text
    missing = await login.get(AUTHORIZE, params=params(redirect_uri=""))
    assert missing.status_code == 400
    assert "AADSTS900971" in missing.text


async def test_forged_or_cookieless_posts_are_refused(app: Any, login: httpx.AsyncClient) -> None:
    """A tampered signed field, or a post without the CSRF cookie, is refused without a redirect."""
    page = await login.get(AUTHORIZE, params=params())
    adele = user_id(app, "adele@contoso.onmicrosoft.com")
    ctx = Form(page.text).hidden["ctx"]
    forged = await login.post(AUTHORIZE, data={"ctx": ctx[:-2] + "xx", "user": adele, "action": "accept"})
    assert forged.status_code == 400
    assert "AADSTS90023" in forged.text
    login.cookies.clear()
    cookieless = await login.post(AUTHORIZE, data={"ctx": ctx, "user": adele, "action": "accept"})
    assert cookieless.status_code == 400
    assert "location" not in cookieless.headers


async def test_form_post_answers_with_an_auto_submitting_form(app: Any, login: httpx.AsyncClient) -> None:
    """response_mode=form_post returns a form to the redirect URI whose script the CSP allows."""
    page = await login.get(AUTHORIZE, params=params(response_mode="form_post"))
    answer = await submit(login, page, user=user_id(app, "adele@contoso.onmicrosoft.com"), action="accept")
    assert answer.status_code == 200
    form = Form(answer.text)
    assert form.forms[0]["action"] == REDIRECT
    assert form.forms[0]["method"] == "post"
    assert form.hidden["state"] == "st-1"
    assert form.hidden["code"]
    assert f"'nonce-{form.script_nonces[0]}'" in answer.headers["content-security-policy"]


async def test_fragment_mode_puts_the_answer_after_the_hash(app: Any, login: httpx.AsyncClient) -> None:
    """response_mode=fragment puts code and state in the URL fragment."""
    page = await login.get(AUTHORIZE, params=params(response_mode="fragment"))
    answer = await submit(login, page, user=user_id(app, "adele@contoso.onmicrosoft.com"), action="accept")
    fragment = parse_qs(urlsplit(answer.headers["location"]).fragment)
    assert fragment["state"] == ["st-1"]
    assert fragment["code"]


async def test_bad_requests_are_redirected_once_the_client_is_known(login: httpx.AsyncClient) -> None:
    """With a good client and redirect URI, request errors go back to the client."""
    answer = query_of(await login.get(AUTHORIZE, params=params(response_type="token")))
    assert answer["error"] == "unsupported_response_type"
    assert answer["state"] == "st-1"
    answer = query_of(await login.get(AUTHORIZE, params=params(scope="")))
    assert answer["error"] == "invalid_request"
    assert "AADSTS900144" in answer["error_description"]
    answer = query_of(await login.get(AUTHORIZE, params=params(code_challenge="short")))
    assert "AADSTS501491" in answer["error_description"]


async def test_prompt_none_needs_a_known_user_and_consent(login: httpx.AsyncClient) -> None:
    """prompt=none without a hint or session is login_required; without consent consent_required."""
    answer = query_of(await login.get(AUTHORIZE, params=params(prompt="none")))
    assert answer["error"] == "login_required"
    assert "AADSTS50058" in answer["error_description"]
    answer = query_of(
        await login.get(
            AUTHORIZE,
            params=params(
                prompt="none", login_hint="megan@contoso.onmicrosoft.com", scope="Mail.Read openid"
            ),
        )
    )
    assert answer["error"] == "consent_required"
    assert "AADSTS65001" in answer["error_description"]


async def test_prompt_none_reuses_the_session_of_a_sign_in(app: Any, login: httpx.AsyncClient) -> None:
    """After one sign-in, prompt=none without a hint answers from the session cookie."""
    page = await login.get(AUTHORIZE, params=params())
    await submit(login, page, user=user_id(app, "alex@contoso.onmicrosoft.com"), action="accept")
    assert query_of(await login.get(AUTHORIZE, params=params(prompt="none")))["code"]


# -- admin consent ----------------------------------------------------------------------------------


async def test_v1_admin_consent_grants_the_requested_permissions(app: Any, login: httpx.AsyncClient) -> None:
    """v1 Accept grants the app's requested permissions and redirects with admin_consent=True."""
    registration = app.state.world.apps[CLIENT]
    registration.application_permissions.clear()
    response = await login.post(
        "/_emu/requested-permissions",
        json={
            "clientId": CLIENT,
            "applicationPermissions": ["Calendars.ReadWrite"],
            "delegatedPermissions": ["Calendars.Read"],
        },
    )
    assert response.status_code == 200
    page = await login.get(
        f"/{TENANT}/adminconsent", params={"client_id": CLIENT, "state": "a1", "redirect_uri": REDIRECT}
    )
    assert page.status_code == 200
    assert "Calendars.ReadWrite" in page.text
    answer = query_of(
        await submit(
            login,
            page,
            f"/{TENANT}/adminconsent",
            user=user_id(app, "adele@contoso.onmicrosoft.com"),
            action="accept",
        )
    )
    assert answer == {"tenant": TENANT, "admin_consent": "True", "state": "a1"}
    assert registration.application_permissions == {"Calendars.ReadWrite"}
    assert "Calendars.Read" in registration.admin_consented_scopes


async def test_v1_admin_consent_cancel_is_permission_denied(app: Any, login: httpx.AsyncClient) -> None:
    """v1 Cancel redirects with error=permission_denied and the documented description."""
    page = await login.get(f"/{TENANT}/adminconsent", params={"client_id": CLIENT, "state": "a2"})
    answer = query_of(
        await submit(
            login,
            page,
            f"/{TENANT}/adminconsent",
            user=user_id(app, "adele@contoso.onmicrosoft.com"),
            action="cancel",
        )
    )
    assert answer == {
        "error": "permission_denied",
        "error_description": "The admin canceled the request",
        "state": "a2",
    }


async def test_v2_admin_consent_grants_named_scopes(app: Any, login: httpx.AsyncClient) -> None:
    """v2 Accept with named scopes grants them tenant-wide and echoes scope."""
    path = f"/{TENANT}/v2.0/adminconsent"
    scope = "https://graph.microsoft.com/Mail.Read"
    page = await login.get(
        path, params={"client_id": CLIENT, "scope": scope, "redirect_uri": REDIRECT, "state": "b1"}
    )
    answer = query_of(
        await submit(login, page, path, user=user_id(app, "adele@contoso.onmicrosoft.com"), action="accept")
    )
    assert answer == {"admin_consent": "True", "tenant": TENANT, "scope": scope, "state": "b1"}
    assert "Mail.Read" in app.state.world.apps[CLIENT].admin_consented_scopes


async def test_v2_admin_consent_cancel_is_consent_required(app: Any, login: httpx.AsyncClient) -> None:
    """v2 Cancel redirects with admin_consent=True, error=consent_required and AADSTS65004."""
    path = f"/{TENANT}/v2.0/adminconsent"
    page = await login.get(
        path,
        params={
            "client_id": CLIENT,
            "scope": "https://graph.microsoft.com/.default",
            "redirect_uri": REDIRECT,
            "state": "b2",
        },
    )
    answer = query_of(
        await submit(login, page, path, user=user_id(app, "adele@contoso.onmicrosoft.com"), action="cancel")
    )
    assert answer["admin_consent"] == "True"
    assert answer["error"] == "consent_required"
    assert re.match(r"AADSTS65004: ", answer["error_description"])
    assert answer["state"] == "b2"


async def test_v2_admin_consent_refuses_common_and_needs_a_scope(login: httpx.AsyncClient) -> None:
    """v2 admin consent over /common is an error page; a missing scope goes back as invalid_request."""
    common = await login.get(
        "/common/v2.0/adminconsent", params={"client_id": CLIENT, "scope": "x", "redirect_uri": REDIRECT}
    )
    assert common.status_code == 400
    assert "AADSTS90130" in common.text
    answer = query_of(
        await login.get(
            f"/{TENANT}/v2.0/adminconsent",
            params={"client_id": CLIENT, "redirect_uri": REDIRECT, "state": "b3"},
        )
    )
    assert answer["error"] == "invalid_request"
    assert answer["state"] == "b3"
