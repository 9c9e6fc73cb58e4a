"""Site recipes, page decoding and HTML-to-text."""

from __future__ import annotations

from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser

from safelight.ingest.htmltext import decode_html, html_to_text, markup_text, strip_markup
from safelight.ingest.recipes import RecipeBook, apply, page_url, parse_recipe

PAGE = """<!DOCTYPE html><html><head><title>Listings - ad 42</title>
<link rel="canonical" href="https://listings.example.com/ad/42"></head><body>
<nav>Home | Post an ad</nav>
<article class="ad" data-ad-id="42">
  <h1 class="ad-title">Sweet  and
     young-looking &amp; new</h1>
  <div class="ad-body"><p>First paragraph.</p><p>Call <b>713-555-0142</b><br>or text</p>
    <script>document.cookie</script><style>p {color: red}</style>
    <img src="x" onerror="alert(1)"></div>
  <time datetime="2026-03-01T14:00:00-06:00">March 1</time>
  <span class="ad-location">Houston, TX</span>
  <a class="ad-phone" href="tel:7135550142">713-555-0142</a>
  <a class="ad-email" href="mailto:sweet@example.com">sweet@example.com</a>
  <span class="ad-age">19</span><span class="ad-name">Candy</span>
  <div class="gallery"><img data-src="/img/1.jpg" src="placeholder.gif">
    <img src="https://cdn.example.com/2.jpg"><img alt="no source"></div>
</article></body></html>"""


def test_default_book_matches_hosts_and_files() -> None:
    book = RecipeBook.default()
    assert [r.site for r in book.recipes] == ["example-listings"]
    assert book.recipe_for("https://listings.example.com/ad/1").site == "example-listings"
    assert book.recipe_for("https://www.listings.example.com/ad/1").site == "example-listings"
    assert book.recipe_for("/crawl/example-listings/p.html").site == "example-listings"
    assert book.recipe_for("example-listings-0001.html").site == "example-listings"
    assert book.recipe_for("https://elsewhere.example.org/") is None
    assert book.recipe_for("/crawl/other/p.html") is None
    assert all(r.source for r in book.recipes)


def test_apply_recipe_maps_every_field() -> None:
    book = RecipeBook.default()
    url = page_url(PAGE)
    assert url == "https://listings.example.com/ad/42"
    out = apply(book.recipe_for(url), PAGE, url)
    assert out["id"] == "42"
    assert out["title"] == "Sweet and young-looking & new"
    assert out["body"] == "First paragraph.\n\nCall 713-555-0142\nor text"
    assert out["posted_at"] == "2026-03-01T14:00:00-06:00"
    assert out["location"] == "Houston, TX"
    assert out["phone"] == "713-555-0142" and out["email"] == "sweet@example.com"
    assert out["age"] == "19" and out["name"] == "Candy"
    assert out["images"] == [
        {"url": "https://listings.example.com/img/1.jpg"},
        {"url": "https://cdn.example.com/2.jpg"},
    ]
    assert out["site"] == "example-listings" and out["url"] == url
    assert "document.cookie" not in out["body"] and "color" not in out["body"]
    assert out["html"].startswith('<div class="ad-body">')  # markup kept beside the text


def test_generic_mapping_without_recipe() -> None:
    out = apply(None, PAGE, "")
    assert out["recipe"] == "generic"
    assert out["title"] == "Listings - ad 42"
    assert "Home | Post an ad" not in out["body"]  # nav dropped
    assert "document.cookie" not in out["body"] and "alert" not in out["body"]
    assert "713-555-0142" in out["body"]
    assert apply(None, "<h1>Only a heading</h1><p>x</p>")["title"] == "Only a heading"
    assert apply(None, "") == {"recipe": "generic"}


