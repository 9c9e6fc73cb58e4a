"""Site recipes: how one site's saved pages map to Safelight's record fields.

A recipe is a small YAML file (CSS selectors per field), so supporting a new site is a
data change reviewed like any other, not new code. Pages no recipe claims still become
records through a generic mapping (title and visible text), so nothing is dropped.

Decoding and HTML-to-text live in `htmltext` (re-exported here for convenience).
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urljoin, urlsplit

import yaml
from selectolax.lexbor import LexborHTMLParser, SelectolaxError

from safelight.ingest.htmltext import (
    SNIFF_BYTES,
    decode_html,
    html_to_text,
    markup_hazard,
    strip_markup,
)

__all__ = ["Recipe", "RecipeBook", "apply", "decode_html", "html_to_text", "page_url"]

RECIPES_DIR = Path(__file__).with_name("recipes")

_SAVED_FROM = re.compile(r"<!--\s*saved from url=\(\d+\)\s*(\S+?)\s*-->", re.I)
_TITLE = re.compile(r"<title[^<>]*>([^<]*)</title", re.I)

FieldValue = str | list[str] | list[dict[str, str]]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def page_url(html_text: str) -> str:
    """The page's own URL when a saved page records it (canonical link, og:url, saved-from)."""
    saved = _SAVED_FROM.search(html_text[:SNIFF_BYTES])
    if markup_hazard(html_text) is not None:
        return saved.group(1) if saved else ""
    tree = LexborHTMLParser(html_text)
    places = (('link[rel="canonical"]', "href"), ('meta[property="og:url"]', "content"))
    for selector, attr in places:
        node = tree.css_first(selector)
        if node is not None and (node.attributes.get(attr) or "").strip():
            return (node.attributes.get(attr) or "").strip()
    return saved.group(1) if saved else ""


@dataclass(frozen=True, slots=True)
class FieldRule:
    """Where one record field sits on the page."""

    selector: str
    attr: tuple[str, ...] = ()  # attribute names tried in order; empty: the element's text
    all: bool = False  # every match (a list) rather than the first


@dataclass(frozen=True, slots=True)
class Recipe:
    """One site's mapping from saved pages to record fields."""

    site: str
    hosts: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    fields: dict[str, FieldRule] = field(default_factory=dict)
    source: str = ""
    path: str = ""

    def matches_host(self, host: str) -> bool:
        return any(fnmatch.fnmatchcase(host, pat) for pat in self.hosts)

    def matches_file(self, path: str) -> bool:
        posix = path.replace("\\", "/")
        name = PurePosixPath(posix).name
        return any(fnmatch.fnmatchcase(posix if "/" in pat else name, pat) for pat in self.files)


def _parse_rule(name: str, spec: Any, where: str) -> FieldRule:
    if isinstance(spec, str):
        rule = FieldRule(selector=spec, all=name == "images")
    elif isinstance(spec, dict) and isinstance(spec.get("selector"), str):
        attr = spec.get("attr") or ()
        attrs = (attr,) if isinstance(attr, str) else tuple(attr)
        if not all(isinstance(a, str) for a in attrs):
            raise ValueError(f"{where}: field {name!r}: attr must be a name or a list of names")
        rule = FieldRule(
            selector=spec["selector"], attr=attrs, all=bool(spec.get("all", name == "images"))
        )
    else:
        raise ValueError(f"{where}: field {name!r} needs a selector string or {{selector: ...}}")
    try:
        LexborHTMLParser("<p></p>").css(rule.selector)
    except SelectolaxError as exc:
        raise ValueError(f"{where}: field {name!r}: bad CSS selector {rule.selector!r}") from exc
    return rule


def parse_recipe(doc: Any, where: str = "<recipe>") -> Recipe:
    """Validate one recipe document; errors name the file and the field."""
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: a recipe is a mapping")
    site = doc.get("site")
    if not isinstance(site, str) or not site.strip():
        raise ValueError(f"{where}: 'site' is required")
    if not isinstance(doc.get("source"), str) or not doc["source"].strip():
        raise ValueError(f"{where}: 'source' is required (where the layout knowledge came from)")
    match = doc.get("match") or {}
    if not isinstance(match, dict):
        raise ValueError(f"{where}: 'match' must be a mapping with 'hosts' and/or 'files'")
    hosts = match.get("hosts") or []
    files = match.get("files") or []
    if isinstance(hosts, str):
        hosts = [hosts]
    if isinstance(files, str):
        files = [files]
    if not hosts and not files:
        raise ValueError(f"{where}: 'match' needs 'hosts' and/or 'files' patterns")
    fields_doc = doc.get("fields")
    if not isinstance(fields_doc, dict) or not fields_doc:
        raise ValueError(f"{where}: 'fields' must map record fields to selectors")
    rules = {str(k): _parse_rule(str(k), v, where) for k, v in fields_doc.items()}
    return Recipe(
        site=site.strip(),
        hosts=tuple(str(h).lower() for h in hosts),
        files=tuple(str(f) for f in files),
        fields=rules,
        source=doc["source"].strip(),
        path=where,
    )


