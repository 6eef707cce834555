// tools/proxy_options.hpp — what every `courier` command that talks to
// courier-proxy shares: the --proxy option and its default, queue-name
// checks, and the words that explain a proxy's ERROR code to an operator.
// The conversation itself is the library's (Producer, Consumer, Admin, Lock).
#pragma once

#include "cli_common.hpp"

#include <string>

namespace courier::cli {

// The --proxy default: $COURIER_PROXY_ENDPOINT when set and not empty (as
// the library's default_proxy_endpoint()), else the proxy's default --listen.
std::string default_proxy();
// Adds --proxy EP, defaulting to default_proxy(), to a subcommand.
void add_proxy_option(CLI::App* cmd, std::string& proxy);

// Exits 1 unless `queue` is a valid CQP1 queue name.
void check_queue_name(const std::string& queue);

// What an ERROR code (PROTOCOL.md §3.2) means and what to do about it.
std::string error_meaning(int code);

// "courier-cli <command> pid N": the HELLO name the proxy logs.
std::string client_name(const char* command);

}  // namespace courier::cli
