"""Sub-commands of the later stages (link, score, triage, web...) register here.

Kept apart from cli.py so the core commands stay readable; importing this module registers
them with `safelight.cli.command`.
"""

from __future__ import annotations
