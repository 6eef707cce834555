#!/usr/bin/env python
import courier

with courier.Admin() as admin:
    admin.declare("hello")

with courier.Producer() as producer:
    producer.publish("hello", "Hello World!")  # returns once it is on the proxy's disk
print(" [x] Sent 'Hello World!'")
