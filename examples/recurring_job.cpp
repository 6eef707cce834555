// A recurring job on courier-proxy that survives crashes of its workers
// without being scheduled twice or skipping a run (docs/SCHEDULING.md).
// Usage: recurring_job [JOB] [PERIOD_MS] [RUNS]
//   (proxy: $COURIER_PROXY_ENDPOINT or tcp://127.0.0.1:5555)
// Run it in several terminals: each run of the job is done by one of them,
// once per period, and killing any of them (kill -9 too) loses no run.
//
// The schedule is a message per run, {job, slot}: "run JOB for the period
// starting at SLOT". A worker that receives one
//   1. does the work for that slot (keyed by the slot, so that a redelivery
//      after a crash in the middle redoes the same slot, not a new one);
//   2. publishes the NEXT run, deliver_at = its slot, with the producer id
//      "JOB@SLOT" — every worker that ever schedules that slot uses the same
//      id, so the proxy's dedup stores it once;
//   3. acks the current run, only after step 2 is confirmed.
// A crash before 3 redelivers the current run (3 heartbeats later): the work
// is redone for the same slot and the next run's PUT is a duplicate (dup:
// true), stored once. Nothing is skipped: the current run is acked only once
// the next one is durable.
#include <courier/admin.hpp>
#include <courier/consumer.hpp>
#include <courier/producer.hpp>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>

struct Run {
  std::string job;
  std::int64_t slot_ms = 0;  // start of the period, Unix epoch ms
  MSGPACK_DEFINE_MAP(job, slot_ms);
};

namespace {

using Clock = std::chrono::system_clock;

std::chrono::milliseconds now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch());
}

// The producer id of a run: the same for every worker that schedules it.
std::string run_id(const Run& r) { return r.job + "@" + std::to_string(r.slot_ms); }

// Schedules `r` for its slot and waits until the proxy has it durably.
void schedule(courier::Producer& producer, const std::string& queue, const Run& r) {
  courier::PublishOptions o;
  o.id = run_id(r);
  o.deliver_at = Clock::time_point(std::chrono::milliseconds(r.slot_ms));
  producer.publish(queue, r, o);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string job = argc > 1 ? argv[1] : "report";
  const std::int64_t period_ms = argc > 2 ? std::stoll(argv[2]) : 2000;
  const long runs = argc > 3 ? std::stol(argv[3]) : 5;
  const std::string queue = "schedule." + job;

  courier::Producer producer;
  // Start the schedule only if there is none: a run is always ready, delayed
  // or in flight once it exists (the next is stored before the current is
  // acked). Workers starting together pick the same slot on the same grid,
  // so the shared id makes them one message.
  courier::Admin admin;
  const auto stats = admin.stats(queue);
  if (!stats || stats->depth + stats->inflight + stats->delayed == 0) {
    const std::int64_t first = (now_ms().count() / period_ms + 1) * period_ms;
    schedule(producer, queue, Run{job, first});
  }

  courier::ConsumerOptions options;
  options.prefetch = 1;  // one run at a time: the next waits in the proxy
  courier::Consumer consumer(queue, options);
  long done = 0;
  consumer.run<Run>([&](courier::Delivery<Run>& d) {
    const Run& r = d.body();
    const auto late = now_ms().count() - r.slot_ms;
    std::cout << "run " << run_id(r) << (d.redelivered() ? " (again, after a crash)" : "")
              << ", " << late << " ms after its slot" << std::endl;
    // 1. the work, for this slot (here: nothing but the line above)
    // 2. the next run, durable before this one is acked
    schedule(producer, queue, Run{r.job, r.slot_ms + period_ms});
    // 3. run() acks when the callback returns
    if (++done == runs) consumer.stop();
  });
}
