"""The ad text's highlighting: every piece marked with exactly the spans covering it."""

from __future__ import annotations

import itertools
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from safelight.web.render import Annotation, highlight

_MARK = re.compile(r'<mark class="ann ([^"]*?)(?: multi)?" title="([^"]*)" data-ann="([^"]*)">')


def _covering_by_piece(text: str, anns: list[Annotation]) -> list[tuple[str, str]]:
    """(piece, refs) for each piece between cuts, by the definition: every span covering it."""
    cuts = sorted({0, len(text), *(a.start for a in anns), *(a.end for a in anns)})
    out = []
    for a, b in itertools.pairwise(cuts):
        refs = " ".join(str(x.index) for x in anns if x.start <= a and x.end >= b)
        out.append((text[a:b], refs))
    return out


@settings(max_examples=200, deadline=None)
@given(
    spans=st.lists(st.tuples(st.integers(0, 30), st.integers(1, 8)), max_size=25),
    text=st.text(alphabet="ab <&", min_size=40, max_size=40),
)
def test_each_piece_names_every_span_that_covers_it(
    spans: list[tuple[int, int]], text: str
) -> None:
    anns = [
        Annotation(i, s, s + n, "phone", f"label {i}", f"k{i % 3}")
        for i, (s, n) in enumerate(spans)
    ]
    html = str(highlight(text, anns))
    got = []
    for chunk in re.split(r"(<mark [^>]*>.*?</mark>)", html):
        if not chunk:
            continue
        m = _MARK.match(chunk)
        piece = chunk[m.end() : -len("</mark>")] if m else chunk
        got.append((piece, m.group(3) if m else ""))
    expected = [
        (p.replace("&", "&amp;").replace("<", "&lt;"), r) for p, r in _covering_by_piece(text, anns)
    ]
    # unmarked neighbours come out as one string; compare the marked pieces and the full text
    assert [g for g in got if g[1]] == [e for e in expected if e[1]]
    assert "".join(p for p, _ in got) == "".join(p for p, _ in expected)
