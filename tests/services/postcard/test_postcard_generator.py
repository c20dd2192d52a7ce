"""The AI-workflow stand-in: deterministic, escaped SVG and markup; whole-word moderation; settings."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from services.postcard.artwork import render
from services.postcard.generator import ContentRejected, PostcardGenerator
from services.postcard.model import PostcardRequest
from services.postcard.settings import GeneratorSettings, PostcardServiceSettings

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = PostcardRequest(
    mood='"quoted"', style="<style>", theme="<script>x()</script> & co", recipient="O'Hara", message="{{a}}\nb"
)


def test_rendering_is_deterministic_and_depends_on_the_inputs() -> None:
    one = PostcardRequest("happy", "retro", "sea")
    other = PostcardRequest("happy", "retro", "mountains")

    assert render(one, "/i") == render(one, "/i")
    assert render(one, "/i").svg != render(other, "/i").svg


def test_svg_is_valid_xml_with_the_text_drawn_on_it() -> None:
    root = ET.fromstring(render(HOSTILE, "/i").svg)

    assert root.tag == f"{SVG}svg"
    texts = [element.text for element in root.iter(f"{SVG}text")]
    assert texts[0] == HOSTILE.theme
    assert "To O'Hara" in texts
    assert any("{{a}} b" in text for text in texts)
    assert '"quoted" · <style>' in texts
    assert not list(root.iter(f"{SVG}script"))


def test_frontend_code_shows_the_image_and_escapes_user_text() -> None:
    code = render(HOSTILE, "/api/v1/postcards/p1/image").frontend_code

    assert 'src="/api/v1/postcards/p1/image"' in code
    assert "<script>" not in code and "&lt;script&gt;" in code
    assert "O&#x27;Hara" in code
    assert "{{" not in code and "&#123;&#123;a&#125;&#125;" in code


@pytest.mark.parametrize("text", ["a SCAM offer", "scam", "forbidden-fruit", "(Forbidden)"])
def test_moderation_rejects_blocked_words(text: str) -> None:
    generator = PostcardGenerator(GeneratorSettings(delay_seconds=0, blocked_words=["scam", "forbidden"]))

    with pytest.raises(ContentRejected) as raised:
        generator.moderate(PostcardRequest("happy", "retro", text))

    assert str(raised.value) == "content rejected by moderation: theme contains a blocked word"


def test_moderation_matches_whole_words_only() -> None:
    generator = PostcardGenerator(GeneratorSettings(delay_seconds=0, blocked_words=["scam", " ", ""]))

    generator.moderate(PostcardRequest("happy", "retro", "scampi and escamotage"))


async def test_generate_waits_then_renders() -> None:
    generator = PostcardGenerator(GeneratorSettings(delay_seconds=0.01, blocked_words=[]))

    artwork = await generator.generate(PostcardRequest("happy", "retro", "sea"), "/i")

    assert artwork == render(PostcardRequest("happy", "retro", "sea"), "/i")


def test_settings_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = PostcardServiceSettings()
    assert (defaults.host, defaults.port, str(defaults.db_path)) == (
        "127.0.0.1", 50052, ".state/postcard-service/postcards.sqlite3"
    )
    assert (defaults.worker.embedded, defaults.worker.count, defaults.worker.lease_seconds) == (True, 1, 30)
    assert (defaults.worker.max_attempts, defaults.generator.delay_seconds) == (3, 1.0)
    assert defaults.generator.blocked_words

    monkeypatch.setenv("POSTCARD_SERVICE_PORT", "6000")
    monkeypatch.setenv("POSTCARD_SERVICE_WORKER__EMBEDDED", "false")
    monkeypatch.setenv("POSTCARD_SERVICE_WORKER__LEASE_SECONDS", "7.5")
    monkeypatch.setenv("POSTCARD_SERVICE_GENERATOR__BLOCKED_WORDS", '["spam"]')
    settings = PostcardServiceSettings()

    assert settings.port == 6000
    assert (settings.worker.embedded, settings.worker.lease_seconds) == (False, 7.5)
    assert settings.generator.blocked_words == ["spam"]
