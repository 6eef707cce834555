// proxy/prometheus_text.hpp and proxy/http_address.hpp, driven directly:
// what the black-box suite cannot reach (queue names never hold a quote, so
// label escaping is only seen here).
#include "http_address.hpp"
#include "metrics_snapshot.hpp"
#include "prometheus_text.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace courier::proxy {
namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(PrometheusText, EscapesBackslashQuoteAndNewlineInLabelValues) {
  EXPECT_EQ(escape_label_value(R"(a\b"c)" "\n" "d"), R"(a\\b\"c\nd)");
  EXPECT_EQ(escape_label_value("orders.eu:1"), "orders.eu:1");
  MetricsSnapshot s;
  s.queues.push_back(QueueSnapshot{});
  s.queues.back().name = "we\"ird\\q\nname";
  s.queues.back().depth = 7;
  EXPECT_TRUE(contains(prometheus_text(s, "1.0", 0), "courier_queue_depth{queue=\"we\\\"ird\\\\q\\nname\"} 7\n"));
}

TEST(PrometheusText, HistogramBucketsAreCumulativeAndEndWithInf) {
  MetricsSnapshot s;
  using std::chrono::microseconds;
  s.commit_latency.add(microseconds(30));    // <= 50 µs
  s.commit_latency.add(microseconds(90));    // <= 100 µs
  s.commit_latency.add(microseconds(90));
  s.commit_latency.add(std::chrono::seconds(3));  // above every bound
  const std::string text = prometheus_text(s, "1.0", 0);
  EXPECT_TRUE(contains(text, "courier_journal_commit_seconds_bucket{le=\"5e-05\"} 1\n"));
  EXPECT_TRUE(contains(text, "courier_journal_commit_seconds_bucket{le=\"0.0001\"} 3\n"));
  EXPECT_TRUE(contains(text, "courier_journal_commit_seconds_bucket{le=\"1\"} 3\n"));
  EXPECT_TRUE(contains(text, "courier_journal_commit_seconds_bucket{le=\"+Inf\"} 4\n"));
  EXPECT_TRUE(contains(text, "courier_journal_commit_seconds_count 4\n"));
  EXPECT_TRUE(contains(text, "# TYPE courier_journal_commit_seconds histogram\n"));
}

TEST(PrometheusText, SnapshotAgeNeverGoesNegative) {
  MetricsSnapshot s;
  s.taken_wall_ms = 10'000;
  EXPECT_TRUE(contains(prometheus_text(s, "1.0", 12'500), "courier_snapshot_age_seconds 2.5\n"));
  EXPECT_TRUE(contains(prometheus_text(s, "1.0", 9'000), "courier_snapshot_age_seconds 0\n"));
}

TEST(MetricsSnapshot, RatesComeFromTheCountersOfThePreviousSnapshot) {
  MetricsSnapshot before, now;
  before.taken_steady_ms = 1000;
  now.taken_steady_ms = 1500;
  for (auto* s : {&before, &now}) {
    s->queues.resize(3);
    s->queues[0].name = "a";
    s->queues[1].name = "b";
    s->queues[2].name = "c";
  }
  before.queues[0].counters.put = 100;
  now.queues[0].counters.put = 150;       // +50 in 0.5 s
  now.queues[0].counters.delivered = 10;  // +10
  before.queues[1].counters.put = 80;     // b was deleted and made again
  now.queues[1].counters.put = 5;
  add_rates(now, before);
  EXPECT_EQ(now.interval_ms, 500u);
  EXPECT_DOUBLE_EQ(now.queues[0].in_per_s, 100.0);
  EXPECT_DOUBLE_EQ(now.queues[0].out_per_s, 20.0);
  EXPECT_DOUBLE_EQ(now.queues[1].in_per_s, 0.0);
  EXPECT_DOUBLE_EQ(now.queues[2].in_per_s, 0.0);
}

TEST(HttpAddress, ParsesHostAndPort) {
  auto a = parse_http_address("127.0.0.1:9464");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9464);
  a = parse_http_address("[::1]:0");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 0);
  EXPECT_EQ(to_string(*a), "[::1]:0");
  for (const char* bad : {"", "9464", "127.0.0.1", ":9464", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                          "127.0.0.1:94a", "::1:9464", "[::1]9464", "[::1"}) {
    EXPECT_FALSE(parse_http_address(bad)) << bad;
  }
}

TEST(HttpAddress, OnlyLoopbackCountsAsLocal) {
  for (const char* local : {"localhost", "127.0.0.1", "127.1.2.3", "::1"}) EXPECT_TRUE(is_loopback_host(local)) << local;
  for (const char* remote : {"0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "example.com", "localhost.evil.com",
                             "::ffff:127.0.0.1"}) {
    EXPECT_FALSE(is_loopback_host(remote)) << remote;
  }
}

TEST(HttpAddress, HostHeaderLosesItsPortAndBrackets) {
  EXPECT_EQ(host_of_host_header("127.0.0.1:9464"), "127.0.0.1");
  EXPECT_EQ(host_of_host_header("[::1]:9464"), "::1");
  EXPECT_EQ(host_of_host_header("[::1]"), "::1");
  EXPECT_EQ(host_of_host_header("localhost"), "localhost");
  EXPECT_EQ(host_of_host_header("evil.example:80"), "evil.example");
  EXPECT_EQ(host_of_host_header(""), "");
  EXPECT_FALSE(is_loopback_host(host_of_host_header("[::1")));  // unterminated: kept whole, refused
}

}  // namespace
}  // namespace courier::proxy