def test_recipe_load_from_folder_and_validation(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "site: other\nsource: test fixture\nmatch: {hosts: ['*.other.example.org']}\n"
        "fields: {title: h2, body: {selector: 'div.text', all: true}}\n",
        encoding="utf-8",
    )
    book = RecipeBook.load([tmp_path])
    recipe = book.recipe_for("https://ads.other.example.org/1")
    assert recipe is not None and recipe.site == "other"
    out = apply(recipe, "<h2>T</h2><div class=text>one</div><div class=text>two</div>")
    assert out["body"] == "one\n\ntwo" and out["title"] == "T"
    with pytest.raises(ValueError, match="already defined"):
        RecipeBook.load([tmp_path / "a.yaml", tmp_path / "a.yaml"])


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"source": "s", "match": {"hosts": ["a"]}, "fields": {"title": "h1"}}, "'site'"),
        ({"site": "x", "match": {"hosts": ["a"]}, "fields": {"title": "h1"}}, "'source'"),
        ({"site": "x", "source": "s", "fields": {"title": "h1"}}, "'match'"),
        ({"site": "x", "source": "s", "match": {"hosts": ["a"]}}, "'fields'"),
        (
            {"site": "x", "source": "s", "match": {"hosts": ["a"]}, "fields": {"title": "h1[["}},
            "bad CSS selector",
        ),
        (
            {"site": "x", "source": "s", "match": {"hosts": ["a"]}, "fields": {"title": 3}},
            "needs a selector",
        ),
        (["not", "a", "mapping"], "a recipe is a mapping"),
    ],
)
def test_bad_recipes_are_refused_with_a_reason(doc: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_recipe(doc, "test.yaml")


def test_page_url_from_saved_from_comment() -> None:
    page = "<!-- saved from url=(0034)https://listings.example.com/ad/9 -->\n<p>x</p>"
    assert page_url(page) == "https://listings.example.com/ad/9"
    assert page_url("<p>no url</p>") == ""


@pytest.mark.parametrize(
    ("data", "header", "text", "charset", "note"),
    [
        (b"\xef\xbb\xbf<p>caf\xc3\xa9</p>", None, "<p>caf\u00e9</p>", "utf-8", None),
        ("\ufeff<p>caf\u00e9</p>".encode("utf-16-le"), None, "<p>caf\u00e9</p>", "utf-16-le", None),
        (
            b'<meta charset="windows-1252"><p>caf\xe9</p>',
            None,
            '<meta charset="windows-1252"><p>caf\u00e9</p>',
            "cp1252",
            None,
        ),
        (
            b'<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">\x93hi\x94',
            None,
            '<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">'
            "\u201chi\u201d",
            "cp1252",
            None,
        ),
        (b"<p>caf\xc3\xa9</p>", "utf-8", "<p>caf\u00e9</p>", "utf-8", None),
        (b"<p>caf\xe9</p>", None, "<p>caf\u00e9</p>", "cp1252", "decoded as cp1252"),
        (
            b'<meta charset="nonsense-9"><p>x</p>',
            None,
            '<meta charset="nonsense-9"><p>x</p>',
            "utf-8",
            "unknown charset",
        ),
        (b"<p>caf\xe9</p>", "utf-8", "<p>caf\u00e9</p>", "cp1252", "HTTP header says utf-8"),
    ],
)
def test_decode_html(
    data: bytes, header: str | None, text: str, charset: str, note: str | None
) -> None:
    got_text, got_charset, got_note = decode_html(data, header)
    assert (got_text, got_charset) == (text, charset)
    if note is None:
        assert got_note is None
    else:
        assert got_note is not None and note in got_note


def test_html_to_text_blocks_entities_and_hostile_markup() -> None:
    html = (
        "<div>Hello&nbsp;&amp; welcome<ul><li>one</li><li>two</li></ul>"
        "<table><tr><td>a</td><td>b</td></tr></table>"
        "<noscript>ns</noscript><template>tpl</template><!-- comment -->"
        "<iframe src=x>frame</iframe><img src=x onerror=alert(1)>end</div>"
    )
    assert html_to_text(LexborHTMLParser(html)) == "Hello\u00a0& welcome\none\ntwo\na b\nend"


def test_html_to_text_walks_deep_trees_without_recursion() -> None:
    html = "<b>" * 30_000 + "deep"  # inline nesting: cheap for the parser, deep for a walk
    assert html_to_text(LexborHTMLParser(html)) == "deep"


def test_deeply_nested_blocks_are_stripped_not_parsed() -> None:
    # lexbor slows down quadratically on nested blocks: 50,000 <div> would take ~20 s
    html = "<div>" * 50_000 + "deep &amp; down<script>x()</script>" + "</div>" * 50_000
    text, hazard = markup_text(html)
    assert (text, hazard) == ("deep & down", "markup nested too deep (over 2,000 levels)")
    page = "<title>Deep page</title>" + html
    out = apply(RecipeBook.default().recipes[0], page, "https://listings.example.com/ad/1")
    assert out["title"] == "Deep page" and out["body"] == "Deep page\ndeep & down"
    assert out["recipe"] == "none" and "too deep" in out["parse_note"]
    assert page_url(page) == ""


def test_a_tag_with_too_many_attributes_is_stripped_not_parsed() -> None:
    # lexbor compares each attribute with the tag's earlier ones: 300,000 would take minutes
    attrs = " ".join(f'a{i}="a value"' for i in range(300_000))
    html = f"<div {attrs}>call 713-555-0142</div><p>more</p>"
    text, hazard = markup_text(html)
    assert (text, hazard) == (
        "call 713-555-0142\nmore",
        "a tag with too many attributes (over 1,000)",
    )
    out = apply(RecipeBook.default().recipes[0], "<title>Busy</title>" + html)
    assert out["recipe"] == "none" and "too many attributes" in out["parse_note"]
    # long tags are fine: a data URI, a quoted value full of spaces, a few hundred attributes
    fine = [
        '<img src="data:image/png;base64,' + "A" * 100_000 + '"><p>x</p>',
        '<div title="' + "word " * 5_000 + '">x</div>',
        "<div " + " ".join(f"data-k{i}=v" for i in range(900)) + ">x</div>",
    ]
    assert [markup_text(h)[1] for h in fine] == [None, None, None]


def test_strip_markup_drops_hidden_blocks_and_comments() -> None:
    html = (
        "<p>one</p><SCRIPT type=x>bad()</script ><!-- note --><div>two &lt;3</div>"
        "<style>p{}</style>three<br>four<!-- unclosed comment <p>gone"
    )
    assert strip_markup(html) == "one\ntwo <3\nthree\nfour"
    assert strip_markup("<p>a</p><script>never closed <p>b") == "a"
