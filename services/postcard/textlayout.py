"""Fitting user text into the card by its rendered width, not by its number of characters.

The viewer's fonts draw the SVG, so widths are estimated, erring wide. Text is measured in
clusters (what shows as one symbol: a character with its combining marks and variation
selectors, an emoji with its skin-tone modifier, a zero-width-joined emoji sequence):

- a wide cluster counts two: it holds an East Asian Wide or Fullwidth character
  (`unicodedata.east_asian_width` "W"/"F": CJK ideographs, kana, hangul, fullwidth forms, most
  emoji) or the emoji presentation selector U+FE0F (e.g. "❤️");
- any other cluster counts one (Latin, digits, Cyrillic, ...); a lone combining mark counts none.

One count is `NARROW_EM` (0.625) of the font size: generous for ordinary sans-serif text, bold
included (about 0.5 to 0.55 em a character on average), and a wide cluster (1.25 em) covers a
CJK glyph (1 em) and an emoji (1 to 1.25 em). It is an estimate, not font metrics: a line made
only of the widest Latin letters ("mmm", "WWW", up to about 0.95 em each) is drawn wider than
estimated; the card's 70 px margin around the text area absorbs part of that, not all.
"""
from __future__ import annotations

import unicodedata

NARROW_EM = 0.625
ELLIPSIS = "…"
_ZWJ = "\u200d"
# Full-width punctuation that must not start a line (kinsoku): it stays with the cluster before it.
_NO_LINE_START = frozenset("，。、；：！？）」』】〉》〕］｝”’…")
_EMOJI_PRESENTATION = "\ufe0f"


def units(text: str) -> int:
    """The width of `text` in narrow widths (see the module docstring)."""
    return sum(_cluster_units(cluster) for cluster in clusters(text))


def clusters(text: str) -> list[str]:
    """`text` cut into what displays as one symbol each; a line never breaks inside one."""
    out: list[str] = []
    for char in text:
        if out and (_is_zero_width(char) or _is_emoji_modifier(char) or out[-1].endswith(_ZWJ)):
            out[-1] += char
        else:
            out.append(char)
    return out


def wrap(text: str, max_width: float, font_size: float, max_lines: int) -> list[str]:
    """`text` (whitespace collapsed) in at most `max_lines` lines, each within `max_width` px.

    Lines break at spaces and between wide clusters (CJK has no spaces), and inside a word only
    when the word alone is wider than a line. Text that does not fit ends with "…".
    """
    limit = max_width / (NARROW_EM * font_size)
    lines: list[list[str]] = []
    line: list[str] = []
    for token in _tokens(" ".join(text.split())):
        if _units(line + token) <= limit:
            line += token
            continue
        if _strip(line):
            lines.append(_strip(line))
        line = _strip(token)
        while _units(line) > limit:  # a word wider than a whole line: cut it
            cut = _fitting(line, limit)
            lines.append(line[:cut])
            line = line[cut:]
    if _strip(line):
        lines.append(_strip(line))
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        lines = [*lines[: max_lines - 1], [*_strip(last[: _fitting(last, limit - units(ELLIPSIS))]), ELLIPSIS]]
    return ["".join(line) for line in lines]


def clip(text: str, max_width: float, font_size: float) -> str:
    """`text` on one line (whitespace collapsed), cut to end with "…" if it is wider than `max_width` px.

    Unlike `wrap`, it cuts wherever the width runs out, even inside a word: one line shows most.
    """
    limit = max_width / (NARROW_EM * font_size)
    line = clusters(" ".join(text.split()))
    if _units(line) <= limit:
        return "".join(line)
    return "".join([*_strip(line[: _fitting(line, limit - units(ELLIPSIS))]), ELLIPSIS])


def _is_zero_width(char: str) -> bool:
    # Combining marks, format characters (ZWJ), variation selectors.
    return unicodedata.category(char) in ("Mn", "Me", "Cf") or "\ufe00" <= char <= "\ufe0f"


def _is_emoji_modifier(char: str) -> bool:
    return "\U0001f3fb" <= char <= "\U0001f3ff"  # skin tones


def _cluster_units(cluster: str) -> int:
    if _EMOJI_PRESENTATION in cluster or any(unicodedata.east_asian_width(c) in ("W", "F") for c in cluster):
        return 2
    return 0 if _is_zero_width(cluster[0]) else 1


def _units(cluster_list: list[str]) -> int:
    return sum(_cluster_units(cluster) for cluster in cluster_list)


def _tokens(text: str) -> list[list[str]]:
    """Break opportunities: a space, a wide cluster, or a word (a run of narrow clusters)."""
    tokens: list[list[str]] = []
    for cluster in clusters(text):
        after_text = bool(tokens) and tokens[-1][-1] != " "
        narrow = cluster != " " and _cluster_units(cluster) < 2
        if after_text and (cluster in _NO_LINE_START or (narrow and _cluster_units(tokens[-1][-1]) < 2)):
            tokens[-1].append(cluster)
        else:
            tokens.append([cluster])
    return tokens


def _strip(cluster_list: list[str]) -> list[str]:
    """Without leading and trailing spaces (a line never starts or ends with one)."""
    start, end = 0, len(cluster_list)
    while start < end and cluster_list[start] == " ":
        start += 1
    while end > start and cluster_list[end - 1] == " ":
        end -= 1
    return cluster_list[start:end]


def _fitting(cluster_list: list[str], limit: float) -> int:
    """How many leading clusters fit within `limit` narrow widths (at least one, so wrapping ends)."""
    count, width = 0, 0
    for cluster in cluster_list:
        width += _cluster_units(cluster)
        if width > limit and count > 0:
            break
        count += 1
    return count
