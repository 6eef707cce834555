"""Producer/Consumer/Delivery/Admin/Lock against a real courier-proxy:
confirms, acks, redelivery after a consumer dies, 429 waits, delayed
publishing, locks, and heartbeats that keep flowing while Python code runs."""

import datetime
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import courier


def test_publish_waits_for_the_confirm_and_returns_increasing_seqs(proxy, qname):
    with courier.Producer(proxy.endpoint) as producer:
        seqs = [producer.publish(qname, {"n": i}, timeout=10) for i in range(5)]
        assert seqs == sorted(seqs) and len(set(seqs)) == 5
        assert producer.confirmed == 5 and producer.unconfirmed == 0


def test_a_resent_id_is_stored_once(proxy, qname):
    with courier.Producer(proxy.endpoint) as producer:
        first = producer.publish(qname, "x", id="order-1")
        assert producer.publish(qname, "x", id="order-1") == first
        assert producer.duplicates == 1
    with courier.Admin(proxy.endpoint) as admin:
        assert admin.stats(qname).depth == 1


def test_publish_async_futures_resolve_with_seqs_and_flush_completes_them(proxy, qname):
    threads = []
    with courier.Producer(proxy.endpoint, window=64) as producer:
        futures = [producer.publish_async(qname, i) for i in range(2000)]
        futures[0].add_done_callback(lambda f: threads.append(threading.current_thread().name))
        assert producer.flush(timeout=30)
        assert all(f.done() for f in futures)  # flush() completed them on this thread
        seqs = [f.result() for f in futures]
        assert seqs == sorted(seqs) and len(set(seqs)) == 2000
    assert threads and threads[0] in ("courier-completions", threading.current_thread().name)


def test_consume_ack_and_delivery_fields(proxy, qname):
    with courier.Producer(proxy.endpoint) as producer:
        seq = producer.publish(qname, {"id": 1, "payload": b"\x00" * 64}, id="m1")
    before = time.time()
    with courier.Consumer(qname, proxy.endpoint, prefetch=10) as consumer:
        d = consumer.receive(timeout=10)
        assert d.body == {"id": 1, "payload": b"\x00" * 64} and courier.unpackb(d.raw) == d.body
        assert (d.seq, d.id, d.attempt, d.redelivered, d.queue) == (seq, "m1", 1, False, qname)
        assert isinstance(d.timestamp, datetime.datetime) and abs(d.timestamp.timestamp() - before) < 30
        assert not d.settled and d.ack() and d.settled and not d.ack()
        with pytest.raises(courier.TimeoutError):
            consumer.receive(timeout=0.2)
        assert consumer.try_receive() is None
    with courier.Admin(proxy.endpoint) as admin:
        stats = admin.stats(qname)
        assert (stats.depth, stats.inflight, stats.acked) == (0, 0, 1)


def test_process_acks_on_success_and_requeues_on_an_exception(proxy, qname):
    with courier.Producer(proxy.endpoint) as producer:
        producer.publish(qname, "a")
    with courier.Consumer(qname, proxy.endpoint) as consumer:
        with pytest.raises(RuntimeError):
            with consumer.receive(10).process() as d:
                assert d.body == "a"
                raise RuntimeError("handler failed")
        again = consumer.receive(10)
        assert again.body == "a" and again.attempt == 2 and again.redelivered
        with again.process():
            pass
        assert again.settled
    with courier.Admin(proxy.endpoint) as admin:
        assert admin.stats(qname).acked == 1


def test_iterating_a_consumer_until_stop(proxy, qname):
    with courier.Producer(proxy.endpoint) as producer:
        for i in range(10):
            producer.publish_async(qname, i)
        assert producer.flush(10)
    got = []
    with courier.Consumer(qname, proxy.endpoint) as consumer:
        for d in consumer:
            with d.process():
                got.append(d.body)
            if len(got) == 10:
                consumer.stop()
    assert got == list(range(10))


CHILD_CONSUMER = """
import sys, time, courier
c = courier.Consumer(sys.argv[1], sys.argv[2])
d = c.receive(timeout=10)
print("got", d.body, flush=True)
time.sleep(60)
"""


