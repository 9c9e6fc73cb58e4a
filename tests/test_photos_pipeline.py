"""Photos end to end: ingest hashes (never keeps the images), photo-reuse links, known-hash
lists matched at ingest and at import, a match at the top of triage, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from safelight.extract.photos import hash_image
from safelight.ingest.pipeline import ingest_paths
from safelight.link.incremental import link_new
from safelight.link.known import import_hashlist, list_matches
from safelight.link.networks import get_network, network_of_ad
from safelight.settings import Settings
from safelight.store import Store
from safelight.triage.queue import refresh_scores, triage
from test_extract_photos import picture

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG"


def _ads(folder: Path) -> Path:
    """Five ads with photos: a re-encoded copy, a mirrored copy, and an unrelated picture."""
    a, b, c = picture(11), picture(22), picture(33)
    a.save(folder / "a.png")
    a.resize((200, 150)).save(folder / "a_small.jpg", quality=60)
    b.save(folder / "b.png")
    ImageOps.mirror(b).save(folder / "b_mirror.png")
    c.save(folder / "c.png")
    rows = [
        ("p1", "a.png", "Quiet evening walks and good books, message me anytime this week"),
        ("p2", "a_small.jpg", "Completely different words about gardening and long lunches"),
        ("p3", "b.png", "Travel stories and coffee tasting notes from the north coast"),
        ("p4", "b_mirror.png", "Board games on sunday afternoons with friendly people around"),
        ("p5", "c.png", "An unrelated poster writing about marathon training plans"),
    ]
    path = folder / "ads.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": i, "body": body, "images": [{"path": img}]}) + "\n"
            for i, img, body in rows
        )
    )
    return path


@pytest.fixture
def ingested(tmp_path: Path, db_url: str) -> tuple[Store, Path, Settings]:
    path = _ads(tmp_path)
    settings = Settings.from_env(db=db_url, workers=1)
    store = Store.open(db_url)
    ingest_paths([path], store, settings, progress=False)
    link_new(store, settings)
    return store, tmp_path, settings


def test_photos_link_ads_with_distance_evidence(ingested) -> None:
    store, _, _ = ingested
    assert network_of_ad(store, "p1") == network_of_ad(store, "p2")
    assert network_of_ad(store, "p3") == network_of_ad(store, "p4")  # mirrored copy
    assert network_of_ad(store, "p5") not in {network_of_ad(store, x) for x in ("p1", "p3")}
    net = get_network(store, network_of_ad(store, "p1"))
    photo_edges = [e for e in net["edges"] if e["kind"] == "photo"]
    assert photo_edges and 0 <= photo_edges[0]["evidence"]["distance"] <= 31
    assert any("photo near-identical" in w for a in net["ads"] for w in a["why"])


def test_hash_only_mode_keeps_nothing_of_the_image(ingested, db_url: str) -> None:
    store, _, _ = ingested
    ad = store.get_ad("p1")
    assert len(ad["images"][0]["pdq"]) == 64 and "thumbnail" not in ad["images"][0]
    if db_url.startswith("sqlite"):
        raw = Path(db_url.removeprefix("sqlite:///")).read_bytes()
        wal = Path(db_url.removeprefix("sqlite:///") + "-wal")
        raw += wal.read_bytes() if wal.exists() else b""
        assert JPEG_MAGIC not in raw and PNG_MAGIC not in raw


def test_thumbnails_only_when_enabled_and_blurred(tmp_path: Path) -> None:
    path = _ads(tmp_path)
    db = f"sqlite:///{tmp_path / 'thumbs.db'}"
    settings = Settings.from_env(db=db, workers=1, store_thumbnails=True)
    store = Store.open(db)
    ingest_paths([path], store, settings, progress=False)
    image = store.get_ad("p1")["images"][0]
    import base64
    import io

    thumb = Image.open(io.BytesIO(base64.b64decode(image["thumbnail"])))
    assert max(thumb.size) <= 64 and len(base64.b64decode(image["thumbnail"])) < 4096


def test_known_hash_list_match_tops_triage(ingested) -> None:
    store, folder, settings = ingested
    known = hash_image(folder / "c.png")
    (folder / "list.csv").write_text(f"pdq,label\n{known.pdq},case-4471\n")
    result = import_hashlist(
        store, folder / "list.csv", "missing-children-test", "missing", settings
    )
    assert result["matches"] == 1
    refresh_scores(store)
    top = triage(store, limit=1)[0]
    assert "p5" in top["ads"]
    assert any("missing-children-test" in r for r in top["reasons"])
    matches = list_matches(store)
    assert [(m["ad"], m["list"]) for m in matches] == [("p5", "missing-children-test")]
    assert "case-4471" not in json.dumps(matches) and known.pdq not in json.dumps(matches)


def test_new_ads_are_matched_at_ingest(ingested) -> None:
    store, folder, settings = ingested
    (folder / "list.csv").write_text(f"sha256\n{hash_image(folder / 'a.png').sha256}\n")
    import_hashlist(store, folder / "list.csv", "exact-list", "csam", settings)
    picture(11).save(folder / "again.png")
    (folder / "more.jsonl").write_text(
        json.dumps(
            {
                "id": "p9",
                "body": "a later ad with a reused picture",
                "images": [{"path": "again.png"}],
            }
        )
        + "\n"
    )
    ingest_paths([folder / "more.jsonl"], store, settings, progress=False)
    link_new(store, settings)
    assert {m["ad"] for m in list_matches(store)} >= {"p1", "p9"}


def test_cli_hash_json(tmp_path: Path) -> None:
    picture(5).save(tmp_path / "x.png")
    Image.new("RGB", (64, 64), (128, 128, 128)).save(tmp_path / "flat.png")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "safelight",
            "hash",
            str(tmp_path / "x.png"),
            str(tmp_path / "flat.png"),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [set(r) >= {"path", "pdq", "quality", "sha256"} for r in rows] == [True, True]
    assert rows[1]["low_quality"] is True


def test_updates_read_the_photo_snapshot_and_notice_deletes(ingested, monkeypatch) -> None:
    """An update reads the stored hashes from the snapshot plus the rows of later ads; once a
    photo row it holds is deleted (a purge) it is not trusted, so no link names a gone ad."""
    import sqlalchemy as sa

    from safelight.link import photos as photo_links
    from safelight.link.incremental import rebuild
    from safelight.store.schema import ads, photo_snapshot

    store, folder, settings = ingested
    monkeypatch.setattr(photo_links, "SNAPSHOT_SLACK", 100.0)  # never rewritten for the tail

    def snapshot_upto() -> int:
        with store.engine.connect() as conn:
            return int(conn.scalar(sa.select(photo_snapshot.c.upto_pk)))

    def add(ad_id: str) -> None:
        picture(11).save(folder / f"{ad_id}.png")  # the picture of p1 and p2
        ad = {"id": ad_id, "body": f"later ad {ad_id} with a reused picture"}
        (folder / f"{ad_id}.jsonl").write_text(
            json.dumps({**ad, "images": [{"path": f"{ad_id}.png"}]}) + "\n"
        )
        ingest_paths([folder / f"{ad_id}.jsonl"], store, settings, progress=False)
        link_new(store, settings)

    first = snapshot_upto()
    add("p9")
    assert snapshot_upto() == first  # read from the snapshot and the one later ad
    assert network_of_ad(store, "p9") == network_of_ad(store, "p1")
    with store.engine.begin() as conn:
        conn.execute(sa.delete(ads).where(ads.c.id.in_(["p1", "p2"])))
    add("p10")  # a stale snapshot would link p10 to the deleted ads (a foreign-key error)
    assert snapshot_upto() > first  # not trusted, so read afresh and rewritten
    assert network_of_ad(store, "p10") == network_of_ad(store, "p9") is not None
    updated = {n: network_of_ad(store, n) for n in ("p3", "p4", "p5", "p9", "p10")}
    rebuild(store, settings)
    assert {n: network_of_ad(store, n) for n in updated} == updated
