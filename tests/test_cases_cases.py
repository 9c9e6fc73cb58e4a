"""Cases: membership decides who sees a case, every change is audited, exports carry
provenance and keep hostile text inert."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile

import pytest

from safelight.cases import audit, cases, exports, users
from test_web_corpus import add_ads, cheap_password_hashing

cheap_password_hashing()

ADS = [
    {
        "id": "ad-1",
        "title": "Sweet companion",
        "body": "call 713-555-0142 any time",
        "mentions": [("phone", "713-555-0142", "+17135550142")],
        "posted_at": "2026-03-01T10:00:00Z",
        "place": "Houston, TX",
    },
    {
        "id": "ad-2",
        "title": '=HYPERLINK("http://example.com")',
        "body": "<script>alert(1)</script> 713-555-0142",
        "mentions": [("phone", "713-555-0142", "+17135550142")],
        "posted_at": "2026-03-02T10:00:00Z",
        "place": "Dallas, TX",
    },
]


@pytest.fixture
def people(store):  # type: ignore[no-untyped-def]
    add_ads(store, ADS)
    return {
        name: users.add_user(store, name, role, "long enough")
        for name, role in (
            ("ann", "analyst"),
            ("bob", "analyst"),
            ("root", "admin"),
            ("aud", "auditor"),
        )
    }


def test_case_lifecycle_is_audited(store, people) -> None:  # type: ignore[no-untyped-def]
    ann = people["ann"]
    case = cases.create_case(store, ann, "Houston ring", "tip from hotline")
    assert (
        case["owner"] == "ann" and case["status"] == "open" and case["members"][0]["name"] == "ann"
    )
    item = cases.add_item(store, case["id"], ann, "ad", "ad-1")
    assert item["added"]
    assert not cases.add_item(store, case["id"], ann, "ad", "ad-1")["added"]  # once only
    cases.add_item(store, case["id"], ann, "entity", "phone:+17135550142")
    cases.add_note(store, case["id"], ann, "same number in Dallas")
    cases.update_case(store, case["id"], ann, status="active", assignee="bob")
    got = cases.get_case(store, case["id"], ann)
    assert [i["ref"] for i in got["items"]] == ["ad-1", "phone:+17135550142"]
    assert got["notes"][0]["text"] == "same number in Dallas"
    assert got["assignee"] == "bob" and {m["name"] for m in got["members"]} == {"ann", "bob"}
    actions = [e["action"] for e in audit.list_entries(store, target=f"case:{case['id']}")]
    assert actions == [
        "case.view",
        "case.update",
        "case.note",
        "case.add_item",
        "case.add_item",
        "case.create",
    ]
    assert audit.verify(store)["ok"]


def test_only_members_and_admins_see_a_case(store, people) -> None:  # type: ignore[no-untyped-def]
    case = cases.create_case(store, people["ann"], "Private")
    with pytest.raises(cases.NotFound):
        cases.get_case(store, case["id"], people["bob"])
    with pytest.raises(cases.NotFound):
        cases.add_note(store, case["id"], people["bob"], "sneaky")
    assert cases.list_cases(store, people["bob"]) == []
    assert cases.get_case(store, case["id"], people["root"])["title"] == "Private"
    cases.add_member(store, case["id"], people["ann"], "bob")
    assert [c["id"] for c in cases.list_cases(store, people["bob"])] == [case["id"]]
    with pytest.raises(cases.Forbidden):
        cases.list_cases(store, people["aud"])
    with pytest.raises(cases.CaseError):
        cases.add_member(store, case["id"], people["ann"], "aud")  # auditors are not members
    with pytest.raises(cases.CaseError, match="owner"):
        cases.remove_member(store, case["id"], people["ann"], "ann")


BAD_ITEMS = [
    ("ad", "no-such-ad"),
    ("entity", "phone"),
    ("entity", "shoe:size"),
    ("thing", "x"),
    ("network", ""),
]


def test_bad_items_are_refused(store, people) -> None:  # type: ignore[no-untyped-def]
    case = cases.create_case(store, people["ann"], "C")
    for kind, ref in BAD_ITEMS:
        with pytest.raises(cases.CaseError):
            cases.add_item(store, case["id"], people["ann"], kind, ref)


def test_bad_updates_are_refused(store, people) -> None:  # type: ignore[no-untyped-def]
    case = cases.create_case(store, people["ann"], "C")
    with pytest.raises(cases.CaseError):
        cases.update_case(store, case["id"], people["ann"], status="lost")
    with pytest.raises(cases.CaseError):
        cases.update_case(store, case["id"], people["ann"], assignee="nobody")
    with pytest.raises(cases.CaseError):
        cases.create_case(store, people["ann"], "   ")


def _case_with_everything(store, people):  # type: ignore[no-untyped-def]
    ann = people["ann"]
    case = cases.create_case(store, ann, "Export me")
    cases.add_item(store, case["id"], ann, "ad", "ad-2")
    cases.add_item(store, case["id"], ann, "entity", "phone:+17135550142")
    cases.add_note(store, case["id"], ann, "note <b>bold</b>")
    return case


def test_html_report_escapes_ad_text_and_carries_provenance(store, people) -> None:  # type: ignore[no-untyped-def]
    case = _case_with_everything(store, people)
    body, media, name = exports.export_case(store, case["id"], people["ann"], "html")
    html = body.decode()
    assert media.startswith("text/html") and name.endswith(".html")
    assert (
        "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    )
    assert "note &lt;b&gt;bold&lt;/b&gt;" in html
    assert "https://ads.example.com/ad-2" in html
    stored = store.get_ad("ad-2")
    assert stored["raw_sha256"] in html
    assert "ad-1" in html  # reached through the entity item
    last = audit.list_entries(store, action="case.export")[0]
    assert last["detail"]["sha256"] == hashlib.sha256(body).hexdigest()


def test_pdf_report(store, people) -> None:  # type: ignore[no-untyped-def]
    case = _case_with_everything(store, people)
    body, media, _ = exports.export_case(store, case["id"], people["ann"], "pdf")
    assert media == "application/pdf" and body.startswith(b"%PDF") and len(body) > 1500


def test_zip_bundle_has_csv_json_and_a_manifest_of_hashes(store, people) -> None:  # type: ignore[no-untyped-def]
    case = _case_with_everything(store, people)
    body, _media, _ = exports.export_case(store, case["id"], people["ann"], "zip")
    z = zipfile.ZipFile(io.BytesIO(body))
    prefix = f"case-{case['id']}/"
    manifest = json.loads(z.read(prefix + "manifest.json"))
    for name, meta in manifest["files"].items():
        assert hashlib.sha256(z.read(prefix + name)).hexdigest() == meta["sha256"]
    rows = list(csv.DictReader(io.StringIO(z.read(prefix + "ads.csv").decode())))
    assert {r["id"] for r in rows} == {"ad-1", "ad-2"}
    risky = next(r for r in rows if r["id"] == "ad-2")
    assert risky["title"].startswith("'=")  # a spreadsheet will not run it
    data = json.loads(z.read(prefix + "case.json"))
    assert next(a for a in data["ads"] if a["id"] == "ad-2")["title"].startswith(
        "="
    )  # exact in JSON
    assert all(r["url"] and len(r["raw_sha256"]) == 64 and r["ingested_at"] for r in rows)
    mentions = list(csv.DictReader(io.StringIO(z.read(prefix + "mentions.csv").decode())))
    assert {m["value"] for m in mentions} == {"+17135550142"}


def test_exports_need_membership(store, people) -> None:  # type: ignore[no-untyped-def]
    case = _case_with_everything(store, people)
    with pytest.raises(cases.NotFound):
        exports.export_case(store, case["id"], people["bob"], "zip")
    with pytest.raises(ValueError):
        exports.export_case(store, case["id"], people["ann"], "docx")
