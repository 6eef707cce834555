// tools/pipeline_commands.cpp — `courier push` and `courier pull`: the direct
// pipeline of PROTOCOL.md §1 (one message = one frame = one msgpack object),
// on libcourier's RawPush / RawPull.
#include "cli_common.hpp"
#include "curve_options.hpp"
#include "json_msgpack.hpp"

#include <courier/context.hpp>
#include <courier/errors.hpp>
#include <courier/pipeline.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>

namespace courier::cli {

namespace {

struct PushArgs {
  std::string endpoint;
  std::vector<std::string> values;
  bool bind = false;
  bool raw = false;
  double timeout = 10;
  CurveArgs curve;
};

struct PullArgs {
  std::string endpoint;
  bool bind = false;
  bool raw = false;
  CurveArgs curve;
  std::optional<uint64_t> count;
  std::optional<double> timeout;
};

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(std::ceil(seconds * 1000)));
}

// One value as the frame to send: its msgpack, or its bytes with --raw.
// Throws: CliFailure — usage (1) for a bad argument, decode (3) for a bad
// stdin line, which is data rather than a mistake in the command.
std::string frame_for(const std::string& text, const std::string& where, bool raw) {
  if (raw) return text;
  try {
    return to_msgpack(parse_json(text));
  } catch (const ConversionError& e) {
    const bool is_arg = where.rfind("argument", 0) == 0;
    throw CliFailure(is_arg ? kUsage : kRemote,
                     where + " is " + e.what() +
                         (is_arg ? "; quote JSON strings for the shell, e.g. '\"hello\"', or add --raw to "
                                   "send the text as bytes"
                                 : "; each stdin line must be one JSON value (or use --raw)"));
  }
}

// Sends every value, each waiting at most --timeout for a peer to take it.
// ZMQ_IMMEDIATE keeps messages off connections that are not up yet, so a
// send that returns went to a live peer; the bounded linger then flushes the
// last ones before exit instead of dropping them.
int run_push(const PushArgs& a) {
  // Arguments are checked before anything is sent: a usage error sends nothing.
  std::vector<std::string> frames;
  for (std::size_t i = 0; i < a.values.size(); ++i)
    frames.push_back(frame_for(a.values[i], "argument " + std::to_string(i + 1), a.raw));

  PushOptions options{{}, Context()};
  options.socket.immediate = true;
  options.socket.linger = to_ms(a.timeout);
  options.socket.curve = curve_options(a.curve, a.bind);
  RawPush push(options);
  if (a.bind) push.bind(a.endpoint); else push.connect(a.endpoint);

  std::size_t sent = 0;
  int status = kOk;
  auto send = [&](const std::string& frame, const std::string& where) {
    if (!push.send(frame, to_ms(a.timeout))) {
      push.socket().set(zmq::sockopt::linger, 0);
      throw CliFailure(kTimeout, "no peer took " + where + " within " + seconds_text(a.timeout) +
                                     " s on " + a.endpoint + " (" + std::to_string(sent) +
                                     " sent); is a receiver running, e.g. `courier pull " + a.endpoint +
                                     (a.bind ? "`" : " --bind`") + "? (--timeout S to wait longer)" +
                                     (a.bind ? std::string() : curve_hint(a.curve)));
    }
    ++sent;
  };
  if (!frames.empty()) {
    for (std::size_t i = 0; i < frames.size(); ++i) send(frames[i], "argument " + std::to_string(i + 1));
  } else {
    // A stdin line that is not JSON is reported and skipped; the rest still go.
    for_each_value({}, [&](const std::string& text, const std::string& where) {
      std::string frame;
      try {
        frame = frame_for(text, where, a.raw);
      } catch (const CliFailure& e) {
        std::cerr << "courier push: " << e.what() << "; not sent\n";
        status = kRemote;
        return;
      }
      send(frame, where);
    });
  }
  return status;  // the socket and context close here, flushing within the linger
}

