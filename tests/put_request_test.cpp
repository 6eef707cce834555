// The proxy's PUT header reader (proxy/put_request.hpp): both forms of
// PROTOCOL.md §3.1 / §3.4 read into one reused PutRequest, and every fault
// the proxy answers with 400 named.
#include "put_request.hpp"

#include <gtest/gtest.h>

#include <msgpack.hpp>

#include <functional>
#include <string>

using courier::cqp1::BadRequest;
using courier::cqp1::HeaderView;
using courier::proxy::PutRequest;
using courier::proxy::read_put;

namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

// A header of `entries` pairs written by `fill`, as a client would pack it.
struct Header {
  msgpack::sbuffer bytes;
  msgpack::zone zone;
  Header(uint32_t entries, const std::function<void(Packer&)>& fill) {
    Packer p(bytes);
    p.pack_map(entries);
    fill(p);
  }
  HeaderView view() { return HeaderView::parse(bytes.data(), bytes.size(), zone); }
};

// The text read_put refuses the header with ("" when it is accepted).
std::string refusal(Header& h, std::size_t bodies) {
  PutRequest put;
  try {
    read_put(h.view(), bodies, put);
  } catch (const BadRequest& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(PutRequest, ReadsTheSingleFormWithItsIdAndTimes) {
  Header h(5, [](Packer& p) {
    p.pack("q"), p.pack("orders");
    p.pack("tag"), p.pack(7);
    p.pack("id"), p.pack("order-1");
    p.pack("delay"), p.pack(250);
    p.pack("ttl"), p.pack(60000);
  });
  PutRequest put;
  read_put(h.view(), 1, put);
  EXPECT_EQ(put.queue, "orders");
  EXPECT_EQ(put.tag, 7u);
  EXPECT_FALSE(put.n.has_value());
  EXPECT_EQ(put.delay, 250u);
  EXPECT_EQ(put.ttl, 60000u);
  ASSERT_EQ(put.ids.size(), 1u);
  ASSERT_TRUE(put.ids[0].has_value());
  EXPECT_EQ(put.ids[0]->bytes, "order-1");
  EXPECT_FALSE(put.ids[0]->binary);
  EXPECT_EQ(put.seqs.size(), 1u);
  EXPECT_EQ(put.dup, std::vector<bool>{false});
}

TEST(PutRequest, ReadsTheBatchFormWithNilAndBinaryIds) {
  Header h(4, [](Packer& p) {
    p.pack("q"), p.pack("orders");
    p.pack("tag"), p.pack(9);
    p.pack("n"), p.pack(3);
    p.pack("ids"), p.pack_array(3);
    p.pack("a"), p.pack_nil();
    p.pack_bin(2), p.pack_bin_body("\x00\x01", 2);
  });
  PutRequest put;
  read_put(h.view(), 3, put);
  EXPECT_EQ(put.n, 3u);
  EXPECT_EQ(put.bodies, 3u);
  ASSERT_EQ(put.ids.size(), 3u);
  EXPECT_EQ(put.ids[0]->bytes, "a");
  EXPECT_FALSE(put.ids[1].has_value());
  EXPECT_TRUE(put.ids[2]->binary);
  EXPECT_EQ(put.ids[2]->bytes, std::string("\x00\x01", 2));
  EXPECT_EQ(put.seqs.size(), 3u);
  EXPECT_EQ(put.dup.size(), 3u);
}

// The reader is handed the same PutRequest for every PUT: nothing of the
// last one may leak into the next.
TEST(PutRequest, AReusedRequestKeepsNothingOfTheLastPut) {
  Header batch(4, [](Packer& p) {
    p.pack("q"), p.pack("a");
    p.pack("tag"), p.pack(1);
    p.pack("n"), p.pack(2);
    p.pack("ids"), p.pack_array(2), p.pack("x"), p.pack("y");
  });
  Header single(2, [](Packer& p) {
    p.pack("q"), p.pack("b");
    p.pack("tag"), p.pack(2);
  });
  PutRequest put;
  read_put(batch.view(), 2, put);
  put.seqs = {10, 11};
  put.dup = {true, true};
  read_put(single.view(), 1, put);
  EXPECT_EQ(put.queue, "b");
  EXPECT_FALSE(put.n.has_value());
  ASSERT_EQ(put.ids.size(), 1u);
  EXPECT_FALSE(put.ids[0].has_value());
  EXPECT_EQ(put.seqs, std::vector<uint64_t>{0});
  EXPECT_EQ(put.dup, std::vector<bool>{false});
}

TEST(PutRequest, RefusesWhatBreaksTheProtocolNamingTheFault) {
  Header no_tag(1, [](Packer& p) { p.pack("q"), p.pack("a"); });
  EXPECT_NE(refusal(no_tag, 1).find("missing 'tag'"), std::string::npos);

  Header bad_queue(2, [](Packer& p) { p.pack("q"), p.pack("no spaces"), p.pack("tag"), p.pack(1); });
  EXPECT_NE(refusal(bad_queue, 1).find("queue name"), std::string::npos);

  Header single(2, [](Packer& p) { p.pack("q"), p.pack("a"), p.pack("tag"), p.pack(1); });
  EXPECT_NE(refusal(single, 2).find("exactly one body frame, got 2"), std::string::npos);

  Header batch(3, [](Packer& p) { p.pack("q"), p.pack("a"), p.pack("tag"), p.pack(1), p.pack("n"), p.pack(3); });
  EXPECT_NE(refusal(batch, 2).find("n=3 but carries 2"), std::string::npos);

  Header zero(3, [](Packer& p) { p.pack("q"), p.pack("a"), p.pack("tag"), p.pack(1), p.pack("n"), p.pack(0); });
  EXPECT_NE(refusal(zero, 0).find("'n' must be 1..4096"), std::string::npos);

  Header short_ids(4, [](Packer& p) {
    p.pack("q"), p.pack("a"), p.pack("tag"), p.pack(1), p.pack("n"), p.pack(2);
    p.pack("ids"), p.pack_array(1), p.pack("x");
  });
  EXPECT_NE(refusal(short_ids, 2).find("'ids' must have n entries"), std::string::npos);

  Header long_id(3, [](Packer& p) {
    p.pack("q"), p.pack("a"), p.pack("tag"), p.pack(1);
    p.pack("id"), p.pack(std::string(129, 'x'));
  });
  EXPECT_NE(refusal(long_id, 1).find("at most 128"), std::string::npos);

  Header negative_delay(3, [](Packer& p) {
    p.pack("q"), p.pack("a"), p.pack("tag"), p.pack(1), p.pack("delay"), p.pack(-5);
  });
  EXPECT_NE(refusal(negative_delay, 1).find("'delay' must be a non-negative integer"), std::string::npos);

  EXPECT_EQ(refusal(single, 1), "");
}
