// "Hello World!" over a direct pipeline: the C++ twin of RabbitMQ's first
// tutorial (send.py). Start hello_receive first, then:
//   hello_send [ENDPOINT] [--bind]        (default tcp://127.0.0.1:5557, connects)
#include <courier/pipeline.hpp>

#include <iostream>
#include <string>

int main(int argc, char** argv) {
  std::string endpoint = "tcp://127.0.0.1:5557";
  bool bind = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--bind") bind = true; else endpoint = arg;
  }
  try {
    courier::Push<std::string> push;
    if (bind) push.bind(endpoint); else push.connect(endpoint);
    push.send("Hello World!");
    std::cout << " [x] Sent 'Hello World!'" << std::endl;
  } catch (const courier::Error& e) {
    std::cerr << "hello_send: " << e.what() << std::endl;
    return 1;
  }
  // Leaving main closes the socket; the message is flushed for up to the
  // linger (1 s by default), so the program never hangs on a missing peer.
}
