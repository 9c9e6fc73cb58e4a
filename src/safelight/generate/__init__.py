"""The synthetic ad corpus with its ground truth (demo, tests and benchmarks run on it)."""

from safelight.generate.corpus import generate, write_corpus
from safelight.generate.phones import OBFUSCATED_STYLES, PLAIN_STYLES, valid_area_codes

__all__ = ["OBFUSCATED_STYLES", "PLAIN_STYLES", "generate", "valid_area_codes", "write_corpus"]
