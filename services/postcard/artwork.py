"""Deterministic rendering of a postcard: an SVG image and the mini-program markup showing it.

The same request always renders the same bytes: colours, the background
shapes and their layout come from a SHA-256 of the inputs, so a retried task
(at-least-once delivery) produces an identical postcard. All user text is
escaped: for XML in the SVG, and for WXML/HTML in `frontend_code` (where `{`
and `}` also become character references so `{{...}}` is never a data binding).
"""
from __future__ import annotations

import hashlib
import html
from dataclasses import astuple, dataclass
from xml.sax.saxutils import escape as xml_escape

from services.postcard.model import PostcardRequest
from services.postcard.textlayout import clip, wrap

WIDTH, HEIGHT = 600, 400
# The translucent panel the text is drawn on, and the text area inside it (30 px padding).
PANEL_X, PANEL_Y, PANEL_WIDTH, PANEL_HEIGHT = 40, 60, WIDTH - 80, HEIGHT - 120
TEXT_LEFT, TEXT_RIGHT = PANEL_X + 30, PANEL_X + PANEL_WIDTH - 30
# Font sizes (px) of the title (bold), the recipient, the message and the footer.
TITLE_SIZE, RECIPIENT_SIZE, MESSAGE_SIZE, FOOTER_SIZE = 26, 18, 17, 14
MESSAGE_LINES = 5


@dataclass(frozen=True)
class Artwork:
    """A rendered postcard."""

    svg: str
    frontend_code: str


def image_url(postcard_id: str) -> str:
    """The REST path of a postcard's image (what `Postcard.image_url` and the markup point at)."""
    return f"/api/v1/postcards/{postcard_id}/image"


def render(request: PostcardRequest, image_url: str) -> Artwork:
    """Render the image and the markup that shows it (pure, CPU-only, fast)."""
    return Artwork(svg=render_svg(request), frontend_code=render_frontend_code(request, image_url))


def render_svg(request: PostcardRequest) -> str:
    """A 600x400 SVG: hash-derived gradient and shapes, a translucent panel and the text on it."""
    digest = hashlib.sha256("\x1f".join(astuple(request)).encode()).digest()
    hue = int.from_bytes(digest[0:2], "big") % 360
    hue2 = (hue + 40 + digest[2] % 140) % 360
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img">',
        f"<title>{xml_escape(request.theme)}</title>",
        '<defs><linearGradient id="bg" x1="0" y1="0" x2="1" y2="1">'
        f'<stop offset="0" stop-color="hsl({hue},70%,62%)"/>'
        f'<stop offset="1" stop-color="hsl({hue2},65%,45%)"/>'
        "</linearGradient></defs>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="url(#bg)"/>',
        *_shapes(digest),
        f'<rect x="{PANEL_X}" y="{PANEL_Y}" width="{PANEL_WIDTH}" height="{PANEL_HEIGHT}" rx="18" '
        'fill="#ffffff" opacity="0.82"/>',
        *_text_lines(request, hue),
        "</svg>",
    ]
    return "\n".join(parts)


def render_frontend_code(request: PostcardRequest, image_url: str) -> str:
    """A self-contained WXML snippet (also valid HTML-ish markup) showing the image and the message."""
    lines = [
        '<view class="postcard" style="display:flex;flex-direction:column;align-items:center;'
        'padding:16px;background:#fafafa;border-radius:16px;">',
        f'  <image class="postcard-image" src="{_markup_escape(image_url)}" mode="widthFix" '
        f'style="width:100%;border-radius:12px;" aria-label="{_markup_escape(request.theme)}"></image>',
    ]
    if request.recipient:
        lines.append(f'  <text class="postcard-recipient">To {_markup_escape(request.recipient)}</text>')
    body = request.message or request.theme
    lines.append(f'  <text class="postcard-message" user-select="true">{_markup_escape(body)}</text>')
    lines.append("</view>")
    return "\n".join(lines)


def _shapes(digest: bytes) -> list[str]:
    """3-7 translucent circles or rounded squares placed by successive digest bytes."""
    shapes = []
    count = 3 + digest[3] % 5
    for index in range(count):
        a, b, c, d = digest[4 + index * 4 : 8 + index * 4]
        x, y = a * WIDTH // 255, b * HEIGHT // 255
        size = 20 + c % 90
        colour = f"hsl({(d * 360) // 255},80%,75%)"
        if d % 2:
            shapes.append(f'<circle cx="{x}" cy="{y}" r="{size}" fill="{colour}" opacity="0.45"/>')
        else:
            shapes.append(
                f'<rect x="{x - size}" y="{y - size}" width="{size * 2}" height="{size * 2}" rx="{size // 4}" '
                f'fill="{colour}" opacity="0.45" transform="rotate({c % 45} {x} {y})"/>'
            )
    return shapes


def _text_lines(request: PostcardRequest, hue: int) -> list[str]:
    """Theme as the title, the recipient, the wrapped message, and mood/style as a footer.

    Every line is fitted to the text area by its estimated rendered width (`textlayout`): CJK
    and emoji count double, so a long Chinese message wraps twice as early as a Latin one.
    """
    ink = f"hsl({hue},45%,22%)"
    area = TEXT_RIGHT - TEXT_LEFT
    out = [_text(110, TITLE_SIZE, ink, clip(request.theme, area, TITLE_SIZE), bold=True)]
    y = 150
    if request.recipient:
        out.append(_text(y, RECIPIENT_SIZE, ink, clip(f"To {request.recipient}", area, RECIPIENT_SIZE)))
        y += 32
    for line in wrap(request.message, area, MESSAGE_SIZE, MESSAGE_LINES):
        out.append(_text(y, MESSAGE_SIZE, ink, line))
        y += 26
    # Mood and style share the footer: each gets at most half of it.
    half = (area - 30) / 2
    footer = f"{clip(request.mood, half, FOOTER_SIZE)} · {clip(request.style, half, FOOTER_SIZE)}"
    out.append(_text(HEIGHT - 82, FOOTER_SIZE, ink, footer))
    return out


def _text(y: int, size: int, fill: str, content: str, bold: bool = False) -> str:
    """One line of text at the left of the text area; `content` is XML-escaped here, always."""
    weight = ' font-weight="bold"' if bold else ""
    return (
        f'<text x="{TEXT_LEFT}" y="{y}" font-size="{size}" fill="{fill}" font-family="sans-serif"{weight}>'
        f"{xml_escape(content)}</text>"
    )


def _markup_escape(value: str) -> str:
    # html.escape covers & < > " '; braces would otherwise start a WXML {{binding}}.
    return html.escape(value, quote=True).replace("{", "&#123;").replace("}", "&#125;")