// Prints each message as it arrives. A frame that is not one msgpack object
// (or a multipart message) is reported on stderr and counted, and the
// command then exits 3; the messages behind it are still printed.
int run_pull(const PullArgs& a) {
  PullOptions options{{}, Context()};
  options.socket.linger = std::chrono::milliseconds(0);
  options.socket.curve = curve_options(a.curve, a.bind);
  RawPull pull(options);
  if (a.bind) pull.bind(a.endpoint); else pull.connect(a.endpoint);

  const auto deadline = deadline_in(a.timeout);
  uint64_t received = 0;
  int status = kOk;
  zmq::message_t frame;
  while (!a.count || received < *a.count) {
    bool got = false;
    try {
      got = pull.receive_into(frame, deadline ? ms_left(deadline, 1000) : -1);
    } catch (const ProtocolError& e) {
      ++received;
      status = kRemote;
      std::cerr << "courier pull: message " << received << ": " << e.what() << "\n";
      continue;
    }
    if (!got) {
      if (deadline && Clock::now() >= *deadline) {
        if (status != kOk) return status;
        throw CliFailure(kTimeout, "timed out after " + seconds_text(*a.timeout) + " s with " +
                                       std::to_string(received) +
                                       (a.count ? " of " + std::to_string(*a.count) : std::string()) +
                                       " message(s) from " + a.endpoint);
      }
      continue;
    }
    ++received;
    if (a.raw) {
      std::string line(static_cast<const char*>(frame.data()), frame.size());
      print_line(line);
      continue;
    }
    try {
      print_line(to_line(decode_frame(frame.data(), frame.size())));
    } catch (const ConversionError& e) {
      status = kRemote;
      std::cerr << "courier pull: message " << received << " (" << frame.size()
                << " bytes) is not one msgpack object: " << e.what()
                << " (use --raw to print the bytes)\n";
    }
  }
  return status;
}

}  // namespace

void add_pipeline_commands(CLI::App& app, Action& action) {
  auto push_args = std::make_shared<PushArgs>();
  CLI::App* push = app.add_subcommand(
      "push", "Send JSON values to a PULL peer (PROTOCOL.md §1): each argument after ENDPOINT "
              "(e.g. '{\"n\": 1}' '\"text\"' 42), or each stdin line when there is none, is one msgpack "
              "message. Exits once all are handed to a peer.");
  push->add_option("endpoint", push_args->endpoint, "tcp://HOST:PORT, ipc://PATH (connect; --bind to bind)")
      ->required();
  accept_values(push);  // [JSON...]: '{"n": 1}' '"text"' 42
  push->footer("Usage: courier push ENDPOINT [JSON...] [OPTIONS]\nExamples:\n"
               "  courier push tcp://127.0.0.1:6000 '{\"n\": 1}' '\"text\"' 42\n"
               "  courier pull tcp://127.0.0.1:7000 --bind | courier push tcp://127.0.0.1:6000");
  push->add_flag("--bind", push_args->bind, "bind ENDPOINT instead of connecting to it");
  add_curve_client_options(push, push_args->curve);
  add_curve_server_options(push, push_args->curve);
  push->add_flag("--raw", push_args->raw, "send each value's text as bytes, not as JSON -> msgpack");
  push->add_option("--timeout", push_args->timeout,
                   "seconds to wait for a peer to take each message (exit 2 after that)")
      ->check(positive_seconds())
      ->capture_default_str();
  push->callback([&action, push_args, push] {
    action = [push_args, push] {
      push_args->values = values_of(push);
      return run_push(*push_args);
    };
  });

  auto pull_args = std::make_shared<PullArgs>();
  CLI::App* pull = app.add_subcommand(
      "pull", "Receive messages from PUSH peers (PROTOCOL.md §1) and print each as one JSON line.");
  pull->add_option("endpoint", pull_args->endpoint, "tcp://HOST:PORT, ipc://PATH (connect; --bind to bind)")
      ->required();
  pull->footer("Examples:\n  courier pull tcp://127.0.0.1:6000 --bind --count 3 --timeout 10");
  pull->add_flag("--bind", pull_args->bind, "bind ENDPOINT instead of connecting to it");
  add_curve_client_options(pull, pull_args->curve);
  add_curve_server_options(pull, pull_args->curve);
  pull->add_option("--count,-n", pull_args->count, "exit 0 after N messages")
      ->transform(whole_number("messages", 1));
  pull->add_option("--timeout", pull_args->timeout, "exit 2 when S seconds pass before --count is reached")
      ->check(positive_seconds());
  pull->add_flag("--raw", pull_args->raw, "print each message's bytes followed by a newline, undecoded");
  pull->callback([&action, pull_args] { action = [pull_args] { return run_pull(*pull_args); }; });
}

}  // namespace courier::cli
