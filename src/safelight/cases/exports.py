"""Case exports: a report for a prosecutor or partner agency (HTML and PDF) and a data bundle
(ZIP of CSV + JSON) with source URLs, content hashes and timestamps for every ad.

The report states facts and their provenance; ad text is always escaped (HTML) or set as
plain text (PDF), never interpreted. Every export is audited with the hash of what left.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

from safelight import __version__
from safelight.cases import audit
from safelight.cases.cases import get_case
from safelight.store import Store
from safelight.store.store import utcnow

FORMATS = {"html": "text/html; charset=utf-8", "pdf": "application/pdf", "zip": "application/zip"}
TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"
MAX_ADS = 2000  # per export; a larger case is cut and says so


def collect(store: Store, case_id: int, user: dict[str, Any]) -> dict[str, Any]:
    """Everything the case holds, resolved: its ads in full, network and entity summaries,
    notes, members and the case's own audit trail."""
    case = get_case(store, case_id, user, audited=False)
    ad_ids: list[str] = []
    networks: list[dict[str, Any]] = []
    entities: list[dict[str, Any]] = []
    for item in case["items"]:
        if item["kind"] == "ad":
            ad_ids.append(item["ref"])
        elif item["kind"] == "network":
            net = _network(store, item["ref"])
            networks.append(net)
            ad_ids.extend(a["id"] for a in net.get("ads", []))
        elif item["kind"] == "entity":
            kind, _, value = item["ref"].partition(":")
            found = (
                store.find_mentions([(kind, value)], limit=MAX_ADS)
                if kind != "photo"
                else {
                    "ads": [],
                    "count": 0,
                    "sites": [],
                    "places": [],
                    "first_seen": None,
                    "last_seen": None,
                }
            )
            entities.append(
                {
                    "kind": kind,
                    "value": value,
                    "count": found["count"],
                    "sites": found["sites"],
                    "places": found["places"],
                    "first_seen": found["first_seen"],
                    "last_seen": found["last_seen"],
                    "ads": [a["id"] for a in found["ads"]],
                }
            )
            ad_ids.extend(a["id"] for a in found["ads"])
    unique = list(dict.fromkeys(ad_ids))
    ads = [a for a in (store.get_ad(i) for i in unique[:MAX_ADS]) if a is not None]
    trail = audit.list_entries(store, target=f"case:{case_id}", limit=1000)
    return {
        "case": case,
        "ads": ads,
        "networks": networks,
        "entities": entities,
        "audit": list(reversed(trail)),
        "generated_at": utcnow(),
        "generated_by": user["name"],
        "safelight_version": __version__,
        "truncated": len(unique) > MAX_ADS,
    }


def _network(store: Store, network_id: str) -> dict[str, Any]:
    try:
        from safelight.link.networks import get_network
    except ImportError:
        return {"id": network_id, "missing": True, "ads": []}
    net = get_network(store, network_id)
    if net is None:
        return {"id": network_id, "missing": True, "ads": []}
    keep = (
        "id",
        "size",
        "first_seen",
        "last_seen",
        "places",
        "sites",
        "score",
        "reasons",
        "selectors",
        "persons",
        "timeline",
        "template",
    )
    out = {k: net.get(k) for k in keep}
    out["ads"] = [
        {
            "id": a["id"],
            "posted_at": a.get("posted_at"),
            "place": a.get("place"),
            "site": a.get("site"),
            "why": a.get("why", []),
        }
        for a in net.get("ads", [])
    ]
    return out


def reason_line(reason: Any) -> str:
    """A score reason as a sentence with what backs it (weight, strength of evidence, sources),
    whether the scoring layer gave a plain string or {text, weight, evidence}."""
    if not isinstance(reason, dict):
        return str(reason)
    text = str(reason.get("text") or "")
    extra = []
    if reason.get("weight"):
        extra.append(f"weight +{float(reason['weight']):.3f}")
    found = reason.get("evidence")
    ev: dict[str, Any] = found if isinstance(found, dict) else {}
    if ev.get("evidence"):
        extra.append(f"evidence {ev['evidence']}")
    sources = ev.get("source")
    if sources:
        extra.append(
            "source " + ", ".join(sources if isinstance(sources, list) else [str(sources)])
        )
    return text + (f" ({'; '.join(extra)})" if extra else "")


# ---- HTML ------------------------------------------------------------------------------------


@cache
def _env() -> Any:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["reason"] = reason_line
    return env


def report_html(data: dict[str, Any]) -> str:
    return _env().get_template("report.html").render(**data)


# ---- PDF -------------------------------------------------------------------------------------


