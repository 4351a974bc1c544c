"""A short-lived, bounded memo of unwrapped data keys: (case id, wrapped key) → DataKey.

A reviewer's list page opens 50 cases, and reloading it unwraps the same 50 data keys
again: AES-GCM under the KEK, then a new cipher object for each key. The cache
remembers ``unwrap``'s answer for the exact wrapped bytes read from the case's row, so
it is a pure memo:

* a hit needs the wrapped bytes the caller just read from the database, so a shredded
  case (its wrapped key deleted) can never be read through it, and a re-wrapped key
  (rotation) is a miss;
* an entry is served at most ``ttl_seconds`` after it was unwrapped (a hit does not renew
  it), and dropped at the next lookup after that (``get``, whichever case it is for): in
  a process that did not run the purge, the TTL bounds how long a shredded case's key
  stays in memory;
* ``forget`` drops cases at once (retention's purge, in the process that runs it).

Thread-safe: the API serves requests from a thread pool. See docs/vault.md, "The key cache".
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import NamedTuple

from bgcheck.crypto.envelope import DataKey
from bgcheck.crypto.framing import RowId

DEFAULT_TTL_SECONDS = 60.0
DEFAULT_MAX_ENTRIES = 2048


class _Entry(NamedTuple):
    wrapped: bytes
    key: DataKey
    expires_at: float


class KeyCache:
    """At most ``max_entries`` data keys, each for ``ttl_seconds``; ``ttl_seconds=0`` is off.

    One entry per case: a case has one wrapped key at a time (a rotation replaces it), so
    ``forget`` finds a case's entry without a scan.
    """

    def __init__(
        self,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds < 0 or max_entries < 1:
            raise ValueError("a key cache needs ttl_seconds >= 0 and max_entries >= 1")
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        # Oldest first. Every entry lives the same ttl_seconds and a hit does not move it,
        # so this order is also expiry order: the expired are always at the front, and
        # dropping them costs nothing. (LRU would buy little: a hot key expires anyway.)
        self._entries: OrderedDict[RowId, _Entry] = OrderedDict()

    def get(self, case_id: RowId, wrapped: bytes) -> DataKey | None:
        """The key ``unwrap`` gave for exactly these wrapped bytes, if still fresh."""
        return self.get_many(((case_id, wrapped),))[0]

    def get_many(self, wanted: Iterable[tuple[RowId, bytes]]) -> list[DataKey | None]:
        """``get`` for each (case id, wrapped bytes) of a page, under one lock, in order."""
        with self._lock:
            self._drop_expired()
            entries = self._entries
            found = []
            for case_id, wrapped in wanted:
                entry = entries.get(case_id)
                # The wrapped bytes are public (they are the stored form): == is fine here.
                found.append(entry.key if entry is not None and entry.wrapped == wrapped else None)
        return found

    def put(self, case_id: RowId, wrapped: bytes, key: DataKey) -> None:
        """Remember ``unwrap``'s answer for these wrapped bytes (callers unwrap first)."""
        self.put_many(((case_id, wrapped, key),))

    def put_many(self, unwrapped: Iterable[tuple[RowId, bytes, DataKey]]) -> None:
        """``put`` for each (case id, wrapped bytes, key) of a page, under one lock."""
        if self.ttl_seconds == 0:
            return
        with self._lock:
            entries = self._entries
            expires_at = self._clock() + self.ttl_seconds
            for case_id, wrapped, key in unwrapped:
                entries.pop(case_id, None)  # re-inserted at the end: the newest
                entries[case_id] = _Entry(bytes(wrapped), key, expires_at)
            while len(entries) > self.max_entries:
                entries.popitem(last=False)

    def forget(self, case_ids: Iterable[RowId]) -> None:
        """Drop these cases' keys now (their wrapped keys were destroyed)."""
        with self._lock:
            for case_id in case_ids:
                self._entries.pop(case_id, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            self._drop_expired()
            return len(self._entries)

    def _drop_expired(self) -> None:
        """With the lock held."""
        now = self._clock()
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if oldest.expires_at > now:
                return
            self._entries.popitem(last=False)
