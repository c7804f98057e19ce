"""connectors/lock_store.py against a real Redis: the race Rasa OSS's RedisLockStore loses.

Several "replicas" (threads with their own Redis connections) ask for tickets on the same
conversation at the same moment, many times over. Every ticket must be different; with Rasa's
own store some are handed out twice, which is the bug (RasaHQ/rasa#9213) — checking that too
shows the test is able to catch it.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter
from typing import Any, Callable, Iterator, List
from urllib.parse import urlsplit

import pytest
from rasa.core.lock_store import RedisLockStore
from rasa.utils.endpoints import EndpointConfig

from connectors.lock_store import AtomicRedisLockStore
from tests.services import redis_url

REPLICAS = 6
ROUNDS = 100


@pytest.fixture
def redis_endpoint() -> Iterator[EndpointConfig]:
    parts = urlsplit(redis_url())
    yield EndpointConfig(
        url=parts.hostname,
        port=parts.port,
        db=3,
        type="connectors.lock_store.AtomicRedisLockStore",
        key_prefix=f"t{uuid.uuid4().hex[:10]}",
    )


def hammer(make_store: Callable[[], Any], conversation: str) -> List[int]:
    """Every replica issues ROUNDS tickets for one conversation, all at once."""
    tickets: List[int] = []
    guard = threading.Lock()
    start = threading.Barrier(REPLICAS)

    def replica() -> None:
        store = make_store()  # its own connection, like another Rasa process
        start.wait()
        for _ in range(ROUNDS):
            number = store.issue_ticket(conversation, 600)
            with guard:
                tickets.append(number)

    threads = [threading.Thread(target=replica) for _ in range(REPLICAS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return tickets


def test_concurrent_replicas_never_get_the_same_ticket(redis_endpoint):
    tickets = hammer(lambda: AtomicRedisLockStore(endpoint_config=redis_endpoint), "cid-race")

    duplicates = [n for n, c in Counter(tickets).items() if c > 1]
    assert len(tickets) == REPLICAS * ROUNDS
    assert duplicates == []
    assert sorted(tickets) == list(range(REPLICAS * ROUNDS))


def test_rasas_own_store_loses_that_race(redis_endpoint):
    """Not a test of our code: proof that the race above is real and this test can see it."""

    def stock() -> RedisLockStore:
        return RedisLockStore(
            host=redis_endpoint.url,
            port=redis_endpoint.kwargs["port"],
            db=3,
            key_prefix=redis_endpoint.kwargs["key_prefix"],
        )

    tickets = hammer(stock, "cid-race-stock")

    assert len(set(tickets)) < len(tickets), "expected duplicate tickets from RedisLockStore"


async def test_two_replicas_process_one_conversation_one_message_at_a_time(redis_endpoint):
    stores = [AtomicRedisLockStore(endpoint_config=redis_endpoint) for _ in range(2)]
    inside = 0
    overlaps = 0
    done: List[int] = []

    async def handle(n: int) -> None:
        nonlocal inside, overlaps
        async with stores[n % 2].lock("cid-turns", lock_lifetime=60, wait_time_in_seconds=0.01):
            inside += 1
            overlaps += inside > 1
            await asyncio.sleep(0.005)
            done.append(n)
            inside -= 1

    await asyncio.gather(*(handle(n) for n in range(40)))

    assert overlaps == 0
    assert sorted(done) == list(range(40))
    # Nothing is left behind once everyone is served.
    assert stores[0].get_lock("cid-turns") is None


def test_it_is_built_from_endpoints_yml_like_any_lock_store(redis_endpoint):
    from rasa.core.lock_store import LockStore

    store = LockStore.create(redis_endpoint)

    assert isinstance(store, AtomicRedisLockStore)
    assert store.issue_ticket("cid-config") == 0
