#!/usr/bin/env python
"""Python -> C++ through courier-proxy: publishes orders a C++ Consumer reads.

The C++ side reads each dict as a struct with MSGPACK_DEFINE_MAP:

    struct Order { std::int64_t id; std::string item; int qty; MSGPACK_DEFINE_MAP(id, item, qty); };
    courier::Consumer in("orders");
    in.run<Order>([](const Order& o) { std::cout << o.id << " " << o.item << "\\n"; });

or, from a shell, the courier CLI (a C++ Consumer) prints them as JSON:

    python python_to_cpp.py --count 3 && courier consume orders --count 3
"""
import argparse

import courier

args = argparse.ArgumentParser()
args.add_argument("--queue", default="orders")
args.add_argument("--count", type=int, default=3)
opts = args.parse_args()

items = ["book", "lamp", "chair", "pen"]
orders = [{"id": i, "item": items[i % len(items)], "qty": i + 1} for i in range(1, opts.count + 1)]
with courier.Producer() as producer:
    seqs = producer.publish_many(opts.queue, orders)  # returns once all are confirmed (on disk)
print(f" [x] published {len(seqs)} orders to {opts.queue}")
