"""Per-word memos never keep a hostile ad's 100,000-character "word"."""

from __future__ import annotations

from safelight.extract import digits, extract_text, phones
from safelight.extract.places import _norm_token
from safelight.link import template
from safelight.link.template import text_signature
from safelight.memo import MAX_KEY_CHARS, short_key_cache


def test_short_key_cache_skips_long_keys() -> None:
    calls: list[str] = []

    @short_key_cache(8)
    def shout(word: str) -> str:
        calls.append(word)
        return word.upper()

    long = "x" * (MAX_KEY_CHARS + 1)
    shouted = [shout("ab"), shout("ab"), shout(long), shout(long)]
    assert shouted == ["AB", "AB", long.upper(), long.upper()]
    assert calls == ["ab", long, long]  # the short key computed once, the long one each time
    assert shout.cache_info().currsize == 1  # type: ignore[attr-defined]


def test_extraction_and_templates_keep_no_long_word() -> None:
    word = "Fiveonefive" * 10_000  # number words glued together, a capitalised "place"
    text = f"{word} call 713-555-0142 in Houston {word.lower()}"
    before = _norm_token.cache_info().currsize  # type: ignore[attr-defined]
    found = extract_text(text)
    assert [m.value for m in found["phones"]] == ["+17135550142"]
    assert text_signature(text, [m for ms in found.values() for m in ms]) is not None
    memos = [*digits._WORDS_OF, *digits._NO_WORDS, *template._PIECES]
    assert memos and max(map(len, memos)) <= MAX_KEY_CHARS
    assert _norm_token.cache_info().currsize - before <= 3  # type: ignore[attr-defined]


def test_phone_window_memo_keeps_no_long_window() -> None:
    """A phone line recurs across a poster's ads and is memoised; a hostile ad's single window
    of thousands of characters is not."""
    phones.clear_window_memo()
    phones.find_phones("call 713-555-0142 tonight", "US")
    assert len(phones._WINDOWS) == 1
    for body in (":8" * 5_000, "1 " * 5_000, "call 713-555-0142 " * 500):
        phones.find_phones(body, "US")
    assert len(phones._WINDOWS) == 1
