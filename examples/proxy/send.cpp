// RabbitMQ tutorial 1, "Hello World!" (send.py), against courier-proxy.
// Usage: proxy_send [ENDPOINT]   (default: $COURIER_PROXY_ENDPOINT or tcp://127.0.0.1:5555)
#include <courier/producer.hpp>

#include <iostream>
#include <string>

int main(int argc, char** argv) {
  courier::Producer producer(argc > 1 ? argv[1] : courier::default_proxy_endpoint());
  producer.declare("hello");
  producer.publish("hello", std::string("Hello World!"));  // returns once it is on the proxy's disk
  std::cout << " [x] Sent 'Hello World!'" << std::endl;
}
