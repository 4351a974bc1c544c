"""The key cache: a pure, bounded, short-lived memo of unwrap, safe across threads."""

from __future__ import annotations

import threading
import uuid
import weakref

import pytest

from bgcheck.crypto import DataKey, KeyCache, Keyring, unwrap, wrap

KEYRING = Keyring.generate()
CASE = uuid.UUID("8d3c2a4e-5b1f-4c7a-9e2d-6f0a1b2c3d4e")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def wrapped_key(case_id: uuid.UUID = CASE) -> tuple[bytes, DataKey]:
    """A stored wrapped key and what unwrap gives for it."""
    stored = wrap(KEYRING, DataKey.generate(), case_id=case_id)
    return stored.to_bytes(), unwrap(KEYRING, stored, case_id=case_id)


def test_a_hit_returns_the_key_unwrap_gave() -> None:
    cache = KeyCache()
    stored, dek = wrapped_key()
    assert cache.get(CASE, stored) is None
    cache.put(CASE, stored, dek)
    assert cache.get(CASE, stored) is dek
    assert cache.get(CASE, bytes(stored)) is dek  # the same bytes, read again from a row


def test_other_wrapped_bytes_or_another_case_miss() -> None:
    cache = KeyCache()
    stored, dek = wrapped_key()
    cache.put(CASE, stored, dek)
    rewrapped = wrap(KEYRING.rotate(), dek, case_id=CASE).to_bytes()  # a rotation
    tampered = bytes([*stored[:-1], stored[-1] ^ 1])
    assert cache.get(CASE, rewrapped) is None
    assert cache.get(CASE, tampered) is None
    assert cache.get(uuid.uuid4(), stored) is None  # the same blob, copied to another case


def test_a_newer_wrapped_key_replaces_the_older_one() -> None:
    cache = KeyCache()
    old, dek = wrapped_key()
    cache.put(CASE, old, dek)
    new = wrap(KEYRING.rotate(), dek, case_id=CASE).to_bytes()
    cache.put(CASE, new, dek)
    assert cache.get(CASE, new) is dek
    assert cache.get(CASE, old) is None
    assert len(cache) == 1


def test_an_entry_expires_after_the_ttl_and_a_hit_does_not_renew_it() -> None:
    clock = Clock()
    cache = KeyCache(ttl_seconds=60, clock=clock)
    stored, dek = wrapped_key()
    cache.put(CASE, stored, dek)
    clock.now += 59
    assert cache.get(CASE, stored) is dek
    clock.now += 1
    assert cache.get(CASE, stored) is None
    assert len(cache) == 0


def test_expired_keys_are_let_go_at_the_next_use_whichever_case_it_is_for() -> None:
    clock = Clock()
    cache = KeyCache(ttl_seconds=60, clock=clock)
    stale: list[weakref.ref[DataKey]] = []
    for _ in range(3):
        case_id = uuid.uuid4()
        stored, dek = wrapped_key(case_id)
        cache.put(case_id, stored, dek)
        stale.append(weakref.ref(dek))
    del dek
    clock.now += 30
    fresh = uuid.uuid4()
    fresh_stored, fresh_dek = wrapped_key(fresh)
    cache.put(fresh, fresh_stored, fresh_dek)
    clock.now += 31  # the first three are past their TTL, the last is not
    assert all(ref() is not None for ref in stale)  # held by the cache alone
    assert cache.get(uuid.uuid4(), b"") is None  # any use lets the expired go
    assert all(ref() is None for ref in stale)
    assert cache.get(fresh, fresh_stored) is fresh_dek


def test_the_cache_is_bounded_and_drops_the_oldest_first() -> None:
    cache = KeyCache(max_entries=2)
    cases = [uuid.uuid4() for _ in range(3)]
    stored = {case_id: wrapped_key(case_id) for case_id in cases}
    for case_id in cases:
        cache.put(case_id, *stored[case_id])
    assert len(cache) == 2
    assert cache.get(cases[0], stored[cases[0]][0]) is None
    assert cache.get(cases[2], stored[cases[2]][0]) is stored[cases[2]][1]


def test_forget_and_clear_drop_keys_at_once() -> None:
    cache = KeyCache()
    other = uuid.uuid4()
    stored, dek = wrapped_key()
    other_stored, other_dek = wrapped_key(other)
    cache.put(CASE, stored, dek)
    cache.put(other, other_stored, other_dek)
    cache.forget([CASE, uuid.uuid4()])  # an id it never held is no error
    assert cache.get(CASE, stored) is None
    assert cache.get(other, other_stored) is other_dek
    cache.clear()
    assert len(cache) == 0


def test_a_zero_ttl_turns_the_cache_off() -> None:
    cache = KeyCache(ttl_seconds=0)
    stored, dek = wrapped_key()
    cache.put(CASE, stored, dek)
    assert cache.get(CASE, stored) is None
    assert len(cache) == 0


@pytest.mark.parametrize("settings", [{"ttl_seconds": -1}, {"max_entries": 0}])
def test_nonsense_bounds_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="key cache"):
        KeyCache(**settings)  # type: ignore[arg-type]


def test_threads_sharing_a_cache_only_ever_get_the_right_key() -> None:
    cache = KeyCache(max_entries=16)
    cases = [uuid.uuid4() for _ in range(40)]
    stored = {case_id: wrapped_key(case_id) for case_id in cases}
    wrong: list[uuid.UUID] = []

    def work(offset: int) -> None:
        for n in range(400):
            case_id = cases[(n + offset) % len(cases)]
            blob, dek = stored[case_id]
            found = cache.get(case_id, blob)
            if found is None:
                cache.put(case_id, blob, dek)
            elif found is not dek:
                wrong.append(case_id)
            if n % 50 == 0:
                cache.forget([case_id])

    threads = [threading.Thread(target=work, args=(offset,)) for offset in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    assert len(cache) <= 16


def test_a_page_of_keys_is_looked_up_and_remembered_as_one_key_at_a_time() -> None:
    """``get_many``/``put_many`` (a list page) answer exactly as ``get``/``put`` would."""
    clock = Clock()
    cache = KeyCache(ttl_seconds=60, max_entries=3, clock=clock)
    cases = [uuid.uuid4() for _ in range(4)]
    stored = {case_id: wrapped_key(case_id) for case_id in cases}
    cache.put_many((case_id, *stored[case_id]) for case_id in cases)  # one too many
    assert len(cache) == 3
    other_bytes = wrapped_key(cases[2])[0]
    wanted = [(cases[0], stored[cases[0]][0]), (cases[1], stored[cases[1]][0])]
    wanted += [(cases[2], other_bytes), (cases[3], stored[cases[3]][0]), (uuid.uuid4(), b"")]
    # The oldest went for the bound; other wrapped bytes and unknown cases miss.
    found = [None, stored[cases[1]][1], None, stored[cases[3]][1], None]
    assert cache.get_many(wanted) == found
    assert cache.get_many(wanted) == [cache.get(case_id, wrapped) for case_id, wrapped in wanted]
    clock.now += 61
    assert cache.get_many(wanted) == [None] * len(wanted)
    off = KeyCache(ttl_seconds=0)
    off.put_many((case_id, *stored[case_id]) for case_id in cases)
    assert len(off) == 0
