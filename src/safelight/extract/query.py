"""Turning what an analyst types into the selectors stored for it.

A tip arrives in any spelling ("seven one three 555 o142", "Jane (at) example dot com",
"@sweet_jane"); the same extractors that read the ads read the query, so both meet on the
normalised value.
"""

from __future__ import annotations

from functools import cache

from safelight.extract.emails import find_emails
from safelight.extract.handles import find_handles
from safelight.extract.payments import find_payments
from safelight.extract.phones import find_phones
from safelight.extract.urls import find_urls


@cache
def _handle_platforms() -> tuple[str, ...]:
    from safelight.extract import handles

    platforms = getattr(handles, "PLATFORMS", None)
    if callable(platforms):
        platforms = platforms()
    if not platforms:
        platforms = (
            "instagram",
            "snapchat",
            "telegram",
            "whatsapp",
            "kik",
            "twitter",
            "onlyfans",
            "tiktok",
            "discord",
            "wechat",
            "line",
            "signal",
            "skype",
            "unknown",
        )
    return tuple(sorted(set(platforms) | {"unknown"}))


def selectors_for_query(text: str, region: str = "US") -> list[tuple[str, str]]:
    """The (kind, value) pairs a typed selector stands for, most specific first."""
    text = text.strip()
    if not text:
        return []
    pairs: list[tuple[str, str]] = []
    for m in find_phones(text, region):
        pairs.append(("phone", str(m.value)))
    for m in find_emails(text):
        pairs.append(("email", str(m.value)))
    for m in find_payments(text):
        pairs.append(("payment", str(m.value)))
    for m in find_handles(text):
        pairs.append(("handle", str(m.value)))
    if not pairs:
        for m in find_urls(text):
            pairs.append(("url", str(m.value)))
    bare = text.lstrip("@").lower()
    if not pairs and bare and " " not in bare:
        # A bare name may be a handle on any platform, a cashtag, or a stored value as typed.
        pairs.extend(("handle", f"{p}:{bare}") for p in _handle_platforms())
        pairs.append(("payment", f"cashapp:${bare.lstrip('$')}"))
        pairs.append(("email", bare))
    if ":" in text and not pairs:
        kind, _, value = text.partition(":")
        pairs.append((kind.strip().lower(), value.strip()))
    return list(dict.fromkeys(pairs))
