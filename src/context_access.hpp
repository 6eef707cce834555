// Private: what the library keeps per ZeroMQ context besides the context
// itself. Never installed.
#pragma once

#include <courier/context.hpp>

namespace courier::detail {

struct ContextAccess {
  // Starts the context's ZAP handler (zap_handler.hpp) unless it runs.
  // Throws: ConfigError when another ZAP handler is bound in the context.
  static void start_zap_handler(const Context& context);
};

}  // namespace courier::detail