@cache
def _font() -> tuple[str, str]:
    """A Unicode TrueType font (DejaVu if the system has it, else reportlab's bundled Vera), so
    accents and symbols in ads print instead of turning into boxes."""
    import reportlab
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    candidates = [
        (
            Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
            Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
        ),
        (
            Path(reportlab.__file__).parent / "fonts" / "Vera.ttf",
            Path(reportlab.__file__).parent / "fonts" / "VeraBd.ttf",
        ),
    ]
    for regular, bold in candidates:
        if regular.exists() and bold.exists():
            pdfmetrics.registerFont(TTFont("SafelightSans", str(regular)))
            pdfmetrics.registerFont(TTFont("SafelightSans-Bold", str(bold)))
            return "SafelightSans", "SafelightSans-Bold"
    return "Helvetica", "Helvetica-Bold"


def report_pdf(data: dict[str, Any]) -> bytes:
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    regular, bold = _font()
    base = getSampleStyleSheet()
    body = ParagraphStyle("b", parent=base["BodyText"], fontName=regular, fontSize=9, leading=12)
    small = ParagraphStyle(
        "s", parent=body, fontSize=7.5, leading=10, textColor=colors.HexColor("#444444")
    )
    h1 = ParagraphStyle("h1", parent=base["Heading1"], fontName=bold, fontSize=16)
    h2 = ParagraphStyle("h2", parent=base["Heading2"], fontName=bold, fontSize=12)
    h3 = ParagraphStyle("h3", parent=base["Heading3"], fontName=bold, fontSize=10)

    def p(text: Any, style: ParagraphStyle = body) -> Paragraph:
        # Paragraph reads a small markup language: escape ad text so it stays text.
        return Paragraph(
            escape(str(text if text is not None else "")).replace("\n", "<br/>"), style
        )

    case = data["case"]
    story: list[Any] = [
        p(f"Case {case['id']}: {case['title']}", h1),
        p(
            f"Status {case['status']} · owner {case['owner']} · assignee "
            f"{case['assignee'] or '-'} · opened {case['created_at']} · "
            f"report generated {data['generated_at']} by {data['generated_by']} "
            f"(Safelight {data['safelight_version']})",
            small,
        ),
    ]
    if case.get("description"):
        story += [Spacer(1, 3 * mm), p(case["description"])]
    story.append(p("Items", h2))
    rows = [["kind", "reference", "added by", "added at"]] + [
        [i["kind"], i["ref"], i["added_by"], i["added_at"]] for i in case["items"]
    ]
    table = Table(
        [[p(c, small) for c in r] for r in rows], colWidths=[18 * mm, 90 * mm, 30 * mm, 40 * mm]
    )
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
            ]
        )
    )
    story.append(table)
    for net in data["networks"]:
        story.append(p(f"Network {net['id']}", h2))
        if net.get("missing"):
            story.append(p("(no longer in the database)"))
            continue
        story.append(
            p(
                f"{net.get('size')} ads, {net.get('first_seen') or '-'} to "
                f"{net.get('last_seen') or '-'}; "
                f"places: {', '.join(net.get('places') or []) or '-'}; sites: "
                f"{', '.join(net.get('sites') or []) or '-'}"
            )
        )
        for reason in net.get("reasons") or []:
            story.append(p(f"• {reason_line(reason)}"))
        shared = [sel for sel in net.get("selectors") or [] if sel.get("count", 0) >= 2]
        sels = "; ".join(
            f"{sel['kind']} {sel['value']} ({sel['count']} ads{', hub' if sel.get('hub') else ''})"
            for sel in shared[:40]
        )
        if sels:
            story.append(p(f"Shared selectors: {sels}", small))
    for ent in data["entities"]:
        story.append(p(f"Entity {ent['kind']} {ent['value']}", h2))
        story.append(
            p(
                f"{ent['count']} ads, {ent['first_seen'] or '-'} to {ent['last_seen'] or '-'}; "
                f"places: {', '.join(ent['places']) or '-'}; "
                f"sites: {', '.join(ent['sites']) or '-'}"
            )
        )
    if data["case"]["notes"]:
        story.append(p("Notes", h2))
        for note in data["case"]["notes"]:
            story.append(p(f"{note['created_at']} — {note['user']}", small))
            story.append(p(note["text"]))
    story.append(p(f"Ads ({len(data['ads'])}{', cut' if data['truncated'] else ''})", h2))
    for ad in data["ads"]:
        story.append(
            p(
                f"{ad['id']} — {ad.get('site') or '-'} — {ad.get('posted_at') or '-'} — "
                f"{ad.get('place') or ad.get('location') or '-'} — score {ad.get('score', 0):.2f}",
                h3,
            )
        )
        story.append(
            p(
                f"source URL: {ad.get('url') or '-'}; content SHA-256: {ad.get('raw_sha256')}; "
                f"ingested {ad.get('ingested_at')} from {ad.get('source') or '-'} "
                f"record {ad.get('source_line')}",
                small,
            )
        )
        story.append(p((ad.get("title") or "") + "\n" + (ad.get("body") or "")[:4000]))
        mentions = "; ".join(f"{m['kind']} {m['value']}" for m in ad.get("mentions", [])[:60])
        hits = "; ".join(
            f"{h['indicator']} ({h['category']}, {h['weight']:g})" for h in ad.get("hits", [])[:40]
        )
        if mentions:
            story.append(p(f"Selectors: {mentions}", small))
        if hits:
            story.append(p(f"Indicators: {hits}", small))
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        title=f"Safelight case {case['id']}",
        author=data["generated_by"],
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
    )
    doc.build(story)
    return buf.getvalue()


