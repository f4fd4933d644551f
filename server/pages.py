"""Every page a caller sees is rendered here: Jinja2 templates (autoescaping on) from
``resources/templates/`` on one base layout (``base.html``), one inline style sheet and
at most one inline script, both allowed by their hash in the Content-Security-Policy.

Large type and high contrast (适老化) are remembered in the ``bangban_mode`` cookie
(``/c/mode`` sets it) and apply to every caller page; the toggle is shown where
``show_modes`` is set.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from core.resources import resource_path

MODE_COOKIE = "bangban_mode"


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(resource_path("templates"))),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _hash_source(text: str) -> str:
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()
    return f"'sha256-{digest}'"


@lru_cache(maxsize=1)
def assets() -> tuple[str, str, str, str]:
    """The style sheet, its CSP source, the conversation script, its CSP source."""
    css = (resource_path("templates") / "caller.css").read_text("utf-8")
    js = (resource_path("templates") / "chat.js").read_text("utf-8")
    return css, _hash_source(css), js, _hash_source(js)


def modes(request: Request | None) -> tuple[bool, bool]:
    """(large type, high contrast) as this browser chose."""
    value = (request.cookies.get(MODE_COOKIE) or "") if request is not None else ""
    return "large" in value, "contrast" in value


def render_page(
    request: Request | None,
    name: str,
    *,
    title: str,
    brand: str,
    brand_short: str,
    subtitle: str,
    status: int = 200,
    script: bool = False,
    show_modes: bool = True,
    form_targets: str = "",
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    css, css_hash, js, js_hash = assets()
    large, contrast = modes(request)
    body = (
        environment()
        .get_template(name)
        .render(
            title=title,
            brand=brand,
            brand_short=brand_short,
            subtitle=subtitle,
            style=css,
            script=js if script else "",
            large=large,
            contrast=contrast,
            mode_classes=" ".join(c for c, on in (("large", large), ("contrast", contrast)) if on),
            mode_back=request.url.path if show_modes and request is not None else "",
            **values,
        )
    )
    scripts = f"script-src {js_hash}; connect-src 'self'; " if script else ""
    policy = (
        "default-src 'none'; "
        f"style-src {css_hash}; "
        f"{scripts}"
        "img-src 'self' data:; "
        f"form-action 'self'{(' ' + form_targets) if form_targets else ''}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    response = HTMLResponse(body, status_code=status)
    response.headers.update(
        {
            "Content-Security-Policy": policy,
            "Cache-Control": "no-store",
            # Codes and tokens are in the address: never hand them on as a referrer.
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
        }
    )
    if headers:
        response.headers.update(headers)
    return response