def test_a_message_is_redelivered_after_its_consumer_is_killed(start_proxy, qname):
    proxy = start_proxy(heartbeat_ms=200)
    with courier.Producer(proxy.endpoint) as producer:
        producer.publish(qname, "work")
    child = subprocess.Popen([sys.executable, "-c", CHILD_CONSUMER, qname, proxy.endpoint],
                             stdout=subprocess.PIPE, text=True, cwd="/")
    try:
        assert child.stdout.readline().strip() == "got work"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    with courier.Consumer(qname, proxy.endpoint) as consumer:
        d = consumer.receive(timeout=10)
        assert d.body == "work" and d.attempt == 2 and d.redelivered
        assert d.ack()


def test_a_full_queue_makes_publish_wait_for_room(proxy, qname):
    with courier.Admin(proxy.endpoint) as admin:
        admin.declare(qname, max_length=2)
    with courier.Producer(proxy.endpoint, full_wait=0) as impatient:
        impatient.publish(qname, 1)
        impatient.publish(qname, 2)
        with pytest.raises(courier.RemoteError) as e:
            impatient.publish(qname, 3)
        assert e.value.status == 429 and qname in e.value.reason
    with courier.Producer(proxy.endpoint, full_wait=20) as patient:
        result = []
        t = threading.Thread(target=lambda: result.append(patient.publish(qname, 3, timeout=20)))
        t.start()
        time.sleep(0.3)
        assert t.is_alive() and not result  # held back while the queue is full
        with courier.Consumer(qname, proxy.endpoint) as consumer:
            assert consumer.receive(10).ack()
            t.join(15)
        assert result and patient.full_retries >= 1


def test_delayed_and_scheduled_publishing(proxy, qname):
    with courier.Producer(proxy.endpoint) as producer:
        producer.publish(qname, "delay", delay=0.4)
        producer.publish(qname, "at", deliver_at=time.time() + 0.4)
        producer.publish(qname, "dt", deliver_at=datetime.datetime.now(datetime.timezone.utc)
                         + datetime.timedelta(seconds=0.4))
        with pytest.raises(courier.ConfigError):
            producer.publish(qname, "x", deliver_at="tomorrow")
    t0 = time.monotonic()
    with courier.Consumer(qname, proxy.endpoint) as consumer:
        with pytest.raises(courier.TimeoutError):
            consumer.receive(timeout=0.2)
        deliveries = [consumer.receive(timeout=5) for _ in range(3)]
        assert all(d.ack() for d in deliveries)  # an unsettled one would be requeued
        got = sorted(d.body for d in deliveries)
    assert got == ["at", "delay", "dt"] and time.monotonic() - t0 >= 0.3


def test_admin_stats_declare_purge_remove_and_rates(proxy, qname):
    with courier.Admin(proxy.endpoint) as admin, courier.Producer(proxy.endpoint) as producer:
        assert admin.stats(qname) is None
        assert admin.declare(qname, max_length=100, ttl=60.0, ack_timeout=30.0) == 0
        first = admin.stats()
        for i in range(3):
            producer.publish(qname, i)
        later = admin.stats()
        assert isinstance(later, courier.ProxyStats) and later.clients >= 2
        q = later.queues[qname]
        assert isinstance(q, courier.QueueStats) and (q.depth, q.put) == (3, 3) and q.tokens is None
        rates = courier.rates(first, later)
        assert rates[qname].put_per_s > 0
        assert admin.purge(qname) == 3
        admin.remove(qname)
        assert admin.stats(qname) is None
        with pytest.raises(courier.RemoteError) as e:
            admin.remove(qname)
        assert e.value.status == 404
        with pytest.raises(courier.ConfigError):
            admin.declare("bad name!")


def test_lock_excludes_a_second_holder_and_fences_grow(proxy, qname):
    with courier.Lock(qname, proxy.endpoint) as a, courier.Lock(qname, proxy.endpoint) as b:
        with a.acquire(timeout=10) as guard:
            assert not guard.lost and guard.loss == "held"
            guard.check()
            guard.extend()
            assert b.try_acquire(0.3) is None
            with pytest.raises(courier.TimeoutError):
                b.acquire(timeout=0.1)
            first = guard.fence
        assert not guard.release()  # `with` released it already
        with b.acquire(timeout=10) as second:
            assert second.fence > first
        with pytest.raises(courier.LockLostError):
            second.check()


