"""Turning hostile ad text into safe, annotated HTML.

Ads are written by whoever posted them: every character is escaped before any markup of ours
is added, and markup is only ever added around escaped text. Highlight marks from the search
index are control characters that ingest strips from ads, so they cannot be forged.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from safelight.store.fts import HIGHLIGHT_CLOSE, HIGHLIGHT_OPEN


def snippet_html(snippet: str | None) -> Markup:
    """An FTS snippet with its matches in <mark>: escape first, then swap the marks."""
    text = str(escape(snippet or ""))
    return Markup(text.replace(HIGHLIGHT_OPEN, "<mark>").replace(HIGHLIGHT_CLOSE, "</mark>"))


_UNSAFE = re.compile(r"[^A-Za-z0-9_.~-]+")  # all but what quote(..., safe="") leaves as is


def _quoted(m: re.Match[str]) -> str:
    return "".join(f"%{b:02X}" for b in m.group().encode("utf-8"))


def urlpart(value: Any) -> str:
    """One path segment, every reserved character quoted (ad ids may hold '#', '/' or '?').
    The same as quote(value, safe=""), but touching only the runs that need it: a network page
    links hundreds of ids and hashes that need none, or one ':'."""
    return _UNSAFE.sub(_quoted, str(value))


def reason_text(reason: Any) -> str:
    """A reason as one line: the triage and score layers give strings or {text, weight, ...}."""
    if isinstance(reason, dict):
        return str(reason.get("text") or reason.get("reason") or "")
    return str(reason)


@dataclass(slots=True)
class Annotation:
    """A span of the ad text to highlight, with what the side list says about it."""

    index: int
    start: int
    end: int
    kind: str  # phone, email, ... or "indicator"
    label: str  # one line for the title attribute
    css: str


def annotations_for(ad: dict[str, Any], text: str) -> tuple[list[Annotation], list[dict[str, Any]]]:
    """Annotations for the mentions and indicator hits whose spans really are in the text,
    and the side list of everything (with `placed` false for structured-field mentions and
    for spans that no longer fit the text)."""
    anns: list[Annotation] = []
    side: list[dict[str, Any]] = []
    for m in ad.get("mentions", []):
        n = len(side)
        placed = _fits(text, m.get("start", -1), m.get("end", -1), m.get("raw"))
        label = f"{m['kind']}: {m['value']}"
        if m.get("obfuscated"):
            label += " (disguised)"
        detail = m.get("detail") or {}
        if detail.get("field"):
            label += f" — from the structured field {detail['field']!r}"
        side.append(
            {
                "n": n,
                "type": "mention",
                "kind": m["kind"],
                "value": m["value"],
                "raw": m.get("raw", ""),
                "obfuscated": bool(m.get("obfuscated")),
                "confidence": m.get("confidence"),
                "placed": placed,
                "label": label,
                "pivot": m["kind"] in ("phone", "email", "handle", "payment", "photo"),
            }
        )
        if placed:
            anns.append(Annotation(n, m["start"], m["end"], m["kind"], label, f"m-{m['kind']}"))
    for h in ad.get("hits", []):
        n = len(side)
        placed = _fits(text, h.get("start", -1), h.get("end", -1), None)
        label = f"indicator {h['indicator']}: category {h['category']}, weight {h['weight']:g}" + (
            f", source {h['source']}" if h.get("source") else ""
        )
        side.append(
            {
                "n": n,
                "type": "hit",
                "kind": "indicator",
                "indicator": h["indicator"],
                "category": h["category"],
                "weight": h["weight"],
                "source": h.get("source", ""),
                "matched": h.get("matched", ""),
                "placed": placed,
                "label": label,
            }
        )
        if placed:
            anns.append(
                Annotation(
                    n,
                    h["start"],
                    h["end"],
                    "indicator",
                    label,
                    f"hit cat-{_css_word(h['category'])}",
                )
            )
    return anns, side


def _css_word(value: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in str(value).lower())[:40]


def _fits(text: str, start: Any, end: Any, raw: Any) -> bool:
    if not isinstance(start, int) or not isinstance(end, int):
        return False
    if not (0 <= start < end <= len(text)):
        return False
    return raw is None or text[start:end] == raw


def highlight(text: str, anns: list[Annotation]) -> Markup:
    """The text with every annotated span wrapped in <mark>; overlapping spans are split into
    pieces, each piece titled with everything that covers it."""
    if not anns:
        return Markup(escape(text))
    cuts = sorted({0, len(text), *(a.start for a in anns), *(a.end for a in anns)})
    opening: dict[int, list[int]] = {}
    closing: dict[int, list[int]] = {}
    for i, x in enumerate(anns):
        opening.setdefault(x.start, []).append(i)
        closing.setdefault(x.end, []).append(i)
    # A sweep over the cuts, keeping the spans open at each: a hostile ad holds tens of
    # thousands of mentions, and testing every span against every piece took minutes.
    open_now: set[int] = set()
    out: list[str] = []
    for a, b in itertools.pairwise(cuts):
        open_now.difference_update(closing.get(a, ()))
        open_now.update(opening.get(a, ()))
        piece = str(escape(text[a:b]))
        if not open_now:
            out.append(piece)
            continue
        covering = [anns[i] for i in sorted(open_now)]
        classes = " ".join(sorted({x.css for x in covering}))
        title = str(escape("\n".join(x.label for x in covering)))
        refs = " ".join(str(x.index) for x in covering)
        multi = " multi" if len(covering) > 1 else ""
        out.append(
            f'<mark class="ann {classes}{multi}" title="{title}" data-ann="{refs}">{piece}</mark>'
        )
    return Markup("".join(out))
