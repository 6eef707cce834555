#include <courier/context.hpp>
#include <courier/errors.hpp>

#include "context_access.hpp"
#include "zap_handler.hpp"

#include <zmq.hpp>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <string>

namespace courier {

struct Context::State {
  std::unique_ptr<zmq::context_t> owned;  // null when borrowed
  zmq::context_t* ctx = nullptr;
  std::atomic<bool> shut_down{false};
  // Declared after `owned`, so destroyed before it: the handler's socket
  // must be closed before the context can terminate.
  std::mutex zap_mu;
  std::unique_ptr<detail::ZapHandler> zap;  // guarded by zap_mu
};

void detail::ContextAccess::start_zap_handler(const Context& context) {
  Context::State& s = *context.state_;
  std::lock_guard<std::mutex> lock(s.zap_mu);
  if (!s.zap) s.zap = std::make_unique<detail::ZapHandler>(*s.ctx);
}

Context::Context(std::shared_ptr<State> state) noexcept : state_(std::move(state)) {}

Context::Context(int io_threads) : state_(std::make_shared<State>()) {
  if (io_threads < 0) {
    throw ConfigError("cannot create a ZeroMQ context with " + std::to_string(io_threads) +
                      " I/O threads: the count must be >= 0");
  }
  try {
    state_->owned = std::make_unique<zmq::context_t>(io_threads);
  } catch (const zmq::error_t& e) {
    throw ConfigError(std::string("cannot create a ZeroMQ context: ") + e.what());
  }
  state_->ctx = state_->owned.get();
}

Context Context::borrow(zmq::context_t& ctx) {
  auto state = std::make_shared<State>();
  state->ctx = &ctx;
  return Context(std::move(state));
}

// A function-local static: created on first use, thread-safely (C++11 magic
// statics), and released at static destruction. Sockets still open then keep
// the shared state alive, so exit never blocks on them.
Context Context::global() {
  static Context instance(1);
  return instance;
}

void Context::shutdown() noexcept {
  state_->shut_down.store(true);
  // zmq_ctx_shutdown only fails for an invalid context; nothing to report.
  (void)zmq_ctx_shutdown(state_->ctx->handle());
}

bool Context::is_shut_down() const noexcept { return state_->shut_down.load(); }

zmq::context_t& Context::zmq() const noexcept { return *state_->ctx; }

void* Context::handle() const noexcept { return state_->ctx->handle(); }

}  // namespace courier
