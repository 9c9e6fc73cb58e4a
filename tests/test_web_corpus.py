"""The small generated corpus the web, case and browser tests share, and checks that it has
what they rely on (networks, a disguised phone, a hostile ad).

Built once per test process (generate 300 ads, ingest, link) and copied per module, so each
module gets its own database without paying for the ingest again.
"""

from __future__ import annotations

import json
import re
import sqlite3
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

HOSTILE_ID = "hostile-1"
HOSTILE_PHONE = "+17135550199"
HOSTILE = {
    "id": HOSTILE_ID,
    "site": "example-listings",
    "url": "https://ads.example.com/hostile-1?<script>",
    "posted_at": "2026-02-01T12:00:00Z",
    "title": 'New in town <script>window.__xss = 1; alert("x")</script>',
    "body": (
        'Sweet and young-looking, call 713-555-0199 <img src=x onerror="window.__xss=2;alert(2)">'
        " or write to hostile@example.com. <svg onload=alert(3)></svg>"
        ' <a href="javascript:alert(4)">site</a> companionship in Houston, TX'
    ),
    "location": "Houston, TX",
    "html": '<div onmouseover="alert(5)"><script>alert(6)</script>New in town</div>',
    "images": [{"url": "https://img.example.com/h.jpg", "sha256": "ab" * 32, "pdq": "cd" * 32}],
}


def ingest(paths: list[Path], url: str) -> Any:
    """Ingest exactly as `safelight ingest` does (watch checks per batch, then link and score),
    and return the opened store."""
    import contextlib
    import io

    from safelight.cli import main
    from safelight.store import Store

    with contextlib.redirect_stdout(io.StringIO()):
        status = main(
            [
                "ingest",
                *[str(p) for p in paths],
                "--db",
                url,
                "--workers",
                "1",
                "--json",
                "--no-progress",
            ]
        )
    assert status == 0
    return Store.open(url)


def _code_key() -> str:
    """A hash of the code and data that build the corpus: a cached one is reused only by the same
    code."""
    import hashlib

    import safelight

    h = hashlib.sha256()
    root = Path(safelight.__file__).parent
    for path in sorted(root.rglob("*")):
        if path.relative_to(root).parts[0] in ("web", "cases"):  # not used to build the corpus
            continue
        if path.is_file() and path.suffix in (".py", ".yaml", ".yml", ".json", ".txt", ".csv"):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


@cache
def _template_db() -> Path:
    """Generate 300 ads plus the hostile one and ingest them, once per code version: the result
    is kept in the temp folder so later test processes (xdist workers, reruns) copy it."""
    from safelight.generate import write_corpus

    cache_dir = Path(tempfile.gettempdir()) / f"safelight-web-corpus-{_code_key()}"
    db = cache_dir / "template.db"
    if db.exists():
        return db
    root = Path(tempfile.mkdtemp(prefix="safelight-web-corpus-build-"))
    write_corpus(str(root / "corpus"), 300, seed=1)
    hostile = root / "hostile.jsonl"
    hostile.write_text(json.dumps(HOSTILE) + "\n", encoding="utf-8")
    built = root / "template.db"
    store = ingest([root / "corpus" / "ads.jsonl", hostile], f"sqlite:///{built}")
    store.close()
    snapshot = root / "snapshot.db"
    _copy_db(built, snapshot)
    cache_dir.mkdir(parents=True, exist_ok=True)
    snapshot.replace(db)  # atomic: a racing worker's identical copy is as good
    return db


def _copy_db(src_path: Path, dst_path: Path) -> None:
    # SQLite's backup API copies a consistent snapshot, including what still sits in the WAL.
    src, dst = sqlite3.connect(src_path), sqlite3.connect(dst_path)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def corpus_db(dest: Path) -> str:
    """A fresh copy of the corpus database in `dest`; returns its URL."""
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / "web.db"
    _copy_db(_template_db(), target)
    return f"sqlite:///{target}"


def cheap_password_hashing() -> None:
    """Argon2 at its lowest cost for these tests only: the production parameters are slow on
    purpose, and dozens of logins and accounts would spend most of the suite's time hashing."""
    from argon2 import PasswordHasher

    from safelight.cases import users

    fast = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    users._hasher = lambda: fast  # type: ignore[assignment]


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert m, "page without a CSRF token"
    return m.group(1)


def login(client: Any, name: str, password: str) -> str:
    """Log the test client in through the form; returns the session's CSRF token."""
    page = client.get("/login")
    token = csrf_of(page.text)
    r = client.post(
        "/login",
        data={"name": name, "password": password, "csrf": token, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/cases" if name != "auditor" else "/audit").text)


def add_ads(store: Any, specs: list[dict[str, Any]]) -> list[int]:
    """Store hand-made ads with the phone/email mentions their text carries (no pipeline), for
    the fast case/watch tests that run on both backends. Returns the new pks."""
    import hashlib

    from safelight.records import Ad, Image, Mention, ProcessedAd, ad_text

    items = []
    for spec in specs:
        title, body = spec.get("title", ""), spec["body"]
        text = ad_text(title, body)
        mentions = []
        for kind, raw, value in spec.get("mentions", []):
            start = text.index(raw)
            mentions.append(Mention(kind, value, raw, start, start + len(raw)))
        ad = Ad(
            id=spec["id"],
            title=title,
            body=body,
            site=spec.get("site", "example-listings"),
            url=f"https://ads.example.com/{spec['id']}",
            posted_at=spec.get("posted_at"),
            location=spec.get("place", ""),
            images=[Image(**im) for im in spec.get("images", [])],
            raw_sha256=hashlib.sha256((spec["id"] + text).encode()).hexdigest(),
        )
        items.append(
            ProcessedAd(
                ad=ad, mentions=mentions, score=spec.get("score", 0.1), place=spec.get("place")
            )
        )
    return store.add_batch(items).stored_pks


# ---- the corpus has what the other tests rely on ---------------------------------------------


def test_corpus_has_networks_phones_and_the_hostile_ad(tmp_path: Path) -> None:
    from safelight.link.networks import list_networks
    from safelight.store import Store

    store = Store.open(corpus_db(tmp_path))
    try:
        assert store.count() == 301
        assert store.get_ad(HOSTILE_ID) is not None
        found = store.find_mentions([("phone", HOSTILE_PHONE)])
        assert [a["id"] for a in found["ads"]] == [HOSTILE_ID]
        nets = list_networks(store, min_size=2)
        assert nets and max(n["size"] for n in nets) >= 3
    finally:
        store.close()
