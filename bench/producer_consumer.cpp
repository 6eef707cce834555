// bench/producer_consumer.cpp — the C++ library's Producer and Consumer end
// to end through a running courier-proxy, the figure bench/python_proxy.py
// compares the Python binding with (docs/BENCHMARKS.md, "Python binding").
//
// One thread publishes COUNT messages {"id", "name", "payload": 64 B} (a
// MSGPACK_DEFINE_MAP struct: the map a Python dict packs to) with
// publish_async() and the Producer's default window; the main thread
// receives and acks each with a Consumer. Prints one JSON line: messages per
// second from the first publish to the last delivery received.
//   producer_consumer ENDPOINT QUEUE [COUNT]
#include <courier/consumer.hpp>
#include <courier/producer.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

struct Message {
  std::int64_t id = 0;
  std::string name;
  std::vector<char> payload;  // msgpack bin, as Python bytes
  MSGPACK_DEFINE_MAP(id, name, payload);
};

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: producer_consumer ENDPOINT QUEUE [COUNT]\n");
    return 2;
  }
  const std::string endpoint = argv[1], queue = argv[2];
  const std::int64_t count = argc > 3 ? std::stoll(argv[3]) : 100000;

  courier::ConsumerOptions c;
  c.endpoint = endpoint;
  courier::Consumer consumer(queue, c);
  courier::ProducerOptions p;
  p.endpoint = endpoint;
  courier::Producer producer(p);

  const auto start = std::chrono::steady_clock::now();
  std::thread publisher([&] {
    Message m{0, "alice", std::vector<char>(64, 'x')};
    for (std::int64_t i = 0; i < count; ++i) {
      m.id = i;
      producer.publish_async(queue, m);
    }
    producer.flush(std::chrono::seconds(60));
  });
  std::int64_t sum = 0;
  for (std::int64_t n = 0; n < count; ++n) {
    auto d = consumer.receive<Message>(std::chrono::seconds(30));
    if (!d) {
      std::fprintf(stderr, "producer_consumer: nothing for 30 s after %lld messages\n", static_cast<long long>(n));
      publisher.join();
      return 1;
    }
    sum += d->body().id;
    d->ack();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  publisher.join();
  std::printf("{\"impl\": \"cpp\", \"count\": %lld, \"seconds\": %.4f, \"msgs_per_s\": %.0f, \"checksum\": %lld}\n",
              static_cast<long long>(count), seconds, count / seconds, static_cast<long long>(sum));
}