def test_a_lock_guard_reports_loss_when_its_lock_closes(proxy, qname):
    lock = courier.Lock(qname, proxy.endpoint)
    guard = lock.acquire(timeout=10)
    lock.close()
    assert guard.lost and guard.loss != "held"
    with pytest.raises(courier.LockLostError) as e:
        guard.extend()
    assert e.value.code == 7 and e.value.loss == guard.loss


def test_heartbeats_flow_while_python_code_runs_ten_heartbeats_long(start_proxy, qname):
    hb = 0.1
    proxy = start_proxy(heartbeat_ms=int(hb * 1000))
    with courier.Producer(proxy.endpoint) as producer:
        producer.publish(qname, "long job")
    with courier.Consumer(qname, proxy.endpoint, prefetch=1) as consumer:
        d = consumer.receive(timeout=10)
        # A handler that keeps the GIL busy for 10 heartbeats (no sleep: the
        # C++ I/O thread must not need the GIL to keep the session alive).
        end = time.monotonic() + 10 * hb
        n = 0
        while time.monotonic() < end:
            n += 1
        assert d.ack()
        assert consumer.reconnects == 0
        with pytest.raises(courier.TimeoutError):
            consumer.receive(timeout=0.3)  # not redelivered to us either
    with courier.Admin(proxy.endpoint) as admin:
        s = admin.stats(qname)
        assert (s.redelivered, s.acked, s.depth, s.inflight, s.delivered) == (0, 1, 0, 0, 1)


def test_run_calls_back_on_this_thread_acks_and_rejects_undecodable_bodies(proxy, qname):
    with courier.Producer(proxy.endpoint) as producer:
        producer.publish(qname, "one")
        producer.publish_raw(qname, b"\xc1")  # not msgpack
        producer.publish(qname, "two")
    seen = []
    with courier.Consumer(qname, proxy.endpoint) as consumer:
        def callback(d):
            seen.append((d.body, threading.current_thread().name))
            if len(seen) == 2:
                consumer.stop()
        consumer.run(callback)
        assert consumer.decode_errors == 1
        with pytest.raises(courier.TimeoutError):
            consumer.receive(0.2)
    assert seen == [("one", threading.current_thread().name), ("two", threading.current_thread().name)]
    with courier.Admin(proxy.endpoint) as admin:
        s = admin.stats(qname)
        assert (s.acked, s.depth, s.inflight, s.dropped) == (2, 0, 0, 1)


def test_batch_forms_publish_many_and_receive_many(proxy, qname):
    values = [{"id": i, "payload": bytes(64)} for i in range(3000)]
    with courier.Producer(proxy.endpoint, window=256) as producer:
        seqs = producer.publish_many(qname, values)
        assert len(seqs) == 3000 and seqs == sorted(seqs) and len(set(seqs)) == 3000
        assert producer.publish_many(qname, []) == []
        with pytest.raises(TypeError):
            producer.publish_many(qname, [1, object()])
    got = []
    with courier.Consumer(qname, proxy.endpoint, prefetch=500) as consumer:
        while len(got) < 3000:
            batch = consumer.receive_many(1000, timeout=10)
            assert batch and len(batch) <= 1000
            for d in batch:
                got.append(d.body)
                assert d.ack()
        assert consumer.receive_many(10, timeout=0.1) == []
    assert got == values


def test_bad_options_and_names_raise_config_errors(proxy):
    with pytest.raises(courier.ConfigError):
        courier.Consumer("bad name!", proxy.endpoint)
    with pytest.raises(courier.ConfigError):
        courier.Consumer("q", proxy.endpoint, prefetch=0)
    with pytest.raises(courier.ConfigError):
        courier.Lock("q", proxy.endpoint, permits=0)
    with pytest.raises(courier.ConfigError):
        courier.Producer(proxy.endpoint, heartbeat=-1)
    with pytest.raises(TypeError):
        courier.Consumer("q", proxy.endpoint, prefetch=-1)
    with courier.Producer(proxy.endpoint) as producer:
        with pytest.raises(courier.ConfigError):
            producer.publish("bad name!", 1)
        with pytest.raises(courier.ConfigError):
            producer.publish("q", 1, delay=0.1, deliver_at=time.time())
        with pytest.raises(TypeError):
            producer.publish("q", object())
