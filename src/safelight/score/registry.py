"""The indicator registry: a versioned data file of evidence-weighted indicators, loaded once.

Why a registry and not code: every flag Safelight raises must be traceable to a written
indicator with its evidence and source, and an admin must be able to review or replace that
list without touching Python. This module validates the file (clear messages naming the entry),
compiles every pattern once into one matcher, and matches on a *folded* copy of the text
(case, accents, look-alike characters, spaced-out letters, repeated letters and zero-width
characters do not matter) while reporting each hit with the ORIGINAL text and span.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from safelight.score.textmatch import Folded, Folder, Matcher, Pattern

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "indicators.yaml"

DIRECTIONS = ("+", "-", "context")
EVIDENCE = ("strong", "moderate", "weak")
# Rules fire from extracted mentions rather than text patterns (see ad_score.py).
RULES = ("obfuscated_phone", "stated_age_under_18", "stated_age_18_19")
# Policy guard: the most a single indicator may weigh for its strength of evidence, so an
# edited or override file cannot give folklore the weight of an outcome-validated finding.
MAX_WEIGHT = {"strong": 0.95, "moderate": 0.3, "weak": 0.1}
PATTERN_KINDS = ("phrase", "regex", "emoji")

_INDICATOR_KEYS = {
    "id",
    "category",
    "patterns",
    "exclude",
    "rule",
    "weight",
    "direction",
    "evidence",
    "source",
    "protected",
    "note",
    "examples",
}
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class RegistryError(ValueError):
    """The registry file is malformed; the message lists every problem and where it is."""


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    label: str
    direction: str
    cap: float
    why: str = ""
    protected: bool = False
    floor: bool = False


@dataclass(frozen=True, slots=True)
class Indicator:
    id: str
    category: str
    direction: str
    weight: float
    evidence: str
    sources: tuple[str, ...]
    patterns: tuple[Pattern, ...] = ()
    exclude: tuple[Pattern, ...] = ()
    rule: str | None = None
    protected: bool = False
    note: str = ""
    examples: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """Citation keys as one string, the form a Hit records."""
        return ",".join(self.sources)

    @property
    def signed_weight(self) -> float:
        """What a hit records: + raises, - lowers, 0 is context."""
        if self.direction == "context":
            return 0.0
        return -self.weight if self.direction == "-" else self.weight


@dataclass(slots=True)
class Match:
    """One indicator hit in ORIGINAL text coordinates: text[start:end] == matched."""

    indicator: Indicator
    matched: str
    start: int
    end: int


@dataclass(eq=False)
class Registry:
    """The loaded registry: indicators, their sources and the compiled matcher."""

    version: str
    changelog: list[dict[str, Any]]
    sources: dict[str, dict[str, str]]
    categories: dict[str, Category]
    indicators: tuple[Indicator, ...]
    network: dict[str, dict[str, Any]]
    dropped: list[dict[str, Any]]
    folder: Folder
    path: str = ""
    by_id: dict[str, Indicator] = field(init=False)
    rules: dict[str, Indicator] = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {ind.id: ind for ind in self.indicators}
        self.rules = {ind.rule: ind for ind in self.indicators if ind.rule}
        pats = [(p, i) for i, ind in enumerate(self.indicators) for p in ind.patterns]
        self._patterns = Matcher(self.folder, pats)
        self._excludes = {
            i: Matcher(self.folder, [(p, i) for p in ind.exclude])
            for i, ind in enumerate(self.indicators)
            if ind.exclude
        }

    def fold(self, text: str) -> Folded:
        return self.folder.fold(text)

    def match(self, text: str) -> list[Match]:
        """Pattern hits in the text, excludes applied, in original coordinates."""
        folded = self.folder.fold(text)
        ftext = folded.text
        padded = " " + ftext
        excludes = self._excludes
        indicators = self.indicators
        out = []
        for s, e, owners in self._patterns.find(ftext, padded):
            start, end = folded.span(s, e)
            for owner in owners:
                ex = excludes.get(owner)
                if ex is not None and ex.overlaps(ftext, padded, s, e):
                    continue
                out.append(Match(indicators[owner], text[start:end], start, end))
        return out

    def citation(self, key: str) -> str:
        """A source key as a full citation with its URL, for reports."""
        src = self.sources.get(key, {})
        url = src.get("url", "")
        return src.get("citation", key) + (f" {url}" if url else "")


# ---- loading and validation --------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _patterns(raw: Any, where: str, errors: list[str]) -> tuple[Pattern, ...]:
    out = []
    if not isinstance(raw, list):
        errors.append(f"{where}: must be a list of {{phrase|regex|emoji: ...}}")
        return ()
    for j, item in enumerate(raw):
        at = f"{where}[{j}]"
        kinds = [k for k in item if k != "needs"] if isinstance(item, dict) else []
        if len(kinds) != 1:
            errors.append(f"{at}: must be one of {{phrase: ...}}, {{regex: ...}}, {{emoji: ...}}")
            continue
        kind, value = kinds[0], item[kinds[0]]
        needs = item.get("needs", [])
        if needs and (
            kind != "regex"
            or not isinstance(needs, list)
            or not all(isinstance(n, str) and n for n in needs)
        ):
            errors.append(f"{at}: needs is a list of substrings, for a regex only")
            continue
        if kind not in PATTERN_KINDS:
            errors.append(f"{at}: unknown pattern kind {kind!r} (use {', '.join(PATTERN_KINDS)})")
            continue
        if not isinstance(value, str) or not value.strip():
            errors.append(f"{at}: {kind} must be a non-empty string")
            continue
        if kind == "regex":
            if "(?P<" in value:
                errors.append(f"{at}: regex must not use named groups")
                continue
            try:
                if re.compile(value).match(""):
                    errors.append(f"{at}: regex matches the empty string")
                    continue
            except re.error as exc:
                errors.append(f"{at}: regex does not compile: {exc}")
                continue
        if kind == "phrase" and not re.search(r"\w", value):
            errors.append(f"{at}: phrase has no letters or digits")
            continue
        out.append(Pattern(kind, value, tuple(needs)))
    return tuple(out)


def _indicator(
    raw: Any, i: int, cats: dict[str, Category], sources: Mapping[str, Any], errors: list[str]
) -> Indicator | None:
    if not isinstance(raw, dict):
        errors.append(f"indicators[{i}]: must be a mapping")
        return None
    where = f"indicators[{i}] ({raw.get('id', '?')})"
    n_before = len(errors)
    unknown = set(raw) - _INDICATOR_KEYS
    if unknown:
        errors.append(f"{where}: unknown key(s) {sorted(unknown)}")
    for key in ("id", "category", "weight", "direction", "evidence", "source", "examples"):
        if key not in raw:
            errors.append(f"{where}: missing {key!r}")
    if len(errors) > n_before:
        return None
    ind_id, cat_name = raw["id"], raw["category"]
    if not isinstance(ind_id, str) or not _ID_RE.match(ind_id):
        errors.append(f"{where}: id must be lower_snake_case")
    cat = cats.get(cat_name)
    if cat is None:
        errors.append(f"{where}: unknown category {cat_name!r} (declare it under categories)")
    direction, evidence, weight = raw["direction"], raw["evidence"], raw["weight"]
    if direction not in DIRECTIONS:
        errors.append(f"{where}: direction must be one of {DIRECTIONS}, got {direction!r}")
    if evidence not in EVIDENCE:
        errors.append(f"{where}: evidence must be one of {EVIDENCE}, got {evidence!r}")
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
        errors.append(f"{where}: weight must be a number, got {weight!r}")
        weight = 0.0
    elif weight < 0 or weight > 1:
        errors.append(f"{where}: weight must be in 0..1, got {weight}")
    elif evidence in MAX_WEIGHT and weight > MAX_WEIGHT[evidence]:
        errors.append(
            f"{where}: weight {weight} is too high for {evidence} evidence "
            f"(at most {MAX_WEIGHT[evidence]})"
        )
    if direction == "context" and weight != 0:
        errors.append(f"{where}: a context indicator must have weight 0")
    if cat is not None and direction in DIRECTIONS and direction not in (cat.direction, "context"):
        errors.append(
            f"{where}: direction {direction!r} not allowed in category {cat.name!r} "
            f"(the category is {cat.direction!r})"
        )
    protected = raw.get("protected", False)
    if not isinstance(protected, bool):
        errors.append(f"{where}: protected must be true or false")
    elif cat is not None and protected != cat.protected:
        errors.append(
            f"{where}: protected must be {str(cat.protected).lower()} to match "
            f"category {cat.name!r}"
        )
    keys = _as_list(raw["source"])
    if not keys:
        errors.append(f"{where}: source must name at least one citation key")
    for key in keys:
        if key not in sources:
            errors.append(f"{where}: source {key!r} is not in the sources section")
    rule = raw.get("rule")
    has_patterns = "patterns" in raw
    patterns = _patterns(raw["patterns"], f"{where}.patterns", errors) if has_patterns else ()
    exclude = _patterns(raw["exclude"], f"{where}.exclude", errors) if "exclude" in raw else ()
    if rule is not None and rule not in RULES:
        errors.append(f"{where}: unknown rule {rule!r} (known: {', '.join(RULES)})")
    if rule is None and not has_patterns:
        errors.append(f"{where}: give either patterns or a rule")
    elif rule is not None and has_patterns:
        errors.append(f"{where}: give either patterns or a rule, not both")
    elif has_patterns and not raw["patterns"]:
        errors.append(f"{where}: patterns must not be empty")
    examples = raw["examples"]
    ex: dict[str, tuple[Any, ...]] = {}
    if not isinstance(examples, dict):
        errors.append(f"{where}: examples must be a mapping with positive and negative lists")
    else:
        for side in ("positive", "negative"):
            items = examples.get(side)
            if not isinstance(items, list) or not items:
                errors.append(f"{where}: examples.{side} needs at least one example")
                continue
            for k, item in enumerate(items):
                ok = isinstance(item, str) or (
                    isinstance(item, dict)
                    and isinstance(item.get("text"), str)
                    and isinstance(item.get("mentions", {}), dict)
                )
                if not ok:
                    errors.append(
                        f"{where}: examples.{side}[{k}] must be a string or "
                        "{text: ..., mentions: {...}}"
                    )
            ex[side] = tuple(items)
    if len(errors) > n_before:
        return None
    return Indicator(
        id=ind_id,
        category=cat_name,
        direction=direction,
        weight=float(weight),
        evidence=evidence,
        sources=tuple(keys),
        patterns=patterns,
        exclude=exclude,
        rule=rule,
        protected=protected,
        note=str(raw.get("note", "")),
        examples=ex,
    )


def _categories(raw: Any, errors: list[str]) -> dict[str, Category]:
    out: dict[str, Category] = {}
    if not isinstance(raw, dict) or not raw:
        errors.append("categories: must be a non-empty mapping")
        return out
    for name, c in raw.items():
        where = f"categories.{name}"
        if not isinstance(c, dict):
            errors.append(f"{where}: must be a mapping")
            continue
        direction, cap = c.get("direction"), c.get("cap")
        if direction not in DIRECTIONS:
            errors.append(f"{where}: direction must be one of {DIRECTIONS}")
            continue
        if isinstance(cap, bool) or not isinstance(cap, int | float) or not 0 <= cap < 1:
            errors.append(f"{where}: cap must be a number in 0..1 (exclusive of 1)")
            continue
        if direction == "context" and cap != 0:
            errors.append(f"{where}: a context category must have cap 0")
            continue
        out[name] = Category(
            name=name,
            label=str(c.get("label", name)),
            direction=direction,
            cap=float(cap),
            why=str(c.get("why", "")),
            protected=bool(c.get("protected", False)),
            floor=bool(c.get("floor", False)),
        )
    return out


def _check_folding(folding: Mapping[str, Any], errors: list[str]) -> None:
    """Character maps must map one character to one: offsets stay exact that way."""
    for key in ("lookalikes", "confusables"):
        table = folding.get(key, {})
        ok = isinstance(table, dict) and all(
            isinstance(k, str | int) and len(str(k)) == 1 and isinstance(v, str) and len(v) == 1
            for k, v in table.items()
        )
        if not ok:
            errors.append(f"folding.{key}: must map single characters to single characters")
    for key in ("ignorable", "word_start_lookalikes"):
        chars = folding.get(key, [])
        if not isinstance(chars, list) or not all(
            isinstance(c, str) and len(c) == 1 for c in chars
        ):
            errors.append(f"folding.{key}: must be a list of single characters")
    if not isinstance(folding.get("letter_separators", " ."), str):
        errors.append("folding.letter_separators: must be a string of characters")


def registry_from_dict(data: Any, origin: str = "<registry>") -> Registry:
    """Validate a parsed registry and compile it; raises RegistryError listing every problem."""
    errors: list[str] = []
    if not isinstance(data, dict):
        raise RegistryError(f"{origin}: the registry must be a YAML mapping")
    version = data.get("version")
    if not isinstance(version, str) or not version:
        errors.append('version: must be a quoted string such as "2026.11.1"')
    changelog = data.get("changelog")
    if not isinstance(changelog, list) or not changelog:
        errors.append("changelog: must be a non-empty list")
    elif not any(isinstance(c, dict) and c.get("version") == version for c in changelog):
        errors.append(f"changelog: has no entry for version {version!r}")
    sources = data.get("sources")
    if not isinstance(sources, dict) or not sources:
        errors.append("sources: must be a mapping of citation key to {citation, url}")
        sources = {}
    for key, src in sources.items():
        if not isinstance(src, dict) or not isinstance(src.get("citation"), str):
            errors.append(f"sources.{key}: needs a citation (and a url when there is one)")
    cats = _categories(data.get("categories"), errors)
    raw_inds = data.get("indicators")
    indicators: list[Indicator] = []
    if not isinstance(raw_inds, list) or not raw_inds:
        errors.append("indicators: must be a non-empty list")
        raw_inds = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_inds):
        ind = _indicator(raw, i, cats, sources, errors)
        if ind is None:
            continue
        if ind.id in seen:
            errors.append(f"indicators[{i}] ({ind.id}): duplicate id")
        seen.add(ind.id)
        indicators.append(ind)
    rules = [ind.rule for ind in indicators if ind.rule]
    for rule in {r for r in rules if rules.count(r) > 1}:
        errors.append(f"indicators: rule {rule!r} is used by more than one indicator")
    network = data.get("network", {})
    if not isinstance(network, dict):
        errors.append("network: must be a mapping of term to {weight, evidence, source}")
        network = {}
    for term, spec in network.items():
        ok = (
            isinstance(spec, dict)
            and isinstance(spec.get("weight"), int | float)
            and 0 <= spec["weight"] <= 1
        )
        if not ok:
            errors.append(f"network.{term}: needs a weight in 0..1")
        for key in _as_list(spec.get("source") if isinstance(spec, dict) else None):
            if key not in sources:
                errors.append(f"network.{term}: source {key!r} is not in the sources section")
    folding = data.get("folding", {})
    if not isinstance(folding, dict):
        errors.append("folding: must be a mapping")
        folding = {}
    _check_folding(folding, errors)
    if errors:
        raise RegistryError(f"{origin}: invalid indicator registry:\n  " + "\n  ".join(errors))
    try:
        return Registry(
            version=str(version),
            changelog=list(changelog or []),
            sources={
                k: {"citation": v.get("citation", ""), "url": v.get("url", "") or ""}
                for k, v in sources.items()
            },
            categories=cats,
            indicators=tuple(indicators),
            network=dict(network),
            dropped=list(data.get("dropped") or []),
            folder=Folder(folding),
            path=origin,
        )
    except re.error as exc:  # patterns valid alone but not together (should not happen)
        raise RegistryError(f"{origin}: patterns do not compile together: {exc}") from exc


def _read(path: Path) -> Registry:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RegistryError(f"{path}: cannot read the indicator registry: {exc}") from exc
    except yaml.YAMLError as exc:
        raise RegistryError(f"{path}: not valid YAML: {exc}") from exc
    return registry_from_dict(data, str(path))


@functools.cache
def _default_registry() -> Registry:
    return _read(DEFAULT_PATH)


@functools.lru_cache(maxsize=8)
def _cached(path: str, mtime_ns: int, size: int) -> Registry:
    return _read(Path(path))


def load_registry(path: str | Path | None = None) -> Registry:
    """The shipped registry (loaded once), or an admin override file (reloaded when it changes)."""
    if path is None or str(path) == "":
        return _default_registry()
    p = Path(path).expanduser().resolve()
    try:
        st = p.stat()
    except OSError as exc:
        raise RegistryError(f"{p}: cannot read the indicator registry: {exc}") from exc
    return _cached(str(p), st.st_mtime_ns, st.st_size)
