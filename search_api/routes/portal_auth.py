"""The portal's sign-in (backend-for-frontend; the flow is search_api.portal_login): the browser
gets an HttpOnly, SameSite=Lax session cookie (Secure over https) and a readable CSRF cookie,
never a token or a key."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from search_api.auth import CSRF_COOKIE, SESSION_COOKIE
from search_api.models import AuthConfig, KeySignIn, MeResponse
from search_api.oidc import TokenRejected
from search_api.portal_login import PortalLogin
from search_api.sessions import LOGIN_TTL_S, Session

router = APIRouter(tags=["auth"])
LOGIN_COOKIE = "folio_login"  # the pending sign-in's state, so a callback is this browser's own


def _login(request: Request) -> PortalLogin:
    return request.app.state.portal_login  # type: ignore[no-any-return]


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _set_session(request: Request, response: Response, session_id: str, session: Session) -> None:
    max_age = int(_login(request).sessions.lifetime_s)
    secure = _secure(request)
    response.set_cookie(SESSION_COOKIE, session_id, max_age=max_age, path="/", httponly=True,
                        samesite="lax", secure=secure)  # fmt: skip
    response.set_cookie(CSRF_COOKIE, session.csrf, max_age=max_age, path="/", samesite="lax", secure=secure)


@router.get("/v1/auth/config", response_model=AuthConfig, summary="How the portal signs people in")
def auth_config(request: Request) -> AuthConfig:
    login = _login(request)
    name = request.app.state.settings.oidc_provider_name if login.oidc_enabled else None
    return AuthConfig(oidc=login.oidc_enabled, provider_name=name)


@router.get("/auth/login", include_in_schema=False)
def auth_login(request: Request) -> RedirectResponse:
    url, state = _login(request).login_url(str(request.url_for("auth_callback")))
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(LOGIN_COOKIE, state, max_age=int(LOGIN_TTL_S), path="/auth", httponly=True,
                        samesite="lax", secure=_secure(request))  # fmt: skip
    return response


@router.get("/auth/callback", include_in_schema=False, name="auth_callback")
def auth_callback(request: Request, state: str = "", code: str = "", error: str = "") -> RedirectResponse:
    if not state or state != request.cookies.get(LOGIN_COOKIE):
        raise HTTPException(status_code=400, detail="this sign-in was not started in this browser (state)")
    if error or not code:
        _login(request).sessions.finish_login(state)
        raise HTTPException(
            status_code=400, detail=f"the identity provider did not sign you in: {error or 'no code'}"
        )
    session_id, session = _login(request).finish(state, code)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(LOGIN_COOKIE, path="/auth")
    _set_session(request, response, session_id, session)
    return response


@router.post("/auth/key", response_model=MeResponse, summary="Sign the portal in with an API key")
def auth_key(request: Request, body: KeySignIn) -> JSONResponse:
    try:
        session_id, session = _login(request).key_session(body.key)
    except TokenRejected as exc:
        raise HTTPException(status_code=401, detail="invalid or revoked API key") from exc
    record = request.app.state.keys.active(session.data["key_id"])
    me = MeResponse(anonymous=False, key_id=record.key_id, groups=record.groups, admin=record.admin)
    response = JSONResponse(me.model_dump())
    _set_session(request, response, session_id, session)
    return response


@router.post("/auth/logout", include_in_schema=False, response_model=None)
def auth_logout(request: Request) -> Response:
    """Ends the session here, then at the provider (RP-initiated logout) for a provider session: a
    form is sent on there (303); a script asking for JSON gets `{"logout_url": ...}` (null when
    there is nowhere to go) and goes itself, so a key session signs out without leaving the page."""
    login = _login(request)
    session_id = request.cookies.get(SESSION_COOKIE, "")
    session = login.sessions.get(session_id) if session_id else None
    after = login.logout_url(session, str(request.base_url))
    if session_id:
        login.sessions.end(session_id)
    response: Response
    if "application/json" in request.headers.get("accept", ""):
        response = JSONResponse({"logout_url": after})
    else:
        response = RedirectResponse(after or "/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response
