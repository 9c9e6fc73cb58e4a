"""HTML helpers shared by the ingest readers and the normaliser.

`decode_html` turns page bytes into text the way browsers pick a charset; `html_to_text`
turns markup into plain text with line breaks and never any script or style content.
Markup is hostile: lexbor's tree building slows down quadratically with deeply nested
block elements (20,000 nested <div> take 1.5 s, 40,000 take 12 s) and with the attributes
of one tag (20,000 take 0.8 s, 40,000 take 3 s), so `markup_hazard` is checked first and
such markup is reduced to text by `strip_markup`, a linear scan.
"""

from __future__ import annotations

import codecs
import html
import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

# Deeper unclosed nesting than this is not given to the parser (2,000 levels: ~20 ms).
MAX_MARKUP_DEPTH = 2_000
# Nor a tag with more attributes than this (lexbor compares each with the tag's earlier ones:
# 1,000 take ~1 ms; a real page's tags have a handful).
MAX_TAG_ATTRIBUTES = 1_000
# Only a tag this long can hold that many (each attribute takes a space and a character).
_LONG_TAG = re.compile(rf"<[A-Za-z][^>]{{{2 * MAX_TAG_ATTRIBUTES},}}")
_QUOTED = re.compile(r""""[^"]*"|'[^']*'""")
_ATTR_GAP = re.compile(r"[ \t\r\n\f/]+")

