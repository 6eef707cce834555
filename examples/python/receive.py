#!/usr/bin/env python
import sys

import courier


def main():
    with courier.Admin() as admin:
        admin.declare("hello")

    def callback(delivery):
        print(f" [x] Received {delivery.body}")

    # Its I/O thread keeps heartbeats going, however long callback runs.
    with courier.Consumer("hello", auto_ack=True) as consumer:
        print(" [*] Waiting for messages. To exit press CTRL+C")
        consumer.run(callback)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("Interrupted")
        sys.exit(0)
