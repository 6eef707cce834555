#include <courier/pipeline.hpp>

#include "zmq_util.hpp"

#include <cerrno>
#include <string>

namespace courier {
namespace detail {

namespace {

zmq::socket_t make_socket(const Context& context, int type) {
  try {
    return zmq::socket_t(context.zmq(), type);
  } catch (const zmq::error_t& e) {
    throw_zmq_error(e.num(), "creating a socket");
  }
}

}  // namespace

PipeSocket::PipeSocket(int type, const SocketOptions& options, Context context)
    : context_(std::move(context)), socket_(make_socket(context_, type)) {
  apply_options(socket_, options, context_);
}

void PipeSocket::bind(const std::string& endpoint) { bind_or_throw(socket_.handle(), endpoint); }

void PipeSocket::connect(const std::string& endpoint) {
  connect_or_throw(socket_.handle(), endpoint);
}

std::string PipeSocket::last_endpoint() const {
  // Reading an option does not change the socket; the C API is just not const.
  return last_endpoint_of(const_cast<void*>(socket_.handle()));
}

// The blocking form (timeout_ms < 0) is the hot path of a sending loop: one
// zmq_msg_send, no timed-wait machinery (measured in bench/: ~35 instructions
// a message). Timed and non-blocking forms go through send_frame.
bool PipeSocket::send(zmq::message_t& msg, int timeout_ms) {
  if (timeout_ms >= 0) return send_frame(socket_.handle(), msg.handle(), 0, timeout_ms);
  for (;;) {
    if (zmq_msg_send(msg.handle(), socket_.handle(), 0) >= 0) return true;
    const int err = zmq_errno();
    if (err == EINTR) continue;
    if (err == EAGAIN) return false;  // the socket's own ZMQ_SNDTIMEO expired
    throw_zmq_error(err, "sending");
  }
}

// §1: one message is one frame. A multipart message is consumed whole and
// reported, so the messages behind it are not blocked.
// The blocking form is the hot path of a receiving loop, so it calls
// zmq_msg_recv directly (same EINTR/ETERM/ZMQ_RCVTIMEO rules as recv_frame).
bool PipeSocket::receive(zmq::message_t& msg, int timeout_ms) {
  void* s = socket_.handle();
  if (timeout_ms >= 0) {
    if (!recv_frame(s, msg.handle(), timeout_ms)) return false;
  } else {
    while (zmq_msg_recv(msg.handle(), s, 0) < 0) {
      const int err = zmq_errno();
      if (err == EINTR) continue;
      if (err == EAGAIN) return false;  // the socket's own ZMQ_RCVTIMEO expired
      throw_zmq_error(err, "receiving");
    }
  }
  if (zmq_msg_more(msg.handle()) != 0) {
    const std::size_t rest = discard_rest(s);
    throw ProtocolError("received a multipart message of " + std::to_string(rest + 1) +
                        " frames on a pipeline; PROTOCOL.md §1 allows exactly one frame "
                        "(one msgpack object) per message; it was discarded");
  }
  return true;
}

}  // namespace detail

// --- RawPush ----------------------------------------------------------------

RawPush::RawPush(PushOptions options)
    : socket_(ZMQ_PUSH, options.socket, std::move(options.context)) {}

RawPush& RawPush::bind(const std::string& endpoint) {
  socket_.bind(endpoint);
  return *this;
}

RawPush& RawPush::connect(const std::string& endpoint) {
  socket_.connect(endpoint);
  return *this;
}

std::string RawPush::last_endpoint() const { return socket_.last_endpoint(); }

void RawPush::send(zmq::message_t&& msg) {
  if (!socket_.send(msg, -1)) throw TimeoutError("send timed out (ZMQ_SNDTIMEO set on the socket)");
}

// zmq_send copies `bytes` into a message and queues it, as the message_t
// path would, minus a wrapper message's construction and close.
void RawPush::send(std::string_view bytes) {
  void* s = socket_.socket().handle();
  while (zmq_send(s, bytes.data(), bytes.size(), 0) < 0) {
    const int err = zmq_errno();
    if (err == EINTR) continue;
    if (err == EAGAIN) throw TimeoutError("send timed out (ZMQ_SNDTIMEO set on the socket)");
    detail::throw_zmq_error(err, "sending");
  }
}

bool RawPush::send(zmq::message_t& msg, std::chrono::milliseconds timeout) {
  return socket_.send(msg, detail::to_ms(timeout));
}

bool RawPush::send(std::string_view bytes, std::chrono::milliseconds timeout) {
  zmq::message_t msg(bytes.data(), bytes.size());
  return socket_.send(msg, detail::to_ms(timeout));
}

bool RawPush::try_send(zmq::message_t& msg) { return socket_.send(msg, 0); }

bool RawPush::try_send(std::string_view bytes) {
  zmq::message_t msg(bytes.data(), bytes.size());
  return socket_.send(msg, 0);
}

// --- RawPull ----------------------------------------------------------------

RawPull::RawPull(PullOptions options)
    : socket_(ZMQ_PULL, options.socket, std::move(options.context)) {}

RawPull& RawPull::bind(const std::string& endpoint) {
  socket_.bind(endpoint);
  return *this;
}

RawPull& RawPull::connect(const std::string& endpoint) {
  socket_.connect(endpoint);
  return *this;
}

std::string RawPull::last_endpoint() const { return socket_.last_endpoint(); }

bool RawPull::receive_into(zmq::message_t& msg, int timeout_ms) {
  if (socket_.receive(msg, timeout_ms)) return true;
  if (timeout_ms < 0) throw TimeoutError("receive timed out (ZMQ_RCVTIMEO set on the socket)");
  return false;
}

zmq::message_t RawPull::receive() {
  zmq::message_t msg;
  receive_into(msg, -1);
  return msg;
}

std::optional<zmq::message_t> RawPull::receive(std::chrono::milliseconds timeout) {
  zmq::message_t msg;
  if (!receive_into(msg, detail::to_ms(timeout))) return std::nullopt;
  return msg;
}

std::optional<zmq::message_t> RawPull::try_receive() {
  zmq::message_t msg;
  if (!receive_into(msg, 0)) return std::nullopt;
  return msg;
}

}  // namespace courier