@dataclass(slots=True)
class RecipeBook:
    """The recipes in force, tried in load order."""

    recipes: list[Recipe] = field(default_factory=list)

    @classmethod
    def load(cls, paths: Iterable[str | Path]) -> RecipeBook:
        """Read recipe files, or every *.yaml/*.yml in the given folders (sorted)."""
        found: list[Path] = []
        for p in map(Path, paths):
            if p.is_dir():
                found.extend(sorted(x for x in p.iterdir() if x.suffix in {".yaml", ".yml"}))
            else:
                found.append(p)
        recipes: list[Recipe] = []
        seen: dict[str, str] = {}
        for path in found:
            with path.open(encoding="utf-8") as fh:
                recipe = parse_recipe(yaml.safe_load(fh), str(path))
            if recipe.site in seen:
                raise ValueError(
                    f"{path}: site {recipe.site!r} already defined in {seen[recipe.site]}"
                )
            seen[recipe.site] = str(path)
            recipes.append(recipe)
        return cls(recipes)

    @classmethod
    def default(cls) -> RecipeBook:
        """The recipes shipped with Safelight (loaded once)."""
        return _default_book()

    def recipe_for(self, url_or_path: str | Path) -> Recipe | None:
        """The first recipe whose host patterns match a URL, or whose file globs match a path."""
        target = str(url_or_path)
        if "://" in target:
            host = (urlsplit(target).hostname or "").lower()
            return next((r for r in self.recipes if host and r.matches_host(host)), None)
        return next((r for r in self.recipes if r.matches_file(target)), None)


@functools.cache
def _default_book() -> RecipeBook:
    return RecipeBook.load([RECIPES_DIR])


def _field_value(tree: LexborHTMLParser, name: str, rule: FieldRule, url: str) -> Any:
    if rule.all:
        nodes = tree.css(rule.selector)
    else:
        first = tree.css_first(rule.selector)
        nodes = [first] if first is not None else []
    values: list[str] = []
    for node in nodes:
        if rule.attr:
            attrs = node.attributes
            val = next((attrs[a] for a in rule.attr if attrs.get(a)), None)
            if val is None:
                continue
            val = val.strip()
            if name == "images" and url:
                val = urljoin(url, val)
        else:
            val = html_to_text(node) if name == "body" else _one_line(html_to_text(node))
        if val:
            values.append(val)
    if not values:
        return None
    if name == "images":
        return [{"url": v} for v in values]
    if not rule.all:
        return values[0]
    return "\n\n".join(values) if name == "body" else values


def apply(recipe: Recipe | None, html_text: str, url: str = "") -> dict[str, Any]:
    """Map one decoded page to record fields; without a recipe, the generic mapping.

    The generic mapping takes the title from <title> (else the first <h1>) and the body
    from the page's visible text, so a page from an unknown site is still searchable.
    `html` carries the markup the body came from, kept beside the text, never rendered.
    A page the parser is not trusted with (`markup_hazard`) gets the tag-stripped text and
    a note instead.
    """
    out: dict[str, Any] = {}
    hazard = markup_hazard(html_text)
    if hazard is not None:
        found = _TITLE.search(html_text[: 16 * SNIFF_BYTES])
        if found and _one_line(found.group(1)):
            out["title"] = _one_line(found.group(1))
        body = strip_markup(html_text)
        if body:
            out["body"] = body
        out["recipe"] = "none"
        out["parse_note"] = f"{hazard}: not parsed, tags stripped, recipe not applied"
        if url:
            out["url"] = url
        return out
    tree = LexborHTMLParser(html_text)
    if recipe is None:
        title_node = tree.css_first("title") or tree.css_first("h1")
        if title_node is not None:
            title = _one_line(title_node.text(deep=True))
            if title:
                out["title"] = title
        body = html_to_text(tree.body, page=True) if tree.body is not None else ""
        if body:
            out["body"] = body
        out["recipe"] = "generic"
    else:
        for name, rule in recipe.fields.items():
            value = _field_value(tree, name, rule, url)
            if value is not None:
                out[name] = value
        body_rule = recipe.fields.get("body")
        node = tree.css_first(body_rule.selector) if body_rule else None
        if node is not None and node.html:
            out["html"] = node.html
        out["site"] = recipe.site
        out["recipe"] = recipe.site
    if url:
        out.setdefault("url", url)
    return out
