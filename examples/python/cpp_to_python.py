#!/usr/bin/env python
"""C++ -> Python through courier-proxy: prints orders a C++ Producer published.

A C++ service publishes a struct with MSGPACK_DEFINE_MAP (a msgpack map), e.g.

    struct Order { std::int64_t id; std::string item; int qty; MSGPACK_DEFINE_MAP(id, item, qty); };
    courier::Producer().publish("orders", Order{1, "book", 2});

or, from a shell, the courier CLI (a C++ Producer too):

    courier publish orders '{"id": 1, "item": "book", "qty": 2}'

    python cpp_to_python.py [--queue orders] [--count N]

A map arrives as a dict; a MSGPACK_DEFINE (array) struct would arrive as a list.
"""
import argparse

import courier

args = argparse.ArgumentParser()
args.add_argument("--queue", default="orders")
args.add_argument("--count", type=int, default=None, help="exit after N orders (default: run until Ctrl-C)")
opts = args.parse_args()

with courier.Consumer(opts.queue, limit=opts.count) as consumer:
    for n, delivery in enumerate(consumer, 1):
        with delivery.process():  # ack when the block succeeds, requeue when it raises
            order = delivery.body
            print(f" [x] order {order['id']}: {order['qty']} x {order['item']}", flush=True)
        if n == opts.count:
            break
