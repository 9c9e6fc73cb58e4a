"""The tables, in SQLAlchemy Core so the same definitions serve SQLite and PostgreSQL.

Times are ISO 8601 UTC strings ("2026-03-01T14:00:00Z"): they sort as text, compare the same
on both backends and survive JSON exports unchanged. JSON columns hold plain JSON text.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

ads = sa.Table(
    "ads",
    metadata,
    sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(240), nullable=False, unique=True),
    sa.Column("site", sa.String(200), nullable=False, server_default=""),
    sa.Column("url", sa.Text, nullable=False, server_default=""),
    sa.Column("posted_at", sa.String(25)),
    sa.Column("title", sa.Text, nullable=False, server_default=""),
    sa.Column("body", sa.Text, nullable=False, server_default=""),
    sa.Column("html", sa.Text),
    sa.Column("location", sa.Text, nullable=False, server_default=""),
    sa.Column("place", sa.String(120)),  # normalised "City, ST" of the posting
    sa.Column("images", sa.Text, nullable=False, server_default="[]"),
    sa.Column("structured", sa.Text, nullable=False, server_default="{}"),
    sa.Column("extra", sa.Text, nullable=False, server_default="{}"),
    sa.Column("raw_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("source", sa.Text, nullable=False, server_default=""),
    sa.Column("source_line", sa.Integer, nullable=False, server_default="0"),
    sa.Column("ingested_at", sa.String(25), nullable=False),
    sa.Column("score", sa.Float, nullable=False, server_default="0"),
    sa.Column("registry_version", sa.String(40)),
)
sa.Index("ix_ads_site_posted", ads.c.site, ads.c.posted_at)
sa.Index("ix_ads_place_posted", ads.c.place, ads.c.posted_at)
sa.Index("ix_ads_posted", ads.c.posted_at)

mentions = sa.Table(
    "mentions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ad_pk", sa.Integer, sa.ForeignKey("ads.pk", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("value", sa.String(400), nullable=False),
    sa.Column("raw", sa.Text, nullable=False),
    sa.Column("start", sa.Integer, nullable=False),
    sa.Column("end", sa.Integer, nullable=False),
    sa.Column("confidence", sa.Float, nullable=False, server_default="1"),
    sa.Column("obfuscated", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
)
sa.Index("ix_mentions_kind_value", mentions.c.kind, mentions.c.value, mentions.c.ad_pk)
sa.Index("ix_mentions_ad", mentions.c.ad_pk)

hits = sa.Table(
    "hits",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ad_pk", sa.Integer, sa.ForeignKey("ads.pk", ondelete="CASCADE"), nullable=False),
    sa.Column("indicator", sa.String(80), nullable=False),
    sa.Column("category", sa.String(40), nullable=False),
    sa.Column("weight", sa.Float, nullable=False),
    sa.Column("matched", sa.Text, nullable=False),
    sa.Column("start", sa.Integer, nullable=False),
    sa.Column("end", sa.Integer, nullable=False),
    sa.Column("source", sa.String(200), nullable=False, server_default=""),
)
sa.Index("ix_hits_ad", hits.c.ad_pk)
sa.Index("ix_hits_indicator", hits.c.indicator)

rejects = sa.Table(
    "rejects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("line", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("excerpt", sa.Text, nullable=False, server_default=""),
    sa.Column("raw_sha256", sa.String(64), nullable=False, server_default=""),
    sa.Column("created_at", sa.String(25), nullable=False),
    sa.UniqueConstraint("source", "line", name="uq_rejects_source_line"),
)

ingest_checkpoints = sa.Table(
    "ingest_checkpoints",
    metadata,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("records_done", sa.Integer, nullable=False),
    sa.Column("complete", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("updated_at", sa.String(25), nullable=False),
)

# Key/value facts about this database (generated secret key, registry version in force...).
meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(80), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# ---- linking (migration 0002) ----------------------------------------------------------------

# The per-ad text signature computed at ingest (MinHash of the masked template).
ad_features = sa.Table(
    "ad_features",
    metadata,
    sa.Column("ad_pk", sa.Integer, sa.ForeignKey("ads.pk", ondelete="CASCADE"), primary_key=True),
    sa.Column("sig", sa.LargeBinary, nullable=False),
    sa.Column("ntokens", sa.Integer, nullable=False),
)

# Which template each ad joined: its leader (the first ad of the template) and the similarity.
ad_templates = sa.Table(
    "ad_templates",
    metadata,
    sa.Column("ad_pk", sa.Integer, sa.ForeignKey("ads.pk", ondelete="CASCADE"), primary_key=True),
    sa.Column("leader_pk", sa.Integer, nullable=False),
    sa.Column("similarity", sa.Float, nullable=False),
)
sa.Index("ix_ad_templates_leader", ad_templates.c.leader_pk)

template_bands = sa.Table(
    "template_bands",
    metadata,
    sa.Column("band_key", sa.BigInteger, nullable=False),
    sa.Column("leader_pk", sa.Integer, nullable=False),
)
sa.Index("ix_template_bands_key", template_bands.c.band_key)

# Ad-to-ad evidence that is not a shared selector value (near-identical photos).
links = sa.Table(
    "links",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ad_a", sa.Integer, sa.ForeignKey("ads.pk", ondelete="CASCADE"), nullable=False),
    sa.Column("ad_b", sa.Integer, sa.ForeignKey("ads.pk", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("evidence", sa.Text, nullable=False, server_default="{}"),
)
sa.Index("ix_links_a", links.c.ad_a)
sa.Index("ix_links_b", links.c.ad_b)

# Selector values and whether they are hubs (shown, never merged).
selectors = sa.Table(
    "selectors",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("value", sa.String(400), primary_key=True),
    sa.Column("n_ads", sa.Integer, nullable=False),
    sa.Column("groups", sa.Integer, nullable=False),
    sa.Column("hub", sa.Boolean, nullable=False, server_default=sa.false()),
)

ad_networks = sa.Table(
    "ad_networks",
    metadata,
    sa.Column("ad_pk", sa.Integer, sa.ForeignKey("ads.pk", ondelete="CASCADE"), primary_key=True),
    sa.Column("network_id", sa.String(24), nullable=False),
)
sa.Index("ix_ad_networks_network", ad_networks.c.network_id)

networks = sa.Table(
    "networks",
    metadata,
    sa.Column("id", sa.String(24), primary_key=True),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("first_seen", sa.String(25)),
    sa.Column("last_seen", sa.String(25)),
    sa.Column("places", sa.Text, nullable=False, server_default="[]"),
    sa.Column("sites", sa.Text, nullable=False, server_default="[]"),
    sa.Column("score", sa.Float, nullable=False, server_default="0"),
    sa.Column("reasons", sa.Text, nullable=False, server_default="[]"),
    sa.Column("updated_at", sa.String(25), nullable=False),
    sa.Column("scored_at", sa.String(25)),
    sa.Column("max_ad_pk", sa.Integer, nullable=False, server_default="0"),
)
sa.Index("ix_networks_size", networks.c.size)
sa.Index("ix_networks_score", networks.c.score)
# The queue in triage order, networks not scored yet, and the networks list (migration 0006).
sa.Index("ix_networks_rank", networks.c.score.desc(), networks.c.size.desc(), networks.c.id)
sa.Index(
    "ix_networks_unscored",
    networks.c.id,
    sqlite_where=networks.c.scored_at.is_(None),
    postgresql_where=networks.c.scored_at.is_(None),
)
sa.Index("ix_networks_size_id", networks.c.size.desc(), networks.c.id)

# ---- triage (migration 0004) ---------------------------------------------------------------

# The analyst's current decision per queue item, and every decision ever made (the judgement
# table: reversible, never destroys data). Items are network ids; an unlinked ad is a network
# of one.
triage_status = sa.Table(
    "triage_status",
    metadata,
    sa.Column("item", sa.String(24), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # reviewing, escalated, dismissed
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("user", sa.String(80), nullable=False),
    sa.Column("at", sa.String(25), nullable=False),
    sa.Column("max_ad_pk", sa.Integer, nullable=False),  # newest ad when decided
)

triage_history = sa.Table(
    "triage_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("item", sa.String(24), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("user", sa.String(80), nullable=False),
    sa.Column("at", sa.String(25), nullable=False),
    sa.Column("features", sa.Text, nullable=False, server_default="{}"),  # for the learned model
)
sa.Index("ix_triage_history_item", triage_history.c.item)

# ---- photos and known-hash lists (migration 0005) ------------------------------------------

# One row per photo of an ad: hashes only. The picture itself is never stored; a small,
# heavily blurred thumbnail only when an admin turned SAFELIGHT_STORE_THUMBNAILS on.
photos = sa.Table(
    "photos",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ad_pk", sa.Integer, sa.ForeignKey("ads.pk", ondelete="CASCADE"), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("url", sa.Text, nullable=False, server_default=""),
    sa.Column("sha256", sa.String(64), nullable=False, server_default=""),
    sa.Column("md5", sa.String(32), nullable=False, server_default=""),
    sa.Column("pdq", sa.String(64), nullable=False, server_default=""),
    sa.Column("quality", sa.Integer),
    sa.Column("low_quality", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("index_hashes", sa.Text, nullable=False, server_default="[]"),  # stored variants
    sa.Column("query_hashes", sa.Text, nullable=False, server_default="[]"),  # search-only variants
    sa.Column("thumbnail", sa.LargeBinary),
)
sa.Index("ix_photos_ad", photos.c.ad_pk)
# No index on sha256 or pdq (migration 0008 dropped them): a photo's hashes are found through
# its selectors in `mentions` ("sha256:…", "pdq:…"), which are indexed already.

hashlists = sa.Table(
    "hashlists",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(120), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),  # csam, missing, custom
    sa.Column("source", sa.Text, nullable=False, server_default=""),
    sa.Column("imported_at", sa.String(25), nullable=False),
    sa.Column("n_hashes", sa.Integer, nullable=False),
)

known_hashes = sa.Table(
    "known_hashes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "list_id", sa.Integer, sa.ForeignKey("hashlists.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("kind", sa.String(8), nullable=False),  # pdq, md5, sha256
    sa.Column("value", sa.String(64), nullable=False),
    sa.Column("label", sa.Text, nullable=False, server_default=""),
)
sa.Index("ix_known_hashes_kind_value", known_hashes.c.kind, known_hashes.c.value)
sa.Index("ix_known_hashes_list", known_hashes.c.list_id)

hash_matches = sa.Table(
    "hash_matches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ad_pk", sa.Integer, sa.ForeignKey("ads.pk", ondelete="CASCADE"), nullable=False),
    sa.Column(
        "photo_id", sa.Integer, sa.ForeignKey("photos.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column(
        "list_id", sa.Integer, sa.ForeignKey("hashlists.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column(
        "known_id", sa.Integer, sa.ForeignKey("known_hashes.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("distance", sa.Integer, nullable=False),
    sa.Column("created_at", sa.String(25), nullable=False),
    sa.UniqueConstraint("photo_id", "known_id", name="uq_hash_matches_photo_known"),
)
sa.Index("ix_hash_matches_ad", hash_matches.c.ad_pk)

# The photo hashes of every stored ad up to `upto_pk`, as one blob (link/photos.py): an update
# reads it instead of every photo row. `n_rows` (the photo rows up to `upto_pk` when it was
# written) tells whether any has gone since; one row, id 1.
photo_snapshot = sa.Table(
    "photo_snapshot",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("upto_pk", sa.Integer, nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("hashes", sa.LargeBinary, nullable=False),
)
