// courier — the command-line tool: send, receive, inspect and benchmark
// courier pipelines, request/reply servers and courier-proxy from a shell.
//
// PROTOCOL.md §4.2 is the contract. Exit status: 0 ok, 1 usage error,
// 2 timeout / no peer, 3 protocol, decode or remote error. Data goes to
// stdout (one JSON value per line), diagnostics to stderr.
#include "cli_common.hpp"

#include <courier/errors.hpp>

#include <CLI/CLI.hpp>
#include <zmq.hpp>

#include <iostream>

namespace {

using courier::cli::Exit;

// "courier pull" for messages about the selected subcommand(s).
std::string command_path(const CLI::App* app) {
  std::string path = "courier";
  for (const CLI::App* a = app; a != nullptr;) {
    auto subs = a->get_subcommands();
    if (subs.empty()) break;
    a = subs.front();
    path += " " + a->get_name();
  }
  return path;
}

int fail(const std::string& who, Exit code, const std::string& what) {
  std::cerr << who << ": " << what << "\n";
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "courier: send, receive, inspect and benchmark courier messaging from a shell.\n"
      "Values are JSON on the command line and JSON lines on stdout (msgpack on the wire).\n"
      "Exit status: 0 ok, 1 usage error, 2 timeout or no peer, 3 protocol/decode/remote error.\n"
      "See docs/CLI.md."};
  app.name("courier");
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(COURIER_VERSION));
  // Usage errors exit 1 and say what to type instead.
  app.failure_message([](const CLI::App* a, const CLI::Error& e) {
    const std::string path = command_path(a);
    return path + ": " + e.what() + "\nRun '" + path + " --help' for the accepted forms.\n";
  });

  courier::cli::Action action;
  courier::cli::add_pipeline_commands(app, action);
  courier::cli::add_request_commands(app, action);
  courier::cli::add_proxy_commands(app, action);
  courier::cli::add_stats_command(app, action);
  courier::cli::add_bench_command(app, action);
  courier::cli::add_lock_command(app, action);
  courier::cli::add_keygen_command(app, action);
  courier::cli::add_move_command(app, action);

  // "courier bogus": CLI11 would only say a subcommand is required.
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    std::string names;
    for (const CLI::App* sub : app.get_subcommands({})) {
      known = known || sub->get_name() == argv[1];
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known) {
      std::cerr << "courier: unknown command '" << argv[1] << "'; the commands are " << names
                << ".\nRun 'courier --help' for what each does.\n";
      return Exit::kUsage;
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every other parse error is a usage error.
    return app.exit(e) == 0 ? Exit::kOk : Exit::kUsage;
  }

  const std::string who = command_path(&app);
  if (!action) return fail(who, Exit::kUsage, "nothing to do; run 'courier --help'");
  try {
    return action();
  } catch (const courier::cli::CliFailure& e) {
    return fail(who, e.code(), e.what());
  } catch (const courier::TimeoutError& e) {
    return fail(who, Exit::kTimeout, e.what());
  } catch (const courier::ConfigError& e) {
    return fail(who, Exit::kUsage, e.what());
  } catch (const courier::Error& e) {
    return fail(who, Exit::kRemote, e.what());
  } catch (const zmq::error_t& e) {
    return fail(who, Exit::kRemote, std::string("ZeroMQ: ") + e.what());
  } catch (const std::exception& e) {
    return fail(who, Exit::kRemote, e.what());
  }
}
