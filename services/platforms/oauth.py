"""One connection's OAuth access token during one attempt: refreshed at most once, and never by
two lanes or servers at the same time.

LinkedIn, YouTube, Instagram Login and X all follow the same rule: a call refused with a 401
(that a new token can cure) is repeated once after a refresh. Only the token exchange itself
differs between platforms, so each adapter passes its `exchange` and the rest lives here. The
refresh goes through the run's `TokenVault` (`ctx.tokens`), which serialises refreshes per
connection and stores the new tokens before they are used (X rotates refresh tokens: a refresh
token used twice is a lost connection).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import httpx

from services.platforms.base import AdapterContext, Connection, TokenUpdate
from services.redaction import register_secret

Exchange = Callable[[Connection], TokenUpdate]


def _is_401(response: httpx.Response) -> bool:
    return response.status_code == 401


class OAuthToken:
    """The access token an adapter sends, with the refresh-once rule."""

    def __init__(
        self,
        connection: Connection,
        ctx: AdapterContext,
        *,
        exchange: Exchange,
        refreshable: Callable[[Connection], bool],
    ) -> None:
        register_secret(connection.access_token, connection.refresh_token)
        self.connection = connection
        self.ctx = ctx
        self._exchange = exchange
        self._refreshable = refreshable
        self.refreshed = False

    @property
    def token(self) -> str:
        """The access token to send now (the refreshed one after a refresh)."""
        return self.connection.access_token

    def can_refresh(self) -> bool:
        """Whether one refresh is still allowed and possible (credentials, a refresh token...)."""
        return not self.refreshed and self._refreshable(self.connection)

    def refresh(self) -> None:
        """Get a new access token (at most once per attempt); raises the exchange's typed error."""
        self.refreshed = True
        if self.ctx.tokens is not None:
            self.connection = self.ctx.tokens.refresh(self.connection, self._exchange)
        else:
            update = self._exchange(self.connection)
            self.ctx.save_token(self.connection, update)
            self.connection = replace(
                self.connection,
                access_token=update.access_token,
                refresh_token=update.refresh_token or self.connection.refresh_token,
                token_expires_at=update.expires_at,
            )
        register_secret(self.connection.access_token, self.connection.refresh_token)

    def authorized(
        self, call: Callable[[], httpx.Response], *, curable: Callable[[httpx.Response], bool] = _is_401
    ) -> httpx.Response:
        """Make `call`; when its answer is `curable` by a new token, refresh once and make it again.

        Repeating is safe: a 401 means the platform refused the request without acting on it.
        `call` must read `self.token` each time it runs, so the second try carries the new token.
        """
        response = call()
        if curable(response) and self.can_refresh():
            self.refresh()
            response = call()
        return response
