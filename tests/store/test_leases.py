"""Leases, the contract on every backend: one holder at a time, renewal by the holder, take-over
after expiry with a new epoch, release, and a race that exactly one caller wins."""

from __future__ import annotations

import threading
import time

import pytest

from modelcycle.exceptions import InvalidInput


def test_one_holder_at_a_time_and_the_holder_renews(store):
    first = store.acquire_lease("deploy:fraud", "host-a:1", 30)
    assert first is not None and first.owner == "host-a:1" and first.epoch == 1
    assert store.acquire_lease("deploy:fraud", "host-b:2", 30) is None
    renewed = store.acquire_lease("deploy:fraud", "host-a:1", 60)
    assert renewed.epoch == 1 and renewed.expires_at > first.expires_at
    assert store.get_lease("deploy:fraud") == renewed
    assert store.get_lease("monitor:fraud") is None
    other = store.acquire_lease("monitor:fraud", "host-b:2", 30)  # leases are independent by name
    assert other.owner == "host-b:2" and other.epoch == 1


def test_an_expired_lease_is_taken_over_with_the_next_epoch(store):
    store.acquire_lease("deploy:fraud", "leader", 0.3)
    assert store.acquire_lease("deploy:fraud", "follower", 30) is None
    time.sleep(0.45)
    assert store.get_lease("deploy:fraud") is None  # expired: nobody holds it
    taken = store.acquire_lease("deploy:fraud", "follower", 30)
    assert taken.owner == "follower" and taken.epoch == 2
    assert store.acquire_lease("deploy:fraud", "leader", 30) is None  # the old holder cannot come back


def test_release_frees_the_lease_at_once_and_only_for_its_holder(store):
    store.acquire_lease("deploy:fraud", "leader", 30)
    store.release_lease("deploy:fraud", "someone-else")
    assert store.get_lease("deploy:fraud").owner == "leader"
    store.release_lease("deploy:fraud", "leader")
    assert store.get_lease("deploy:fraud") is None
    assert store.acquire_lease("deploy:fraud", "follower", 30).epoch == 2
    store.release_lease("never-taken", "leader")  # nothing to release: no error


@pytest.mark.parametrize("name, owner, ttl, words", [
    ("", "o", 1, "non-empty"), ("x", "", 1, "owner"), ("x", "o\x00", 1, "NUL"), ("x\x00", "o", 1, "NUL"),
    ("x", "o", 0, "more than 0"), ("x", "o", -1, "more than 0"), ("x", "o", True, "seconds"),
    ("x", "o", "10", "seconds"), ("x", "o", float("nan"), "seconds"), ("x", "o", 1e9, "at most"),
    (None, "o", 1, "non-empty"), ("x" * 300, "o", 1, "limit"),
])
def test_bad_lease_requests_are_refused_saying_what_is_wrong(store, name, owner, ttl, words):
    with pytest.raises(InvalidInput, match=words):
        store.acquire_lease(name, owner, ttl)


def test_of_many_callers_racing_for_a_free_lease_exactly_one_wins(store_uris):
    from modelcycle.store import open_store

    store = open_store(*store_uris)
    winners, errors = [], []
    barrier = threading.Barrier(8)

    def race(i: int) -> None:
        try:
            barrier.wait()
            if store.acquire_lease("deploy:race", f"worker-{i}", 30) is not None:
                winners.append(i)
        except Exception as exc:  # any error is a failure of the contract
            errors.append(repr(exc))

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(winners) == 1
    assert store.get_lease("deploy:race").owner == f"worker-{winners[0]}"
