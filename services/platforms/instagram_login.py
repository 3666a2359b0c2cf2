"""Which Instagram API a connection talks to, with which token, as decided by the connection itself.

Instagram accounts connect in one of two ways (docs/platforms/instagram.md, "Two flavours"),
and the connection row does not say which:
- Facebook Login: graph.facebook.com (`meta_graph_url`) with a Facebook token (`EAA…`);
- Instagram Login: graph.instagram.com (`instagram_graph_url`) with an Instagram User token
  (`IGAA…`, older ones `IGQV…`), which expires after 60 days unless refreshed.
Each host refuses the other's tokens with code 190, so the decrypted token's prefix decides.
A token with neither prefix is tried once on graph.instagram.com (`GET /me`); the answer
holds for the attempt.

Instagram Login tokens have no refresh token: the long-lived token itself is exchanged at
`GET /refresh_access_token?grant_type=ig_refresh_token` (only once it is at least 24 h old and
not expired). A call refused with 190 is made once more after such a refresh, through the
shared `OAuthToken`. The token travels in the Authorization header there too, never in a URL:
the documentation shows it as the `access_token` query parameter; that the header is accepted
in its place is not verified (if it is not, the refresh fails and the user is asked to
reconnect, exactly as without a refresh).
"""

from __future__ import annotations

import re
from datetime import timedelta

from services.errors import AuthError, RetryableError
from services.platforms.base import AdapterContext, Connection, TokenUpdate
from services.platforms.graph_errors import Classifier, GraphClient
from services.platforms.oauth import OAuthToken
from services.redaction import register_secret

PLATFORM = "instagram"
DISPLAY_NAME = "Instagram"
FACEBOOK_LOGIN_PREFIX = "EAA"
INSTAGRAM_LOGIN_PREFIX = "IG"


def is_instagram_login(connection: Connection, ctx: AdapterContext, *, classify: Classifier) -> bool:
    """Whether the connection's token is an Instagram Login token (see the module docstring)."""
    token = connection.access_token
    if token.startswith(INSTAGRAM_LOGIN_PREFIX):
        return True
    if token.startswith(FACEBOOK_LOGIN_PREFIX):
        return False
    probe = GraphClient(ctx, platform=PLATFORM, display_name=DISPLAY_NAME, token=token, classify=classify)
    try:
        probe.get(f"{ctx.settings.instagram_graph_url.rstrip('/')}/me", fields="user_id")
    except AuthError:
        return False  # graph.instagram.com does not know the token: a Facebook Login one
    return True


def refresh_url(ctx: AdapterContext) -> str:
    """graph.instagram.com/refresh_access_token: documented without a version in the path."""
    return re.sub(r"/v\d+\.\d+$", "", ctx.settings.instagram_graph_url.rstrip("/")) + "/refresh_access_token"


def instagram_graph(
    connection: Connection, ctx: AdapterContext, *, classify: Classifier
) -> tuple[GraphClient, str, str]:
    """The GraphClient, API base URL and Instagram account id to publish with."""
    ig_user = connection.page_id or connection.instagram_id
    if not ig_user:
        raise AuthError(
            PLATFORM,
            "This Instagram connection has no account id. Reconnect your Instagram account in the app, "
            "then reschedule this post.",
            connection_status="revoked",
        )
    if is_instagram_login(connection, ctx, classify=classify):
        base = ctx.settings.instagram_graph_url.rstrip("/")

        def exchange(current: Connection) -> TokenUpdate:
            client = GraphClient(
                ctx,
                platform=PLATFORM,
                display_name=DISPLAY_NAME,
                token=current.access_token,
                classify=classify,
            )
            body = client.get(refresh_url(ctx), grant_type="ig_refresh_token")
            token = body.get("access_token")
            if not isinstance(token, str) or not token:
                raise RetryableError(
                    PLATFORM, "Instagram renewed the login without sending it back; nothing was published."
                )
            register_secret(token)
            expires_in = body.get("expires_in")
            expires_at = ctx.now() + timedelta(seconds=expires_in) if isinstance(expires_in, int) else None
            return TokenUpdate(access_token=token, refresh_token=None, expires_at=expires_at)

        oauth = OAuthToken(connection, ctx, exchange=exchange, refreshable=lambda _: True)
        graph = GraphClient(
            ctx,
            platform=PLATFORM,
            display_name=DISPLAY_NAME,
            token=connection.access_token,
            classify=classify,
            oauth=oauth,
        )
    else:
        base = ctx.settings.meta_graph_url.rstrip("/")
        graph = GraphClient(
            ctx,
            platform=PLATFORM,
            display_name=DISPLAY_NAME,
            token=connection.access_token,
            classify=classify,
        )
    return graph, base, ig_user
