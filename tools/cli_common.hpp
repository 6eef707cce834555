// tools/cli_common.hpp — what every `courier` subcommand shares: the exit
// codes of PROTOCOL.md §4.2, the one exception type that carries them, and
// small helpers for reading values and writing JSON lines.
//
// Subcommands throw CliFailure (or let a courier::Error escape); main()
// prints the message on stderr and exits with its code. Data goes to stdout,
// one line per value, flushed at once so `courier ... | next-tool` streams.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace courier::cli {

// PROTOCOL.md §4.2 exit status.
enum Exit : int {
  kOk = 0,
  kUsage = 1,     // bad arguments: the message says what to type instead
  kTimeout = 2,   // a deadline passed, or there is no peer
  kRemote = 3,    // protocol, decode or remote error
};

// A failure with its exit status; what() is printed on stderr as
// "courier <command>: <what>".
class CliFailure : public std::runtime_error {
 public:
  CliFailure(Exit code, const std::string& what) : std::runtime_error(what), code_(code) {}
  Exit code() const noexcept { return code_; }

 private:
  Exit code_;
};

// A subcommand's body, run after parsing; returns the exit status.
using Action = std::function<int()>;

// Each subcommand family registers its commands on `app`; the selected one
// stores its body in `action` from a CLI11 callback.
void add_pipeline_commands(CLI::App& app, Action& action);
void add_request_commands(CLI::App& app, Action& action);
void add_proxy_commands(CLI::App& app, Action& action);
void add_stats_command(CLI::App& app, Action& action);
void add_bench_command(CLI::App& app, Action& action);
void add_lock_command(CLI::App& app, Action& action);
void add_keygen_command(CLI::App& app, Action& action);
void add_move_command(CLI::App& app, Action& action);

// ---------------------------------------------------------------------------
// Values in

// Calls `each(text, where)` for every value: the arguments when there are
// any, otherwise each non-empty stdin line (without its newline). `where`
// names the value in messages: "argument 2" / "stdin line 7".
// Returns: how many values were handed over.
std::size_t for_each_value(const std::vector<std::string>& args,
                           const std::function<void(const std::string& text,
                                                    const std::string& where)>& each);

// Declares the trailing JSON... values of `sub`. CLI11 would split a vector
// positional like "[1,2]" into "1" and "2", so the values are taken as the
// subcommand's extras instead: call values_of() from the callback.
void accept_values(CLI::App* sub);
// The extras of `sub`, in order. Throws CliFailure(1) for one that looks
// like an option (--name, -x; negative numbers are values).
std::vector<std::string> values_of(CLI::App* sub);

// ---------------------------------------------------------------------------
// Values out

// Writes `line` and a newline to stdout and flushes. Throws CliFailure(3)
// when stdout is gone (closed pipe with SIGPIPE ignored).
void print_line(const std::string& line);

// ---------------------------------------------------------------------------
// Time

using Clock = std::chrono::steady_clock;

// A deadline `seconds` from now; nullopt for "no deadline" (seconds <= 0 and
// not set). Fractional seconds are fine ("--timeout 0.5").
std::optional<Clock::time_point> deadline_in(std::optional<double> seconds);

// Milliseconds left until `deadline` (>= 0), or `cap` when there is none;
// never more than `cap`.
int ms_left(const std::optional<Clock::time_point>& deadline, int cap);

// Whole milliseconds in `seconds`, rounded up (a --timeout of 0.0001 s still
// waits 1 ms).
int seconds_to_ms(double seconds);

// "0.5", "10": seconds for messages.
std::string seconds_text(double seconds);

// The longest wait an option may ask for: the commands poll with int
// milliseconds, which end at 24.8 days.
inline constexpr double kMaxSeconds = 1e6;

// A CLI11 check for "--timeout S": seconds, above 0 and at most kMaxSeconds.
CLI::Validator positive_seconds();

// A CLI11 transform for an unsigned option ("--count N", "--delay MS"): plain
// decimal digits within [min, max]. CLI11 alone would take "-5" as 2^64-5 and
// "010" as octal 8; this refuses the first and passes the second on as 10.
// `unit` names what is counted in the message ("milliseconds", "messages").
CLI::Validator whole_number(const std::string& unit, uint64_t min = 0, uint64_t max = UINT64_MAX);

}  // namespace courier::cli
