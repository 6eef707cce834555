// Prints every message sent by hello_send: the C++ twin of RabbitMQ's
// receive.py.
//   hello_receive [ENDPOINT] [--connect] [--count N]
// Default: binds tcp://127.0.0.1:5557 and runs until Ctrl+C.
#include <courier/pipeline.hpp>

#include <iostream>
#include <string>

int main(int argc, char** argv) {
  std::string endpoint = "tcp://127.0.0.1:5557";
  bool connect = false;
  long count = -1;  // forever
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--connect") connect = true;
    else if (arg == "--count" && i + 1 < argc) count = std::stol(argv[++i]);
    else endpoint = arg;
  }
  try {
    courier::Pull<std::string> pull;
    if (connect) pull.connect(endpoint); else pull.bind(endpoint);
    std::cout << " [*] Waiting for messages. To exit press CTRL+C" << std::endl;
    for (long n = 0; count < 0 || n < count; ++n) {
      try {
        std::cout << " [x] Received " << pull.receive() << std::endl;
      } catch (const courier::DecodeError& e) {
        std::cerr << " [!] " << e.what() << std::endl;  // skip it, keep receiving
      }
    }
  } catch (const courier::Error& e) {
    std::cerr << "hello_receive: " << e.what() << std::endl;
    return 1;
  }
}
