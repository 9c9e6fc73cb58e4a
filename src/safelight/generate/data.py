"""The generator's data files (phrase banks, cues, cities, names, sites), loaded once.

Wording and gazetteers live in versioned YAML under `safelight/data/generate/` so that they
can be reviewed and cited; this module only reads them.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def load(name: str) -> dict[str, Any]:
    """One data file by stem (`phrases`, `cues`, `cities`, `names`, `sites`, `obfuscation`)."""
    path = resources.files("safelight") / "data" / "generate" / f"{name}.yaml"
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    if not isinstance(data, dict) or "source" not in data:
        raise ValueError(f"{name}.yaml must be a mapping with a source note")
    return data
