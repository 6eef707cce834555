// Private: the connection to courier-proxy that Producer and Consumer share
// (PROTOCOL.md §3). Never installed.
//
// A ProxyLink is one DEALER socket plus the CQP1 session rules around it:
// HELLO on every (re)open, PING when idle, "the proxy is gone" after 3 x hb
// of silence, and a fresh socket (new routing id, so a new proxy session) on
// reconnect. It knows nothing of PUTs or deliveries: the owner (the I/O
// thread of a Producer or Consumer) sends and handles those.
//
// Thread-safety: none. A ProxyLink is created and open()ed in the user's
// thread (so that a bad endpoint throws in the constructor) and then used
// only by the I/O thread it is handed to (thread start is the memory barrier
// ZeroMQ requires when a socket changes threads).
#pragma once

#include "eventfd_wakeup.hpp"
#include "protocol/cqp1.hpp"
#include "protocol/replies.hpp"
#include "protocol/requests.hpp"
#include "zmq_util.hpp"

#include <courier/context.hpp>
#include <courier/options.hpp>

#include <msgpack.hpp>
#include <zmq.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace courier::detail {

struct LinkConfig {
  std::string endpoint;
  std::string name;                      // HELLO "name"
  std::chrono::milliseconds heartbeat;   // used until a WELCOME tells the proxy's hb
  SocketOptions socket;
  Context context;
};

// One CQP1 message from the proxy, parsed. `header` points into frames[2]
// and into `zone`: valid until the next receive().
struct Incoming {
  cqp1::Command command = cqp1::Command::UNKNOWN;
  std::vector<zmq::message_t> frames;  // frames[3..] are bodies
  std::size_t body_count() const { return frames.size() > 3 ? frames.size() - 3 : 0; }
  zmq::message_t& body(std::size_t i) { return frames[3 + i]; }
};

class ProxyLink {
 public:
  // Throws: ConfigError when the endpoint or an option is refused.
  explicit ProxyLink(LinkConfig config);
  ~ProxyLink();
  ProxyLink(const ProxyLink&) = delete;
  ProxyLink& operator=(const ProxyLink&) = delete;

  // Closes any previous socket (discarding what it still held), opens a new
  // DEALER, connects and sends HELLO. Increments epoch().
  // Throws: ConfigError (endpoint), ClosedError (context shut down).
  void open();
  // Sends BYE when `say_bye`, then closes the socket with at most `linger`.
  void close(bool say_bye, std::chrono::milliseconds linger) noexcept;

  // Sends ["CQP1"][command][header][bodies...]; the bodies are sent as
  // copies (zmq_msg_copy shares the buffer), so the caller keeps them.
  // The socket has no send high-water mark (owners bound what they queue),
  // so this never blocks; a socket ZeroMQ left without any connection (its
  // handshakes failed) drops the message (counted in unsendable()): the
  // owner reopens after 3 x hb of silence and resends. Throws: ClosedError.
  void send(std::string_view command, const msgpack::sbuffer& header,
            const zmq::message_t* const* bodies = nullptr, std::size_t body_count = 0);
  void send_empty(std::string_view command);

  // Receives one whole message if one is waiting (never blocks). Messages
  // that are not CQP1 are counted in malformed() and skipped; PONG and
  // WELCOME are handled here and also returned. Returns: false when none.
  bool receive(Incoming& in, msgpack::zone& zone, cqp1::HeaderView* header);

  // Heartbeat duty, called every loop turn. Sends PING when due.
  // Returns: false when the session is gone and the owner must reopen():
  // - the proxy has been silent for 3 x hb;
  // - its `boot` changed on this socket (docs/PROTOCOL.md §3.12): ZeroMQ
  //   reconnected the old socket by itself to a RESTARTED proxy, which
  //   answers PINGs but has no session for it (no HELLO, no CONSUME);
  // - the TCP connection dropped (socket monitor) although the proxy did
  //   not restart: `boot` is then unchanged, yet ZeroMQ's silent reconnect
  //   gives the proxy a new routing id, so a new session without HELLO or
  //   CONSUME. The proxy drops a peer that sends an oversized frame
  //   (docs/PROTOCOL.md §3.10), and a network path can reset: only the
  //   monitor sees those, so it stays.
  bool keep_alive(Clock::time_point now);
  // Returns: when keep_alive() next has something to do.
  Clock::time_point next_deadline() const;

  // Waits for the socket, its monitor, the wakeup fd or `until`, whichever comes first.
  // Returns: true when the wakeup fd fired (it is drained). Throws: ClosedError.
  bool wait(EventfdWakeup& wake, Clock::time_point until);

  // The closing handshake of an owner that consumes `queue`: CANCELs it and
  // waits (at most `patience`) for the answer. The proxy handles one session's
  // messages in order, so once it answers, every ACK/NACK sent before has
  // been applied; CANCEL itself requeues what is still unacked. Messages
  // received meanwhile are dropped (the owner is closing).
  // `earlier_cancels`: CANCELs the owner sent before and whose answers have
  // not come yet; they come first and are skipped.
  // Returns: true when the proxy answered in time (CANCELLED, or an ERROR
  // about the CANCEL). Throws: ClosedError.
  bool cancel_and_wait(std::string_view queue, EventfdWakeup& wake, std::chrono::milliseconds patience,
                       int earlier_cancels = 0);

  bool welcomed() const noexcept { return welcomed_; }
  std::uint64_t epoch() const noexcept { return epoch_; }
  std::chrono::milliseconds heartbeat() const noexcept { return hb_; }
  std::uint64_t malformed() const noexcept { return malformed_; }
  std::uint64_t unsendable() const noexcept { return unsendable_; }
  const std::string& endpoint() const noexcept { return config_.endpoint; }
  // Returns: the last WELCOME's "proxy" string.
  const std::string& proxy_version() const noexcept { return proxy_version_; }
  // Returns: the proxy's `boot` as first seen on this socket ("" until then).
  const std::string& boot() const noexcept { return boot_; }

 private:
  void stop_monitor() noexcept;
  bool disconnected();
  void note_boot(const cqp1::HeaderView& header);
  LinkConfig config_;
  zmq::socket_t socket_;
  zmq::socket_t monitor_;  // PAIR receiving socket_'s DISCONNECTED events
  msgpack::sbuffer empty_map_;
  std::chrono::milliseconds hb_;
  bool welcomed_ = false;
  std::uint64_t epoch_ = 0;
  std::uint64_t malformed_ = 0;
  std::uint64_t unsendable_ = 0;  // messages dropped: no connection to queue them on
  std::string proxy_version_;
  std::string boot_;        // of the proxy process this socket's session lives in
  bool restarted_ = false;  // boot changed on this socket: reopen
  Clock::time_point last_send_{}, last_recv_{}, last_ping_{};
};

}  // namespace courier::detail
