"""The card's text stays inside its text area whatever the script: CJK, Latin, emoji, mixed.

Widths are measured here on their own, from the rule the artwork documents (a wide character,
East Asian "W"/"F" or followed by U+FE0F, counts two narrow widths of 0.625 em; marks, joiners and
selectors count nothing), and compared with the text area read from the SVG itself: the panel
less its 30 px padding.
"""
from __future__ import annotations

import unicodedata
import xml.etree.ElementTree as ET

import pytest

from services.postcard.artwork import render_svg
from services.postcard.model import PostcardRequest
from services.postcard.textlayout import wrap

SVG = "{http://www.w3.org/2000/svg}"
PADDING = 30
CHINESE = "生日快乐，愿你的每一天都充满阳光和欢笑！我们一起去海边看日落吧。"


def rendered_width(text: str, font_size: float) -> float:
    total = 0
    for index, char in enumerate(text):
        if unicodedata.category(char) in ("Mn", "Me", "Cf") or "\ufe00" <= char <= "\ufe0f":
            continue
        if "\U0001f3fb" <= char <= "\U0001f3ff":  # a skin tone shows as part of its emoji
            continue
        wide = unicodedata.east_asian_width(char) in ("W", "F") or text[index + 1 : index + 2] == "\ufe0f"
        total += 2 if wide else 1
    return total * 0.625 * font_size


def lines_of(request: PostcardRequest) -> tuple[list[ET.Element], float, float]:
    """The <text> elements of the card, and the left and right edges of its text area."""
    root = ET.fromstring(render_svg(request))
    panel = next(rect for rect in root.iter(f"{SVG}rect") if rect.get("fill") == "#ffffff")
    left = float(panel.get("x", 0)) + PADDING
    right = float(panel.get("x", 0)) + float(panel.get("width", 0)) - PADDING
    return list(root.iter(f"{SVG}text")), left, right


def message_lines(request: PostcardRequest) -> list[str]:
    texts = [element.text or "" for element in lines_of(request)[0]]
    skip = 2 if request.recipient else 1  # the title, then the recipient
    return texts[skip:-1]  # the footer is last


CASES = {
    "cjk": PostcardRequest("开心" * 25, "赛博朋克" * 12, "生日快乐" * 50, "小明" * 25, (CHINESE * 20)[:500]),
    "latin": PostcardRequest(
        "m" * 50, "s" * 50, "A birthday by the sea " * 9, "r" * 50, ("Happy birthday, dear friend! " * 20)[:500]
    ),
    "one-long-word": PostcardRequest("happy", "ink", "t" * 200, "Mia", "x" * 500),
    "emoji": PostcardRequest("🎉" * 50, "🌊" * 50, "🎂❤️👍🏽" * 60, "🐱" * 50, ("🎉🎂❤️👍🏽🌸" * 100)[:500]),
    "mixed": PostcardRequest(
        "开心 happy 🎉",
        "水彩 watercolour",
        "Happy 生日 to 小明 🎂",
        "Mia 小明",
        ("Happy 生日快乐! 今天是 a wonderful day ❤️ 一起 celebrate 吧🎉 " * 12)[:500],
    ),
}


@pytest.mark.parametrize("request_", CASES.values(), ids=CASES.keys())
def test_every_line_stays_inside_the_text_area(request_: PostcardRequest) -> None:
    elements, left, right = lines_of(request_)

    assert elements
    for element in elements:
        text = element.text or ""
        x, size = float(element.get("x", 0)), float(element.get("font-size", 0))
        assert x == left
        assert x + rendered_width(text, size) <= right, (text, rendered_width(text, size), right - x)


def test_a_500_character_chinese_message_wraps_into_five_lines_that_fit() -> None:
    request = CASES["cjk"]
    lines = message_lines(request)

    assert len(lines) == 5
    assert lines[-1].endswith("…")
    # Shown in order, nothing skipped or repeated: the lines are the start of the message.
    assert request.message.startswith("".join(lines)[:-1])
    # Chinese counts double: a line holds about half as many characters as a Latin line.
    latin = message_lines(CASES["latin"])
    assert max(len(line) for line in lines) <= max(len(line) for line in latin) // 2 + 1


def test_a_short_message_is_whole_and_unclipped() -> None:
    request = PostcardRequest("happy", "ink", "sea", "Mia", "See you   at the\nbeach 海边见 🎉")

    assert message_lines(request) == ["See you at the beach 海边见 🎉"]


def test_lines_break_at_spaces_and_between_cjk_characters_only() -> None:
    lines = wrap("Happy birthday, dear friend! " * 6 + CHINESE * 2, 300, 17, max_lines=20)

    assert all(not line.startswith(" ") and not line.endswith(" ") for line in lines)
    words = {word for line in lines for word in line.split()}
    assert {"Happy", "birthday,", "dear", "friend!"} <= words  # no Latin word was cut
    assert not any(line.startswith(("，", "！", "。")) for line in lines)  # closing punctuation never leads


def test_emoji_sequences_are_never_split() -> None:
    family, thumbs, heart = "👨\u200d👩\u200d👧", "👍🏽", "❤️"
    lines = wrap((family + thumbs + heart) * 30, 100, 17, max_lines=50)

    joined = "".join(lines)
    assert joined == (family + thumbs + heart) * 30
    for line in lines:
        assert not line.startswith(("\u200d", "\ufe0f", "\U0001f3fd"))
        assert not line.endswith("\u200d")


def test_text_is_escaped_wherever_it_is_cut() -> None:
    hostile = "<script>alert(1)</script>&amp;" * 40
    root = ET.fromstring(render_svg(PostcardRequest(hostile[:50], hostile[:50], hostile[:200], "<b>", hostile[:500])))

    assert not list(root.iter(f"{SVG}script"))
    assert any("<script>" in (element.text or "") for element in root.iter(f"{SVG}text"))  # shown as text


def test_a_clipped_single_line_keeps_as_much_as_fits() -> None:
    texts = [element.text or "" for element in lines_of(CASES["latin"])[0]]

    recipient = texts[1]
    assert recipient.startswith("To rrrrrrrrrr") and recipient.endswith("…")  # cut inside the word
