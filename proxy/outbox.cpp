#include "outbox.hpp"

#include "protocol/cqp1.hpp"

#include <optional>

namespace courier::proxy {

void Outbox::begin(const std::string& peer, std::string_view command, const msgpack::sbuffer& header) {
  frames_.emplace_back(peer.data(), peer.size());
  frames_.emplace_back(cqp1::kMagic.data(), cqp1::kMagic.size());
  frames_.emplace_back(command.data(), command.size());
  frames_.emplace_back(header.data(), header.size());
  counts_.push_back(4);
}

void Outbox::body(std::string_view bytes) {
  frames_.emplace_back(bytes.data(), bytes.size());
  ++counts_.back();
}

void Outbox::body(zmq::message_t&& frame) {
  frames_.push_back(std::move(frame));
  ++counts_.back();
}

std::size_t Outbox::flush(zmq::socket_t& socket, std::vector<std::string>& unreachable) {
  std::size_t failed = 0;
  std::size_t at = 0;
  for (uint32_t count : counts_) {
    bool sent = true;
    for (uint32_t i = 0; i < count; ++i) {
      zmq::message_t& frame = frames_[at + i];
      const auto flags = (i + 1 < count ? zmq::send_flags::sndmore : zmq::send_flags::none) |
                         zmq::send_flags::dontwait;
      try {
        std::optional<std::size_t> ok;
        for (;;) {
          try {
            ok = socket.send(frame, flags);
            break;
          } catch (const zmq::error_t& e) {
            if (e.num() != EINTR) throw;  // a signal (SIGTERM): send it again, do not drop it
          }
        }
        if (!ok) {  // EAGAIN: cannot happen with SNDHWM 0
          sent = false;
          break;
        }
      } catch (const zmq::error_t& e) {
        // Under ROUTER_MANDATORY an unknown peer fails on the routing frame
        // and nothing of the message is sent.
        if (e.num() == EHOSTUNREACH) {
          unreachable.emplace_back(static_cast<const char*>(frames_[at].data()), frames_[at].size());
        }
        sent = false;
        break;
      }
    }
    if (!sent) ++failed;
    at += count;
  }
  frames_.clear();
  counts_.clear();
  return failed;
}

}  // namespace courier::proxy
