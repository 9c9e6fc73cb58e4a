"""Every setting in one place, each read from a SAFELIGHT_* environment variable.

Each setting has a default and a help line; `safelight settings` prints them all and a test
checks that every one is documented in the README.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: Any
    help: str

    @property
    def env(self) -> str:
        return "SAFELIGHT_" + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "db",
        "sqlite:///safelight.db",
        "Database URL or SQLite file path (postgresql://... for server mode).",
    ),
    Setting("region", "US", "Default phone region for numbers written without a country code."),
    Setting("batch_size", 2000, "Ads per ingest transaction (also the resume checkpoint step)."),
    Setting(
        "workers", 0, "Extraction worker processes for ingest (0: one per core, 1: in-process)."
    ),
    Setting(
        "max_body_chars",
        200_000,
        "Longer bodies are cut to this many characters (the cut is recorded).",
    ),
    Setting("max_record_bytes", 8_000_000, "Input records larger than this are rejected."),
    Setting(
        "indicators_path",
        "",
        "An admin's indicator registry (YAML) used instead of the shipped one.",
    ),
    Setting(
        "hub_min_groups",
        4,
        "A selector shared by this many otherwise unlinked groups is a hub and does not merge.",
    ),
    Setting(
        "template_threshold",
        0.6,
        "Minimum estimated Jaccard similarity of masked text to a template to join it.",
    ),
    Setting(
        "template_min_tokens", 12, "Ads with fewer masked-text tokens are not template-linked."
    ),
    Setting(
        "photo_distance",
        31,
        "Maximum PDQ Hamming distance (of 256) for two photos to count as the same.",
    ),
    Setting(
        "photo_min_quality",
        50,
        "PDQ hashes below this quality are flagged and not used for linking.",
    ),
    Setting(
        "store_thumbnails",
        False,
        "Keep a small, heavily blurred thumbnail of each photo (off: hashes only).",
    ),
    Setting(
        "retention_days",
        180,
        "Ads in no case and no watched network are purged after this many days.",
    ),
    Setting(
        "secret_key",
        "",
        "Session signing key for the web app (generated into the database when empty).",
    ),
    Setting("webhook_url", "", "Optional URL that receives watch alerts as JSON."),
    Setting("allow_fetch", False, "Let the server fetch URLs found in ads (off: never)."),
    Setting("query_timeout_ms", 5000, "Time limit for one search or lookup query."),
    Setting(
        "search_rank_within",
        20_000,
        "Full-text search ranks only the newest this many matching ads (0: every match);"
        " results say when that left older matches out. SQLite only: PostgreSQL always ranks"
        " every match (there the bound would cost more than it saves).",
    ),
    Setting(
        "cookie_secure",
        False,
        "Always mark the session cookie Secure (it already is on requests that arrive by HTTPS).",
    ),
    Setting(
        "trust_proxy",
        False,
        "Believe X-Forwarded-Proto/-For from a reverse proxy (HTTPS, client address).",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def _coerce(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


@dataclass(frozen=True, slots=True)
class Settings:
    db: str = "sqlite:///safelight.db"
    region: str = "US"
    batch_size: int = 2000
    workers: int = 0
    max_body_chars: int = 200_000
    max_record_bytes: int = 8_000_000
    indicators_path: str = ""
    hub_min_groups: int = 4
    template_threshold: float = 0.6
    template_min_tokens: int = 12
    photo_distance: int = 31
    photo_min_quality: int = 50
    store_thumbnails: bool = False
    retention_days: int = 180
    secret_key: str = ""
    webhook_url: str = ""
    allow_fetch: bool = False
    query_timeout_ms: int = 5000
    search_rank_within: int = 20_000
    cookie_secure: bool = False
    trust_proxy: bool = False

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then SAFELIGHT_* variables, then explicit overrides (CLI flags)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for s in SETTINGS:
            if s.env in env and env[s.env] != "":
                values[s.name] = _coerce(env[s.env], s.default)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def describe() -> list[dict[str, Any]]:
    """The settings as rows for `safelight settings` and the docs check."""
    return [{"env": s.env, "default": s.default, "help": s.help} for s in SETTINGS]


assert {f.name for f in fields(Settings)} == set(_BY_NAME), "Settings and SETTINGS disagree"
