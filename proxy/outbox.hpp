// proxy/outbox.hpp — replies gathered during a loop turn, sent after commit.
//
// Everything the proxy says in a turn is queued here and leaves only after
// the turn's journal commit (see Loop::turn), so no CONFIRM or DELIVER can
// overtake the fsync that makes it true.
#pragma once

#include <msgpack.hpp>
#include <zmq.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace courier::proxy {

class Outbox {
 public:
  // Starts a message to `peer`: [peer]["CQP1"][command][header].
  void begin(const std::string& peer, std::string_view command, const msgpack::sbuffer& header);
  // Adds one body frame (copied: the source is usually a journal page that is
  // gone once the turn commits).
  void body(std::string_view bytes);
  void body(zmq::message_t&& frame);
  bool empty() const noexcept { return counts_.empty(); }

  // Sends every queued message without blocking. Peers that are gone
  // (EHOSTUNREACH under ROUTER_MANDATORY) are appended to `unreachable`.
  // Returns the number of messages that could not be sent.
  std::size_t flush(zmq::socket_t& socket, std::vector<std::string>& unreachable);

 private:
  std::vector<zmq::message_t> frames_;
  std::vector<uint32_t> counts_;  // frames per message
};

}  // namespace courier::proxy
