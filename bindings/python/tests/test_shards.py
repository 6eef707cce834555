"""Producer, Consumer, Admin and Lock given shards= (a shard map file): each
queue goes to its owner (docs/scaling.md "Routing in the clients")."""
import json

import pytest

import courier


def write_map(path, version, proxies, pins=None):
    """The JSON form of a shard map (shard_map.hpp), replaced atomically."""
    doc = {"version": version, "proxies": [{"name": n, "endpoint": p.endpoint} for n, p in proxies]}
    if pins:
        doc["pins"] = pins
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    tmp.replace(path)


@pytest.fixture
def two_proxies(start_proxy, tmp_path):
    a, b = start_proxy(), start_proxy()
    path = tmp_path / "map.json"
    write_map(path, 1, [("a", a), ("b", b)], pins={"shq.on-a": "a", "shq.on-b": "b", "shq.lock": "b"})
    return a, b, str(path)


def test_shard_clients_route_each_queue_to_its_owner(two_proxies):
    a, b, shards = two_proxies
    with courier.Admin(shards=shards) as admin:
        assert admin.declare("shq.on-a") == 0 and admin.declare("shq.on-b") == 0
        by_proxy = admin.stats_by_proxy()
        assert [(s.name, s.endpoint, s.reachable) for s in by_proxy] == [("a", a.endpoint, True),
                                                                         ("b", b.endpoint, True)]
    with courier.Producer(shards=shards) as producer:
        assert producer.endpoint.startswith("shards: ")
        for i in range(3):
            producer.publish("shq.on-a", i)
            producer.publish("shq.on-b", {"n": i})
    with courier.Admin(a.endpoint) as on_a, courier.Admin(b.endpoint) as on_b:
        assert on_a.stats("shq.on-a").depth == 3 and on_a.stats("shq.on-b") is None
        assert on_b.stats("shq.on-b").depth == 3 and on_b.stats("shq.on-a") is None
    with courier.Consumer("shq.on-b", shards=shards) as consumer:
        assert [consumer.receive(timeout=10).body for _ in range(3)] == [{"n": i} for i in range(3)]
    with courier.Lock("shq.lock", shards=shards) as lock:
        with lock.acquire(timeout=10) as guard:
            assert not guard.lost
            with courier.Admin(b.endpoint) as on_b:
                assert on_b.stats("shq.lock").inflight == 1


def test_shard_producer_follows_a_moved_to_mark(two_proxies):
    a, b, shards = two_proxies
    with courier.Admin(a.endpoint) as on_a:
        on_a.declare("shq.on-a", moved_to="b")  # what `courier move` sets on the old owner
        assert on_a.stats("shq.on-a").moved_to == "b"
        with courier.Producer(a.endpoint) as plain:
            with pytest.raises(courier.RemoteError, match="'b'"):
                plain.publish("shq.on-a", 0)
        with courier.Producer(shards=shards) as producer:  # the map still says a
            producer.publish("shq.on-a", 1)
        with courier.Admin(b.endpoint) as on_b:
            assert on_b.stats("shq.on-a").depth == 1 and on_a.stats("shq.on-a").depth == 0


def test_shard_admin_reports_a_dead_proxy_unreachable(two_proxies):
    a, b, shards = two_proxies
    b.stop()
    with courier.Admin(shards=shards, timeout=0.5) as admin:
        by_name = {s.name: s for s in admin.stats_by_proxy()}
        assert by_name["a"].reachable and not by_name["b"].reachable
        assert b.endpoint in by_name["b"].error
        with pytest.raises(courier.TimeoutError, match="'b'"):
            admin.stats()


def test_shard_aio_clients_take_shards_too(two_proxies):
    import asyncio

    import courier.aio

    a, b, shards = two_proxies

    async def main():
        async with courier.aio.Admin(shards=shards) as admin:
            assert [s.name for s in await admin.stats_by_proxy()] == ["a", "b"]
            assert await admin.declare("shq.on-b") == 0
        async with courier.aio.Producer(shards=shards) as producer:
            await producer.publish("shq.on-b", "x")

    asyncio.run(main())
    with courier.Admin(b.endpoint) as on_b:
        assert on_b.stats("shq.on-b").depth == 1


def test_shard_and_endpoint_together_is_a_config_error(two_proxies):
    a, _, shards = two_proxies
    with pytest.raises(courier.ConfigError, match="pick one"):
        courier.Producer(a.endpoint, shards=shards)
    with pytest.raises(courier.ConfigError):
        courier.Producer(shards=shards + ".missing")