# ---- ZIP bundle ------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?\d[\d.]*$")  # "+17135550142", "-3.5": numbers, not formulas


def _cell(value: Any) -> Any:
    """Ad text is hostile: a cell a spreadsheet would run as a formula is prefixed with '."""
    if (
        isinstance(value, str)
        and value.startswith(_FORMULA_START)
        and not _PLAIN_NUMBER.match(value)
    ):
        return "'" + value
    return value


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buf.getvalue().encode("utf-8")


def bundle_zip(data: dict[str, Any]) -> bytes:
    case = data["case"]
    ad_cols = [
        "id",
        "site",
        "url",
        "posted_at",
        "location",
        "place",
        "title",
        "body",
        "score",
        "raw_sha256",
        "source",
        "source_line",
        "ingested_at",
        "registry_version",
    ]
    mentions = [
        {"ad_id": a["id"], **m, "detail": json.dumps(m.get("detail") or {})}
        for a in data["ads"]
        for m in a.get("mentions", [])
    ]
    hits = [{"ad_id": a["id"], **h} for a in data["ads"] for h in a.get("hits", [])]
    images = [{"ad_id": a["id"], **im} for a in data["ads"] for im in a.get("images") or []]
    files: dict[str, bytes] = {
        "case.json": json.dumps(data, ensure_ascii=False, indent=1, default=str).encode("utf-8"),
        "ads.csv": _csv(data["ads"], ad_cols),
        "mentions.csv": _csv(
            mentions,
            ["ad_id", "kind", "value", "raw", "start", "end", "confidence", "obfuscated", "detail"],
        ),
        "hits.csv": _csv(
            hits, ["ad_id", "indicator", "category", "weight", "matched", "start", "end", "source"]
        ),
        "photos.csv": _csv(images, ["ad_id", "url", "sha256", "pdq", "quality"]),
        "items.csv": _csv(case["items"], ["id", "kind", "ref", "label", "added_by", "added_at"]),
        "notes.csv": _csv(case["notes"], ["id", "user", "created_at", "text"]),
        "audit.csv": _csv(data["audit"], ["seq", "at", "user", "action", "target", "hash"]),
    }
    manifest = {
        "case": case["id"],
        "title": case["title"],
        "generated_at": data["generated_at"],
        "generated_by": data["generated_by"],
        "safelight_version": data["safelight_version"],
        "truncated": data["truncated"],
        "note": "CSV cells starting with = + - @ (other than plain numbers) are prefixed with ' "
        "so spreadsheets do not run them; case.json holds the exact values.",
        "files": {
            name: {"sha256": hashlib.sha256(b).hexdigest(), "bytes": len(b)}
            for name, b in files.items()
        },
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, blob in files.items():
            z.writestr(f"case-{case['id']}/{name}", blob)
        z.writestr(f"case-{case['id']}/manifest.json", json.dumps(manifest, indent=1))
    return buf.getvalue()


def export_case(
    store: Store, case_id: int, user: dict[str, Any], fmt: str
) -> tuple[bytes, str, str]:
    """(bytes, media type, file name) of one export; audited with the output's hash."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    data = collect(store, case_id, user)
    if fmt == "html":
        body = report_html(data).encode("utf-8")
    elif fmt == "pdf":
        body = report_pdf(data)
    else:
        body = bundle_zip(data)
    audit.record(
        store,
        user["name"],
        "case.export",
        f"case:{case_id}",
        {"format": fmt, "sha256": hashlib.sha256(body).hexdigest(), "ads": len(data["ads"])},
    )
    stamp = data["generated_at"].replace(":", "").replace("-", "")
    return body, FORMATS[fmt], f"safelight-case-{case_id}-{stamp}.{fmt}"


def download_response(body: bytes, media: str, filename: str) -> Any:
    """An attachment that a browser saves rather than shows; the HTML report gets a policy
    allowing its own inline styles and nothing else."""
    from starlette.responses import Response

    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if media.startswith("text/html"):
        headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; "
            "img-src data:; base-uri 'none'; form-action 'none'"
        )
    return Response(body, media_type=media, headers=headers)
