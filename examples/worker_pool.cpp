// Fan-out / fan-in with typed structs, in one process:
//   ventilator --Push<Task>--> N worker threads --Push<Result>--> sink
// PUSH spreads tasks round-robin over the workers; the sink's PULL
// fair-queues their results. Each worker owns its own sockets (courier
// sockets are used by one thread at a time).
//   worker_pool [WORKERS] [TASKS]
#include <courier/pipeline.hpp>

#include <cstdint>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

struct Task {
  std::int64_t id = 0;       // -1: no more work, stop
  std::vector<int> numbers;
  MSGPACK_DEFINE(id, numbers);  // travels as the msgpack array [id, numbers]
};

struct Result {
  std::int64_t id = 0;
  int worker = 0;
  std::int64_t sum_of_squares = 0;
  MSGPACK_DEFINE(id, worker, sum_of_squares);
};

int main(int argc, char** argv) {
  const int workers = argc > 1 ? std::stoi(argv[1]) : 4;
  const int tasks = argc > 2 ? std::stoi(argv[2]) : 1000;

  courier::Push<Task> ventilator;
  ventilator.bind("inproc://tasks");
  courier::Pull<Result> sink;
  sink.bind("inproc://results");

  std::vector<std::thread> pool;
  for (int w = 0; w < workers; ++w) {
    pool.emplace_back([w] {
      courier::Pull<Task> in;
      in.connect("inproc://tasks");
      courier::Push<Result> out;
      out.connect("inproc://results");
      for (;;) {
        const Task task = in.receive();
        if (task.id < 0) return;
        std::int64_t sum = 0;
        for (int n : task.numbers) sum += static_cast<std::int64_t>(n) * n;
        out.send(Result{task.id, w, sum});
      }
    });
  }

  for (int i = 0; i < tasks; ++i) ventilator.send(Task{i, {i, i + 1, i + 2}});

  std::vector<int> per_worker(workers, 0);
  std::int64_t total = 0;
  for (int i = 0; i < tasks; ++i) {
    const Result r = sink.receive();
    total += r.sum_of_squares;
    ++per_worker[r.worker];
  }
  for (int w = 0; w < workers; ++w) ventilator.send(Task{-1, {}});  // one stop per worker
  for (auto& t : pool) t.join();

  std::cout << tasks << " tasks, total " << total << "\n";
  for (int w = 0; w < workers; ++w) std::cout << "  worker " << w << ": " << per_worker[w] << " tasks\n";
}
