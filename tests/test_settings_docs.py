"""Every setting is documented in the README (the table is generated from settings.py)."""

from __future__ import annotations

from pathlib import Path

from safelight.settings import SETTINGS, Settings, describe

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_setting_is_in_the_readme() -> None:
    text = README.read_text()
    for row in describe():
        assert f"`{row['env']}`" in text, f"{row['env']} is not documented in README.md"


def test_environment_overrides_and_types() -> None:
    s = Settings.from_env(
        {
            "SAFELIGHT_WORKERS": "3",
            "SAFELIGHT_STORE_THUMBNAILS": "yes",
            "SAFELIGHT_TEMPLATE_THRESHOLD": "0.7",
        },
        db="x.db",
    )
    assert (s.workers, s.store_thumbnails, s.template_threshold, s.db) == (3, True, 0.7, "x.db")
    assert len({st.env for st in SETTINGS}) == len(SETTINGS)
