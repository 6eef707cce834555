// RabbitMQ tutorial 1, "Hello World!" (send.py), against courier-proxy.
// Usage: proxy_send [ENDPOINT]   (default: $COURIER_PROXY_ENDPOINT or tcp://127.0.0.1:5555)
#include <courier/admin.hpp>
#include <courier/producer.hpp>

#include <iostream>
#include <string>

int main(int argc, char** argv) {
  std::string endpoint;  // empty = courier::default_proxy_endpoint()
  if (argc > 1) endpoint = argv[1];

  // send.py's queue_declare. Optional here: the first PUT creates the queue.
  courier::AdminOptions admin_options;
  admin_options.endpoint = endpoint;
  courier::Admin(admin_options).declare("hello");

  courier::ProducerOptions options;
  options.endpoint = endpoint;
  courier::Producer producer(options);
  producer.publish("hello", std::string("Hello World!"));  // returns once it is on the proxy's disk
  std::cout << " [x] Sent 'Hello World!'" << std::endl;
}
