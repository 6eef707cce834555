// tools/request_commands.cpp — `courier request` and `courier serve`: direct
// request/reply (PROTOCOL.md §2) on libcourier's Client (a DEALER with the
// empty delimiter) and Server (a ROUTER, so REQ and DEALER clients both work).
#include "cli_common.hpp"
#include "curve_options.hpp"
#include "json_msgpack.hpp"

#include <courier/context.hpp>
#include <courier/errors.hpp>
#include <courier/request.hpp>

#include <cmath>
#include <iostream>
#include <memory>

namespace courier::cli {

namespace {

struct RequestArgs {
  std::string endpoint;
  std::string value;
  double timeout = 10;
  CurveArgs curve;
};

struct ServeArgs {
  std::string endpoint;
  bool echo = false;
  bool quiet = false;
  std::optional<uint64_t> count;
  std::optional<double> timeout;
  CurveArgs curve;
};

// Sends one request and prints the reply body. ok:false -> exit 3 with the
// server's text; no reply in time -> exit 2.
int run_request(const RequestArgs& a) {
  std::string body;
  try {
    body = to_msgpack(parse_json(a.value));
  } catch (const ConversionError& e) {
    throw CliFailure(kUsage, std::string("the request is ") + e.what() +
                                 "; quote JSON for the shell, e.g. courier request " + a.endpoint +
                                 " '{\"op\": \"ping\"}'");
  }
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(std::ceil(a.timeout * 1000)));
  ClientOptions options{{}, Context()};
  options.socket.linger = std::chrono::milliseconds(0);  // nothing worth flushing once we have the answer
  options.socket.curve = curve_options(a.curve, false);
  Client client(options);
  client.connect(a.endpoint);
  std::string reply;
  try {
    reply = client.request_raw(std::move(body), timeout).get();
  } catch (const RemoteError& e) {
    throw CliFailure(kRemote, "the server answered ok:false: " + e.reason());
  } catch (const TimeoutError&) {
    throw CliFailure(kTimeout, "no reply from " + a.endpoint + " within " + seconds_text(a.timeout) +
                                   " s; is a server running there (e.g. `courier serve " + a.endpoint +
                                   " --echo`)? --timeout S waits longer" + curve_hint(a.curve));
  }
  try {
    print_line(to_line(decode_frame(reply.data(), reply.size())));
  } catch (const ConversionError& e) {
    throw CliFailure(kRemote, std::string("the reply body is not one msgpack object: ") + e.what());
  }
  return kOk;
}

// Binds a ROUTER and answers each request with its own body; prints each
// request as a JSON line (unless --quiet). Exits 0 after --count requests.
int run_serve(const ServeArgs& a) {
  ServerOptions options{{}, Context()};
  options.socket.curve = curve_options(a.curve, true);
  Server server(options);
  server.bind(a.endpoint);
  server.handle_raw([&a](std::string_view body) {
    if (!a.quiet) {
      try {
        print_line(to_line(decode_frame(body.data(), body.size())));
      } catch (const ConversionError& e) {
        std::cerr << "courier serve: a request body is not one msgpack object (" << e.what()
                  << "); echoed as is\n";
      }
    }
    return std::string(body);
  });
  const auto deadline = deadline_in(a.timeout);
  while (!a.count || server.handled_requests() < *a.count) {
    if (deadline && Clock::now() >= *deadline) {
      throw CliFailure(kTimeout, "timed out after " + seconds_text(*a.timeout) + " s with " +
                                     std::to_string(server.handled_requests()) + " request(s) answered");
    }
    server.poll(std::chrono::milliseconds(ms_left(deadline, 200)));
  }
  return kOk;  // the Server closes with its bounded linger: the last reply is flushed
}

}  // namespace

void add_request_commands(CLI::App& app, Action& action) {
  auto req = std::make_shared<RequestArgs>();
  CLI::App* request = app.add_subcommand(
      "request", "Send one request (PROTOCOL.md §2) and print the reply body as JSON. "
                 "ok:false exits 3 with the server's error on stderr; no reply exits 2.");
  request->add_option("endpoint", req->endpoint, "the server's endpoint, e.g. tcp://127.0.0.1:6000")
      ->required();
  request->add_option("json", req->value, "the request body as JSON, e.g. '{\"op\": \"ping\"}'")->required();
  add_curve_client_options(request, req->curve);
  request->add_option("--timeout", req->timeout, "seconds to wait for the reply (exit 2 after that)")
      ->check(positive_seconds())
      ->capture_default_str();
  request->callback([&action, req] { action = [req] { return run_request(*req); }; });

  auto srv = std::make_shared<ServeArgs>();
  CLI::App* serve = app.add_subcommand(
      "serve", "Bind a request/reply server (PROTOCOL.md §2; REQ and DEALER clients). --echo answers "
               "each request with its own body; each request is printed as a JSON line.");
  serve->add_option("endpoint", srv->endpoint, "endpoint to bind, e.g. tcp://127.0.0.1:6000")->required();
  serve->add_flag("--echo", srv->echo, "answer each request with its body (the only mode so far)")
      ->required();
  serve->add_option("--count,-n", srv->count, "exit 0 after answering N requests")
      ->transform(whole_number("requests", 1));
  add_curve_server_options(serve, srv->curve);
  serve->add_option("--timeout", srv->timeout, "exit 2 when S seconds pass before --count is reached")
      ->check(positive_seconds());
  serve->add_flag("--quiet,-q", srv->quiet, "do not print the requests");
  serve->callback([&action, srv] { action = [srv] { return run_serve(*srv); }; });
}

}  // namespace courier::cli
