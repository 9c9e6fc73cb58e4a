"""Safelight: find the ads most likely to involve a child or a trafficking victim, link them
into the networks behind them, and give analysts an explained, audited caseload."""

__version__ = "0.1.0"
