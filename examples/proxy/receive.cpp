// RabbitMQ tutorial 1, "Hello World!" (receive.py), against courier-proxy.
// Usage: proxy_receive [ENDPOINT] [--count N]   (exits after N messages)
#include <courier/consumer.hpp>

#include <iostream>
#include <string>

int main(int argc, char** argv) {
  std::string endpoint;  // empty = courier::default_proxy_endpoint()
  long count = -1, received = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--count" && i + 1 < argc) count = std::stol(argv[++i]);
    else endpoint = argv[i];
  }
  courier::ConsumerOptions options;
  options.endpoint = endpoint;
  options.auto_ack = true;
  courier::Consumer consumer("hello", options);  // its I/O thread keeps heartbeats going
  std::cout << " [*] Waiting for messages. To exit press CTRL+C" << std::endl;
  consumer.run<std::string>([&](const std::string& body) {
    std::cout << " [x] Received " << body << std::endl;
    if (++received == count) consumer.stop();
  });
}
