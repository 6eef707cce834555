// fuzz/broker_harness.cpp — see broker_harness.hpp.
#include "broker_harness.hpp"

#include "fuzz_check.hpp"
#include "journal_census.hpp"
#include "protocol/replies.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

namespace courier::fuzz {

namespace cqp1 = courier::cqp1;
namespace key = courier::cqp1::key;

// ---------------------------------------------------------------------------
// Sockets: made once per process, since a fuzzer runs millions of inputs
// ---------------------------------------------------------------------------

namespace {

constexpr int kCensusClient = kClients;  // the client that sends check()'s STATS

struct Wires {
  zmq::context_t context;
  zmq::socket_t router{context, zmq::socket_type::router};
  std::vector<zmq::socket_t> dealers;

  Wires() {
    // As Loop sets it: no silent drops, no send high-water mark.
    router.set(zmq::sockopt::router_mandatory, 1);
    router.set(zmq::sockopt::sndhwm, 0);
    router.set(zmq::sockopt::rcvhwm, 0);
    router.bind("inproc://broker-fuzz");
    for (int i = 0; i <= kCensusClient; ++i) {
      dealers.emplace_back(context, zmq::socket_type::dealer);
      dealers.back().set(zmq::sockopt::routing_id, "client-" + std::to_string(i));
      dealers.back().set(zmq::sockopt::rcvhwm, 0);
      dealers.back().connect("inproc://broker-fuzz");
    }
  }
};

Wires& wires() {
  static Wires* w = new Wires();  // never destroyed: no ordering trouble at exit
  return *w;
}

// libFuzzer's -timeout is a SIGALRM timer: a blocking receive may see EINTR,
// which is no error here, so the call is made again.
zmq::recv_result_t recv_again(zmq::socket_t& s, zmq::message_t& m, zmq::recv_flags flags) {
  for (;;) {
    try {
      return s.recv(m, flags);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
    }
  }
}

std::vector<zmq::message_t> receive(zmq::socket_t& s, zmq::recv_flags flags) {
  std::vector<zmq::message_t> frames;
  zmq::message_t part;
  if (!recv_again(s, part, flags)) return frames;
  bool more = part.more();
  frames.push_back(std::move(part));
  while (more) {
    zmq::message_t next;
    (void)recv_again(s, next, zmq::recv_flags::none);
    more = next.more();
    frames.push_back(std::move(next));
  }
  return frames;
}

// COURIER_FUZZ_TRACE=1 prints every step, to read what a crashing input did.
bool tracing() {
  static const bool on = std::getenv("COURIER_FUZZ_TRACE") != nullptr;
  return on;
}

}  // namespace

HeaderMap& HeaderMap::set_bin(std::string_view key, std::string_view bytes) {
  packer_.pack(key);
  packer_.pack_bin(static_cast<uint32_t>(bytes.size()));
  packer_.pack_bin_body(bytes.data(), static_cast<uint32_t>(bytes.size()));
  ++entries_;
  return *this;
}

std::string HeaderMap::bytes() const {
  msgpack::sbuffer head;
  msgpack::packer<msgpack::sbuffer>(head).pack_map(entries_);
  return std::string(head.data(), head.size()) + std::string(body_.data(), body_.size());
}

// ---------------------------------------------------------------------------
// Turns
// ---------------------------------------------------------------------------

BrokerHarness::BrokerHarness(const std::string& dir, uint64_t journal_bytes) {
  spdlog::set_level(spdlog::level::off);
  std::filesystem::remove_all(dir);
  config_.data_dir = dir;
  config_.max_message = 16;  // broker_fuzz sends bodies of up to 20 bytes: some get 413
  // Sessions never go silent: a silence would requeue deliveries behind the
  // model's back (broker_model.hpp).
  config_.heartbeat_ms = uint64_t{1} << 50;
  config_.sync = false;  // what is checked is the committed state, not the disk
  journal_ = std::make_unique<proxy::Journal>(proxy::JournalConfig{dir, journal_bytes, false});
  broker_ = std::make_unique<proxy::Broker>(config_, *journal_, outbox_);
  clock_.wall_ms = 1'700'000'000'000;
  clock_.steady_ms = 1'000'000'000;
  for (auto& d : wires().dealers) {
    FUZZ_CHECK(receive(d, zmq::recv_flags::dontwait).empty(), "a reply left over from the last input");
  }
}

BrokerHarness::~BrokerHarness() {
  broker_.reset();
  journal_.reset();
  std::filesystem::remove_all(config_.data_dir);
}

// Loop::turn with this harness's clock, and all in one go: every message a
// turn sends is read back before the next turn.
void BrokerHarness::turn(std::vector<zmq::message_t>* request) {
  broker_->begin_turn(clock_);
  if (request != nullptr) broker_->handle(*request);
  broker_->run_timers();
  broker_->deliver();
  journal_->commit();  // GROUP COMMIT RULE (proxy/loop.cpp): then, only then, send
  std::vector<std::string> unreachable;
  const std::size_t failed = outbox_.flush(wires().router, unreachable);
  FUZZ_CHECK(failed == 0 && unreachable.empty(), "%zu replies could not be sent", failed);
}

void BrokerHarness::command(int client, std::string_view name, const std::string& header, const Expect& expect) {
  if (tracing()) {
    msgpack::object_handle oh = msgpack::unpack(header.data(), header.size());
    std::ostringstream text;
    text << oh.get();
    std::fprintf(stderr, "client %d: %.*s %s + %zu bodies\n", client, static_cast<int>(name.size()), name.data(),
                 text.str().c_str(), expect.bodies.size());
  }
  zmq::socket_t& dealer = wires().dealers[client];
  const bool has_bodies = !expect.bodies.empty();
  dealer.send(zmq::buffer(cqp1::kMagic), zmq::send_flags::sndmore);
  dealer.send(zmq::buffer(name), zmq::send_flags::sndmore);
  dealer.send(zmq::buffer(header), has_bodies ? zmq::send_flags::sndmore : zmq::send_flags::none);
  for (std::size_t i = 0; i < expect.bodies.size(); ++i) {
    dealer.send(zmq::buffer(expect.bodies[i]),
                i + 1 < expect.bodies.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
  std::vector<zmq::message_t> request = receive(wires().router, zmq::recv_flags::none);
  FUZZ_CHECK(!request.empty(), "the router received nothing");

  // What the proxy does in handle() happens before the turn's deliveries:
  // releases the model can predict are applied now, the rest when read.
  Pending p{expect, {}, false};
  if (expect.kind == Expect::ack || expect.kind == Expect::nack) p.unknown = model_.name_ids(client, expect.ids, true);
  if (expect.kind == Expect::touch) p.unknown = model_.name_ids(client, expect.ids, false);
  if (expect.kind == Expect::add_credit) p.credit_known = model_.credit(client, expect.q, expect.n);
  if (expect.kind == Expect::bye) model_.bye(client);

  turn(&request);

  // The sender's replies first: a CANCELLED there frees what the other
  // clients' DELIVERs of this turn may carry.
  read_replies(client, &p);
  for (int c = 0; c <= kCensusClient; ++c) {
    if (c != client) read_replies(c, nullptr);
  }
}

void BrokerHarness::advance(uint64_t ms) {
  if (tracing()) std::fprintf(stderr, "time passes: %llu ms\n", static_cast<unsigned long long>(ms));
  clock_.wall_ms += ms;
  clock_.steady_ms += ms;
  turn(nullptr);
  for (int c = 0; c <= kCensusClient; ++c) read_replies(c, nullptr);
}

// ---------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------

void BrokerHarness::read_replies(int client, const Pending* pending) {
  const Expect* e = pending ? &pending->expect : nullptr;
  int answers = 0;          // replies that answer the command itself
  bool said_unknown = false;  // an ERROR 404 listing delivery ids
  for (;;) {
    std::vector<zmq::message_t> m = receive(wires().dealers[client], zmq::recv_flags::dontwait);
    if (m.empty()) break;
    FUZZ_CHECK(m.size() >= 3 && m[0].to_string_view() == cqp1::kMagic, "a reply not framed [CQP1][COMMAND][header]");
    const std::string_view command = m[1].to_string_view();
    msgpack::zone zone;
    const cqp1::HeaderView h = cqp1::HeaderView::parse(m[2].data(), m[2].size(), zone, cqp1::HeaderView::From::proxy);
    const std::size_t bodies = m.size() - 3;
    if (tracing()) {
      std::ostringstream text;
      msgpack::object whole;
      whole.type = msgpack::type::MAP;
      whole.via.map = h.map();
      text << whole;
      std::fprintf(stderr, "  -> client %d: %.*s %s\n", client, static_cast<int>(command.size()), command.data(),
                   text.str().c_str());
    }

    if (command == "DELIVER") {
      const cqp1::DeliverReply r = cqp1::DeliverReply::read(h, bodies);
      FUZZ_CHECK(r.queue().has_value(), "a DELIVER without 'q'");
      const uint64_t n = r.batch() ? h.need_uint(key::n) : 1;
      FUZZ_CHECK(n == bodies && n >= 1, "a DELIVER of %llu messages with %zu bodies", static_cast<unsigned long long>(n),
                 bodies);
      for (std::size_t i = 0; i < r.size(); ++i) {
        const cqp1::Delivered d = r.at(i);
        model_.delivered(client, std::string(*r.queue()), d.d, d.seq, m[3 + i].to_string_view(), r.size());
      }
      continue;
    }
    if (command == "STATS") {
      FUZZ_CHECK(client == kCensusClient, "STATS to a client that did not ask");
      stats_header_.assign(static_cast<const char*>(m[2].data()), m[2].size());
      ++answers;
      continue;
    }
    FUZZ_CHECK(bodies == 0, "%.*s with body frames", static_cast<int>(command.size()), command.data());
    FUZZ_CHECK(e != nullptr || client == kCensusClient,
               "%.*s to client %d, which sent nothing this turn", static_cast<int>(command.size()), command.data(),
               client);
    if (e == nullptr) continue;
    ++answers;
    if (command == "ERROR") {
      const cqp1::ErrorReply err = cqp1::ErrorReply::read(h);
      if (e->kind == Expect::put) FUZZ_CHECK(err.tag == e->tag, "a PUT's ERROR without its tag");
      if (err.ids != nullptr && err.code == cqp1::kNotFound) {
        std::vector<uint64_t> ids;
        for (uint32_t i = 0; i < err.ids->size; ++i) ids.push_back(cqp1::as_uint(err.ids->ptr[i], "d"));
        FUZZ_CHECK(ids == pending->unknown, "ERROR 404 names %zu delivery ids, the model expected %zu unknown",
                   ids.size(), pending->unknown.size());
        said_unknown = true;
      }
      if (e->kind == Expect::add_credit) {
        FUZZ_CHECK(!pending->credit_known && err.code == cqp1::kNotFound,
                   "CREDIT answered ERROR %d for a consumer the client has", err.code);
      }
    } else if (command == "CONFIRM") {
      FUZZ_CHECK(e->kind == Expect::put, "CONFIRM for something other than a PUT");
      const cqp1::ConfirmReply c = cqp1::ConfirmReply::read(h);
      FUZZ_CHECK(c.tag() == e->tag, "CONFIRM of tag %llu for the PUT of tag %llu",
                 static_cast<unsigned long long>(c.tag()), static_cast<unsigned long long>(e->tag));
      for (std::size_t i = 0; i < e->bodies.size(); ++i) {
        FUZZ_CHECK(c.seq(i) != 0, "CONFIRM without the seq of message %zu", i);
        if (!c.dup(i)) model_.confirmed(e->q, c.seq(i), e->bodies[i]);
      }
    } else if (command == "CONSUMING") {
      FUZZ_CHECK(e->kind == Expect::consume && cqp1::read_queue(h) == e->q, "CONSUMING that answers no CONSUME");
      model_.consuming(client, e->q, e->credit, e->auto_ack, e->batch, e->limit);
    } else if (command == "CANCELLED") {
      FUZZ_CHECK(e->kind == Expect::cancel && cqp1::read_queue(h) == e->q, "CANCELLED that answers no CANCEL");
      model_.cancelled(client, e->q);
    } else if (command == "DELETED") {
      FUZZ_CHECK(e->kind == Expect::del && cqp1::read_queue(h) == e->q, "DELETED that answers no DELETE");
      model_.deleted(e->q);
    }
  }
  if (e == nullptr) return;
  // Every PUT is answered exactly once; ACK/NACK/TOUCH of ids the client
  // holds say nothing, and of others say 404 naming exactly those.
  if (e->kind == Expect::put) FUZZ_CHECK(answers == 1, "a PUT answered %d times", answers);
  if (e->kind == Expect::consume || e->kind == Expect::cancel || e->kind == Expect::del) {
    FUZZ_CHECK(answers == 1, "a command answered %d times", answers);
  }
  if (e->kind == Expect::ack || e->kind == Expect::nack || e->kind == Expect::touch) {
    FUZZ_CHECK(said_unknown == !pending->unknown.empty(), "%zu ids the client does not hold, and %s ERROR 404",
               pending->unknown.size(), said_unknown ? "an" : "no");
  }
  if (e->kind == Expect::add_credit && !pending->credit_known) FUZZ_CHECK(answers == 1, "CREDIT without a consumer not refused");
  if (e->kind == Expect::bye) FUZZ_CHECK(answers == 0, "BYE answered");
}

// ---------------------------------------------------------------------------
// Invariants
// ---------------------------------------------------------------------------

void BrokerHarness::check() {
  // Counted before the STATS turn: nothing changes between the last commit
  // and the moment handle() answers STATS (same clock, nothing else read).
  const JournalCensus census = take_census(*journal_);
  // The model too, before the STATS turn: that turn's deliver() runs after
  // handle() answered STATS, and its DELIVERs are read into the model.
  std::map<std::string, std::pair<uint64_t, uint64_t>> held;  // inflight, consumers
  for (const auto& kv : census.records) held[kv.first] = {model_.inflight(kv.first), model_.consumers(kv.first)};
  stats_header_.clear();
  command(kCensusClient, "STATS", HeaderMap().bytes(), Expect{});
  FUZZ_CHECK(!stats_header_.empty(), "STATS not answered");
  msgpack::zone zone;
  const cqp1::HeaderView h =
      cqp1::HeaderView::parse(stats_header_.data(), stats_header_.size(), zone, cqp1::HeaderView::From::proxy);
  const ProxyStats stats = cqp1::read_stats(h);

  FUZZ_CHECK(stats.queues.size() == census.records.size(), "STATS lists %zu queues, the journal has %zu records",
             stats.queues.size(), census.records.size());
  for (const auto& [qid, counted] : census.by_qid) {
    bool owned = false;
    for (const auto& kv : census.records) owned = owned || kv.second.id == qid;
    FUZZ_CHECK(owned, "the journal holds %llu messages of queue id %u, which has no record",
               static_cast<unsigned long long>(counted.messages), qid);
  }
  for (const auto& [name, rec] : census.records) {
    const auto it = stats.queues.find(name);
    FUZZ_CHECK(it != stats.queues.end(), "queue %s is in the journal but not in STATS", name.c_str());
    const QueueStats& s = it->second;
    const auto c_it = census.by_qid.find(rec.id);
    const QueueCensus c = c_it == census.by_qid.end() ? QueueCensus{} : c_it->second;
    const auto ull = [](uint64_t v) { return static_cast<unsigned long long>(v); };
    // Each part alone first: depth is computed by subtraction, and a wrapped
    // depth would make the sum come out right.
    FUZZ_CHECK(s.depth <= c.messages && s.inflight <= c.messages && s.delayed <= c.messages,
               "queue %s: depth %llu, inflight %llu, delayed %llu with %llu messages stored", name.c_str(),
               ull(s.depth), ull(s.inflight), ull(s.delayed), ull(c.messages));
    FUZZ_CHECK(s.depth + s.inflight + s.delayed == c.messages,
               "queue %s: depth %llu + inflight %llu + delayed %llu != %llu messages in the journal", name.c_str(),
               ull(s.depth), ull(s.inflight), ull(s.delayed), ull(c.messages));
    FUZZ_CHECK(s.delayed == c.delayed, "queue %s: STATS delayed %llu, the delayed index holds %llu", name.c_str(),
               ull(s.delayed), ull(c.delayed));
    FUZZ_CHECK(rec.stored == c.messages && rec.delayed == c.delayed,
               "queue %s: its saved record says %llu stored / %llu delayed, the journal holds %llu / %llu",
               name.c_str(), ull(rec.stored), ull(rec.delayed), ull(c.messages), ull(c.delayed));
    const auto [inflight, consumers] = held.at(name);
    FUZZ_CHECK(s.inflight == inflight, "queue %s: STATS inflight %llu, the clients hold %llu", name.c_str(),
               ull(s.inflight), ull(inflight));
    FUZZ_CHECK(s.consumers == consumers, "queue %s: STATS consumers %llu, the clients have %llu", name.c_str(),
               ull(s.consumers), ull(consumers));
    if (s.tokens) {
      FUZZ_CHECK(c.messages == *s.tokens, "token queue %s of %llu tokens holds %llu", name.c_str(), ull(*s.tokens),
                 ull(c.messages));
    }
  }
}

}  // namespace courier::fuzz