# Elements whose content is never visible text (or is hostile): dropped whole.
_DROP = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "iframe",
        "object",
        "embed",
        "svg",
        "canvas",
        "head",
        "-comment",
    }
)
# The generic page mapping also drops navigation chrome.
_DROP_PAGE = _DROP | {"nav"}
# Elements that start a new line in rendered text.
_BLOCK = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "title",
        "tr",
        "ul",
        "caption",
        "option",
    }
)
_PARAGRAPH = {t: 2 for t in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre")}
_CELL = frozenset({"td", "th"})
_WS = re.compile(r"[ \t\r\n\f\v]+")
_SPACES = re.compile(r" {2,}")
_BLANKS = re.compile(r"\n{3,}")

# Charset detection reads only the start of a page, as browsers do (WHATWG: 1024 bytes;
# we allow more because saved pages often put a long comment first).
SNIFF_BYTES = 4096
_META_CHARSET = re.compile(rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([A-Za-z0-9._:\-]+)""", re.I)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Labels browsers treat as windows-1252 (WHATWG Encoding Standard).
_AS_CP1252 = frozenset({"iso8859-1", "ascii", "cp1252", "latin-1", "iso-8859-1"})

# Opening (group 1 empty) or closing tags, void elements left out: they never nest.
_TAG_MARK = re.compile(
    r"<(/?)(?!(?:area|base|br|col|embed|hr|img|input|link|meta|param|source|track|wbr)[\s/>])"
    r"[A-Za-z]"
)
_HIDDEN_START = re.compile(r"<(script|style|noscript|template|iframe|object|svg|head)[\s/>]", re.I)
_BREAK_TAG = re.compile(
    r"</?(?:p|div|br|li|tr|ul|ol|dl|dt|dd|h[1-6]|table|section|article|header|footer|"
    r"blockquote|pre|hr|form|main|aside|nav|address|figure|figcaption)(?:[\s/][^<>]*)?>",
    re.I,
)
_BREAK_RUN = re.compile(r" *\n[ \n]*")
_ANY_TAG = re.compile(r"</?[A-Za-z][^<>]*>|<![^<>]*>|<\?[^<>]*>")


def decode_html(data: bytes, http_charset: str | None = None) -> tuple[str, str, str | None]:
    """Page bytes to text: BOM, then the HTTP charset, then <meta charset>, else UTF-8.

    Returns (text, charset used, note). The note is set when we had to guess, so an
    analyst can tell a mis-decoded page from a page that really reads that way.
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(name, errors="replace"), name, None
    notes: list[str] = []
    declared = [("HTTP header", http_charset)] if http_charset else []
    meta = _META_CHARSET.search(data[:SNIFF_BYTES])
    if meta:
        declared.append(("<meta charset>", meta.group(1).decode("ascii", "replace")))
    for where, label in declared:
        codec = _codec_name(label)
        if codec is None:
            notes.append(f"unknown charset {label!r} in {where}")
            continue
        try:
            return data.decode(codec), codec, "; ".join(notes) or None
        except UnicodeDecodeError as exc:
            notes.append(f"{where} says {label} but byte {exc.start + 1} does not decode")
    try:
        return data.decode("utf-8"), "utf-8", "; ".join(notes) or None
    except UnicodeDecodeError as exc:
        notes.append(f"not valid UTF-8 (byte {exc.start + 1}); decoded as cp1252")
    return data.decode("cp1252", errors="replace"), "cp1252", "; ".join(notes)


def _codec_name(label: str) -> str | None:
    """A charset label to a Python codec, with the browser's aliases applied."""
    try:
        name = codecs.lookup(label.strip().lower()).name
    except LookupError:
        return None
    if name in _AS_CP1252:
        return "cp1252"
    if name.startswith("utf-16"):
        return "utf-8"  # a meta tag readable as ASCII cannot be UTF-16 (WHATWG rule)
    return name


def html_to_text(
    node: LexborNode | LexborHTMLParser, *, page: bool = False, max_chars: int | None = None
) -> str:
    """Visible text of markup, with line breaks where a browser would put them.

    Walks the tree without recursion (hostile pages nest deeply) and drops script, style
    and similar content, so no script ever reaches an ad's text. Entities are already
    unescaped by the parser. Paragraph-like blocks are set off by a blank line, other
    blocks by a line break (breaks meeting at a boundary merge, as in `innerText`).
    `page=True` also drops navigation (the generic page mapping). With `max_chars` the
    walk stops once that much text is collected (the caller cuts; this bounds the work).
    """
    drop = _DROP_PAGE if page else _DROP
    start = node.root if isinstance(node, LexborHTMLParser) else node
    if start is None:
        return ""
    out: list[str] = []
    pending = 0  # line breaks owed at the next visible text
    budget = max_chars if max_chars is not None else -1
    stack: list[LexborNode | int | str] = [start]
    while stack:
        item = stack.pop()
        if isinstance(item, int):
            pending = max(pending, item)
            continue
        tag = "-text" if isinstance(item, str) else item.tag
        if tag == "-text":
            raw = item if isinstance(item, str) else item.text_content
            text = _WS.sub(" ", raw or "")
            if pending:
                if text == " " or not text:
                    continue
                if out:
                    out.append("\n" * pending)
                pending = 0
            out.append(text)
            if budget >= 0:
                budget -= len(text)
                if budget < 0:
                    break
            continue
        if tag in drop or tag is None or isinstance(item, str):
            continue
        if tag == "br":
            if pending and out:
                out.append("\n" * pending)
            pending = 0
            out.append("\n")
            continue
        breaks = _PARAGRAPH.get(tag, 1) if tag in _BLOCK else 0
        if breaks:
            pending = max(pending, breaks)
            stack.append(breaks)
        elif tag in _CELL:
            stack.append(" ")  # cells of a row: side by side
        children: list[LexborNode] = []
        child = item.child
        while child is not None:
            children.append(child)
            child = child.next
        stack.extend(reversed(children))
    return tidy_text("".join(out))


def tidy_text(text: str) -> str:
    """Trim each line, collapse runs of spaces and of blank lines."""
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip(" ") for line in text.split("\n"))
    return _BLANKS.sub("\n\n", text).strip("\n")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def markup_hazard(markup: str) -> str | None:
    """Why this markup is not given to the parser (which would take seconds to minutes on
    it), or None. Both tests are upper bounds, cheap to compute."""
    if _too_deep(markup):
        return f"markup nested too deep (over {MAX_MARKUP_DEPTH:,} levels)"
    if _crowded_tag(markup):
        return f"a tag with too many attributes (over {MAX_TAG_ATTRIBUTES:,})"
    return None


def _too_deep(markup: str, limit: int = MAX_MARKUP_DEPTH) -> bool:
    """Whether unclosed tags nest deeper than `limit`."""
    if markup.count("<") <= limit:
        return False
    depth = 0
    for slash in _TAG_MARK.findall(markup):
        if slash:
            depth = depth - 1 if depth else 0
        else:
            depth += 1
            if depth > limit:
                return True
    return False


def _crowded_tag(markup: str) -> bool:
    """Whether a tag may hold more than MAX_TAG_ATTRIBUTES attributes: counted as the gaps
    between them once quoted values (which may hold spaces) are taken out."""
    for m in _LONG_TAG.finditer(markup):
        bare = _QUOTED.sub('""', m.group())
        if len(_ATTR_GAP.findall(bare)) > MAX_TAG_ATTRIBUTES:
            return True
    return False


def strip_markup(markup: str) -> str:
    """Text of markup without building a tree: the linear fallback for hostile nesting.

    Drops script/style-like blocks and comments, breaks lines at block tags, removes
    every other tag and unescapes entities. Coarser than `html_to_text`, never slow.
    """
    lower = markup.lower()
    parts: list[str] = []
    pos = 0
    while pos < len(markup):
        m = _HIDDEN_START.search(markup, pos)
        c = markup.find("<!--", pos)
        if m is None and c < 0:
            parts.append(markup[pos:])
            break
        if c >= 0 and (m is None or c < m.start()):
            parts.append(markup[pos:c])
            end = markup.find("-->", c + 4)
            pos = len(markup) if end < 0 else end + 3
        else:
            assert m is not None
            parts.append(markup[pos : m.start()])
            end = lower.find("</" + m.group(1).lower(), m.end())
            gt = markup.find(">", end) if end >= 0 else -1
            pos = len(markup) if gt < 0 else gt + 1  # unclosed: the rest is hidden too
        parts.append(" ")
    text = _WS.sub(" ", "".join(parts))
    text = _BREAK_TAG.sub("\n", text)
    text = _ANY_TAG.sub("", text)
    text = _BREAK_RUN.sub("\n", text)  # adjacent block tags make one break, not several
    return tidy_text(html.unescape(text))


def markup_text(markup: str, max_chars: int | None = None) -> tuple[str, str | None]:
    """Text of a markup fragment, and why it was not parsed (None: it was)."""
    hazard = markup_hazard(markup)
    if hazard is not None:
        return strip_markup(markup), hazard
    return html_to_text(LexborHTMLParser(markup), max_chars=max_chars), None
