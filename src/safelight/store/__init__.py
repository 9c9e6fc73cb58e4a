"""Storage behind one interface; see store.Store."""

from safelight.store.store import BatchResult, Checkpoint, Store

__all__ = ["BatchResult", "Checkpoint", "Store"]
