"""Screen-share providers: where a share link's room lives and how a person enters it.

Two kinds (DESIGN.md §6):

* ``jitsi``: a Jitsi Meet deployment at ``jitsi_base_url``. When an app id and secret
  are configured, every room URL carries a signed HS256 JWT following Jitsi's token
  authentication (``aud``, ``iss``, ``sub``, ``room``, ``exp``, ``nbf`` and
  ``context.user``), so only people sent by this server can enter the room.
* ``template``: any other service, reached through ``share_url_template`` with the
  placeholders ``{room}``, ``{code}`` and ``{name}``.

Phone and tablet browsers cannot share their screen (no ``getDisplayMedia``; jitsi-meet
issue #14336), so a caller on a phone is offered the Jitsi Meet app as well
(:func:`jitsi_app_link`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import jwt

from server.config import ServerSettings

JITSI = "jitsi"
TEMPLATE = "template"
PROVIDERS = (JITSI, TEMPLATE)

JITSI_AUDIENCE = "jitsi"
"""The ``aud`` claim; Jitsi's documented default (``asap_accepted_audiences``)."""
CLOCK_SKEW = timedelta(minutes=1)
"""``nbf`` lies this far before the link's creation, for clocks that run a little behind."""
JITSI_APP_SCHEME = "org.jitsi.meet"
"""The URL scheme that Jitsi Meet's Android and iOS apps register."""
JITSI_ANDROID_PACKAGE = "org.jitsi.meet"
"""The official Android app (Google Play, F-Droid); on iOS it is "Jitsi Meet" in the App Store."""


class ProviderNotConfigured(Exception):
    """The server's screen-share settings cannot produce a room URL."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RoomEntry:
    """Who enters which room, and until when."""

    room: str
    code: str
    display_name: str
    user_id: str
    moderator: bool
    not_before: datetime
    expires_at: datetime


def provider_name(settings: ServerSettings) -> str:
    """The configured provider, checked, in lower case."""
    name = (settings.share_provider or JITSI).strip().lower()
    if name not in PROVIDERS:
        raise ProviderNotConfigured(
            f"服务器的屏幕共享服务设置有误（不支持“{settings.share_provider}”），请联系管理员"
        )
    if name == TEMPLATE:
        _check_template(settings.share_url_template)
    elif not settings.jitsi_base_url.startswith(("http://", "https://")):
        raise ProviderNotConfigured("服务器的 Jitsi 地址设置有误，请联系管理员")
    return name


def _check_template(template: str) -> None:
    if not template.strip():
        raise ProviderNotConfigured("服务器未设置屏幕共享地址模板，请联系管理员")
    if not template.startswith(("http://", "https://")):
        raise ProviderNotConfigured("服务器的屏幕共享地址模板应以 http:// 或 https:// 开头")
    if "{room}" not in template and "{code}" not in template:
        raise ProviderNotConfigured("屏幕共享地址模板中应包含 {room} 或 {code}")


def jitsi_token(settings: ServerSettings, entry: RoomEntry) -> str:
    """A signed HS256 token for one person and one room (Jitsi's token authentication)."""
    domain = (urlsplit(settings.jitsi_base_url).hostname or "*").lower()
    claims: dict[str, Any] = {
        "aud": JITSI_AUDIENCE,
        "iss": settings.jitsi_app_id,
        "sub": domain,
        "room": entry.room,
        "nbf": int((entry.not_before - CLOCK_SKEW).timestamp()),
        "exp": int(entry.expires_at.timestamp()),
        "context": {
            "user": {
                "id": entry.user_id,
                "name": entry.display_name,
                "moderator": "true" if entry.moderator else "false",
            }
        },
    }
    if entry.moderator:
        claims["moderator"] = True
    return jwt.encode(claims, settings.jitsi_app_secret, algorithm="HS256")


def jitsi_signed(settings: ServerSettings) -> bool:
    return bool(settings.jitsi_app_id and settings.jitsi_app_secret)


def room_url(settings: ServerSettings, provider: str, entry: RoomEntry) -> str:
    """The URL that takes a person into the room of ``entry``."""
    if provider == TEMPLATE:
        template = settings.share_url_template
        _check_template(template)
        return (
            template.replace("{room}", quote(entry.room, safe=""))
            .replace("{code}", quote(entry.code, safe=""))
            .replace("{name}", quote(entry.display_name, safe=""))
        )
    base = settings.jitsi_base_url.rstrip("/")
    url = f"{base}/{quote(entry.room, safe='')}"
    if jitsi_signed(settings):
        url += "?jwt=" + jitsi_token(settings, entry)
    # Jitsi reads these from the fragment: a Chinese interface and the person's name,
    # so a caller who is not at ease with computers is not asked to type anything.
    name = quote(f'"{entry.display_name}"', safe="")
    lang = quote('"zhCN"', safe="")
    return f"{url}#config.defaultLanguage={lang}&userInfo.displayName={name}"


def provider_origin(settings: ServerSettings, provider: str) -> str:
    """The scheme and host that room URLs go to (for the join page's form-action)."""
    source = settings.share_url_template if provider == TEMPLATE else settings.jitsi_base_url
    parts = urlsplit(source)
    if not parts.scheme:
        return "https:"
    if not parts.netloc or "{" in parts.netloc:
        return f"{parts.scheme}:"
    return f"{parts.scheme}://{parts.netloc}"


def jitsi_app_link(room_url: str, *, android: bool) -> str:
    """The link that opens a Jitsi room URL in the Jitsi Meet app, with the same host,
    room, query (the JWT) and fragment.

    One way per platform, the ways Jitsi's own web page offers its app
    (``react/features/deep-linking/functions.ts``):

    * Android: an ``intent://…#Intent;scheme=org.jitsi.meet;package=org.jitsi.meet;end``
      link. Custom schemes do not open apps in every Android browser, and naming the
      package makes Chrome open the app store page when the app is missing, instead of
      doing nothing. The room's own fragment may stay in front of ``#Intent;``: Android
      (``Intent.parseUri``) splits the link at its last ``#``.
    * iOS and any other phone: the ``org.jitsi.meet://`` scheme. Universal links are
      registered only for meet.jit.si, not for a deployment of our own.

    The app turns the scheme back into ``https://`` (its ``_fixURIStringScheme``), so a
    deployment must be served over https for the app to reach it.
    """
    scheme, sep, rest = room_url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise ValueError("a Jitsi room URL starts with http:// or https://")
    if android:
        return (
            f"intent://{rest}#Intent;scheme={JITSI_APP_SCHEME};package={JITSI_ANDROID_PACKAGE};end"
        )
    return f"{JITSI_APP_SCHEME}://{rest}"
