#!/usr/bin/env python
"""A pool of worker processes fed through courier-proxy.

The main process publishes TASKS tasks to "pool.tasks", then one stop task
per worker; WORKERS processes each consume with prefetch=1 (one task at a
time, so a slow task never holds others back), compute, and publish their
result to "pool.results", which the main process collects. A worker killed
mid-task loses nothing: its unacked task goes back to the queue.

The workers are started with "spawn", not "fork": a forked child of
multiprocessing ends with os._exit(), which skips the interpreter's exit and
so cuts short the flush of the last ack and the BYE (see docs/python.md).

    python worker_pool.py [WORKERS] [TASKS]
"""
import multiprocessing
import os
import sys

import courier


def worker(number):
    with courier.Consumer("pool.tasks", prefetch=1) as tasks, courier.Producer() as results:
        for delivery in tasks:
            with delivery.process():
                task = delivery.body
                if task["id"] < 0:
                    return  # a stop task: acked on the way out
                total = sum(n * n for n in task["numbers"])
                results.publish("pool.results", {"id": task["id"], "worker": number, "pid": os.getpid(),
                                                 "sum_of_squares": total})


def main():
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    spawn = multiprocessing.get_context("spawn")
    pool = [spawn.Process(target=worker, args=(w,)) for w in range(workers)]
    for p in pool:
        p.start()

    tasks = [{"id": i, "numbers": list(range(i % 100))} for i in range(count)]
    with courier.Producer() as producer:
        producer.publish_many("pool.tasks", tasks)
        producer.publish_many("pool.tasks", [{"id": -1, "numbers": []}] * workers)

    by_worker, wrong = {}, 0
    with courier.Consumer("pool.results", limit=count) as results:
        for _ in range(count):
            with results.receive(timeout=60).process() as delivery:
                r = delivery.body
                wrong += r["sum_of_squares"] != sum(n * n for n in range(r["id"] % 100))
                by_worker[r["worker"]] = by_worker.get(r["worker"], 0) + 1
    for p in pool:
        p.join()
    shares = ", ".join(f"worker {w}: {n}" for w, n in sorted(by_worker.items()))
    print(f" [x] {count} tasks done by {len(by_worker)} workers ({shares}); wrong results: {wrong}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
