"""Sign-in, sign-up and account linking through OAuth providers, under /auth/oauth/<provider>.

GET  login     start signing in (or up) with the provider
GET  callback  where the provider sends the browser back; POST too for form_post (Apple)
POST link      add the provider to the signed-in account (needs a sign-in in the last 10 min)
POST unlink    remove it, unless it is the account's last way in
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, ResponseReturnValue, flash, redirect, request, url_for
from quart_rate_limiter import rate_limit

from service.auth import current_session, login_required, signed_in_session
from service.blueprints.auth import start_signed_in
from service.blueprints.settings import settings_page
from service.config import OAUTH_PROVIDERS
from service.csrf import csrf_exempt
from service.db.types import utcnow
from service.domain import identities
from service.domain.sessions import signed_in_recently
from service.errors import BeaconError, NotFound
from service.extensions import current_settings, db
from service.oauth import oauth_client, oauth_clients, transactions
from service.oauth.client import OAuthClient, OAuthFailed
from service.oauth.profiles import ProviderProfile
from service.ratelimit import AUTH_LIMITS, LINK_LIMITS
from service.redirects import landing_after_sign_in, safe_next

bp = Blueprint("oauth", __name__, url_prefix="/auth/oauth")

# What a provider may send back to the callback; anything else is ignored.
CALLBACK_FIELDS = ("code", "state", "error", "error_description", "user")


@bp.get("/<provider>/login")
@rate_limit(limits=LINK_LIMITS)
async def login(provider: str) -> ResponseReturnValue:
    client = oauth_client(provider)
    next_url = safe_next(request.args.get("next"), url_for("main.home"))
    return await to_provider(client, intent="login", next_url=next_url)


@bp.route("/<provider>/callback", methods=["GET", "POST"])
@csrf_exempt  # only the form_post hop below; it changes nothing and `state` guards the rest
@rate_limit(limits=LINK_LIMITS)
async def callback(provider: str) -> ResponseReturnValue:
    client = oauth_client(provider)
    if request.method == "POST":
        if not client.provider.form_post:
            raise NotFound("This provider returns with a link, not a form.")
        # The cross-site POST carries no SameSite=Lax session cookie; a same-site GET does.
        form = await request.form
        params = {name: form[name] for name in CALLBACK_FIELDS if name in form}
        return redirect(url_for("oauth.callback", provider=provider, **params), 303)
    params = {name: request.args[name] for name in CALLBACK_FIELDS if name in request.args}
    transaction = transactions.take(params.get("state", ""), provider=provider)
    if transaction is None:
        raise OAuthFailed(
            "This sign-in expired or was started in another browser. Start again from this one."
        )
    profile = await client.profile(params, transaction)
    if transaction["intent"] == "link":
        return await finish_linking(client, profile, transaction)
    async with db.session() as session:
        user = await identities.sign_in_with(session, profile=profile, now=utcnow())
    await start_signed_in(user, remember=False)
    return redirect(
        landing_after_sign_in(user, safe_next(transaction.get("next"), url_for("main.home")))
    )


@bp.post("/<provider>/link")
@rate_limit(limits=AUTH_LIMITS)
@login_required
async def link(provider: str) -> ResponseReturnValue:
    client = oauth_client(provider)
    login_session = await signed_in_session()
    if not signed_in_recently(login_session, now=utcnow()):
        await flash(f"To link {client.provider.title}, first confirm it is you: sign in again.")
        return redirect(url_for("auth.login", next=url_for("settings.index")))
    return await to_provider(
        client, intent="link", next_url=url_for("settings.index"), login_session=login_session.id
    )


@bp.post("/<provider>/unlink")
@login_required
async def unlink(provider: str) -> ResponseReturnValue:
    if provider not in OAUTH_PROVIDERS:
        raise NotFound("There is no such provider.")
    login_session = await signed_in_session()
    try:
        async with db.session() as session:
            await identities.unlink(
                session,
                user_id=login_session.user_id,
                provider=provider,
                usable_providers=oauth_clients().keys(),
                password_login=current_settings().password_login,
            )
    except BeaconError as error:
        return await settings_page(error=error.message, status=error.status)
    await flash("The account is unlinked.", "success")
    return redirect(url_for("settings.index"))


async def to_provider(
    client: OAuthClient, *, intent: str, next_url: str, **extra: Any
) -> ResponseReturnValue:
    redirect_uri = current_settings().public_url + url_for(
        "oauth.callback", provider=client.provider.name
    )
    authorization = await client.authorization(redirect_uri)
    transactions.remember(
        {
            **authorization.transaction,
            "provider": client.provider.name,
            "intent": intent,
            "next": next_url,
            **extra,
        }
    )
    return redirect(authorization.url)


async def finish_linking(
    client: OAuthClient, profile: ProviderProfile, transaction: dict[str, Any]
) -> ResponseReturnValue:
    login_session = await current_session()
    if login_session is None or login_session.id != transaction.get("login_session"):
        raise OAuthFailed("Sign in again, then link the account from your settings.")
    async with db.session() as session:
        await identities.link(session, user_id=login_session.user_id, profile=profile, now=utcnow())
    await flash(f"Your {client.provider.title} account is linked.", "success")
    return redirect(url_for("settings.index"))
