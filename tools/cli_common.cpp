// tools/cli_common.cpp — shared helpers of the `courier` subcommands.
#include "cli_common.hpp"

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>

namespace courier::cli {

std::size_t for_each_value(const std::vector<std::string>& args,
                           const std::function<void(const std::string&, const std::string&)>& each) {
  std::size_t n = 0;
  if (!args.empty()) {
    for (const auto& a : args) {
      ++n;
      each(a, "argument " + std::to_string(n));
    }
    return n;
  }
  // No argument: one value per stdin line, streamed (a producer upstream in a
  // pipe may be slow or endless). Blank lines are skipped.
  std::string line;
  std::size_t lineno = 0;
  while (std::getline(std::cin, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    ++n;
    each(line, "stdin line " + std::to_string(lineno));
  }
  return n;
}

void accept_values(CLI::App* sub) { sub->allow_extras(); }

std::vector<std::string> values_of(CLI::App* sub) {
  std::vector<std::string> values = sub->remaining();
  for (const auto& v : values) {
    const bool option_like = v.size() > 1 && v[0] == '-' && !(std::isdigit(static_cast<unsigned char>(v[1])) || v[1] == '.');
    if (option_like)
      throw CliFailure(kUsage, "unknown option " + v + "; run 'courier " + sub->get_name() +
                                   " --help' for the options");
  }
  return values;
}

void print_line(const std::string& line) {
  if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() || std::fputc('\n', stdout) == EOF ||
      std::fflush(stdout) != 0) {
    throw CliFailure(kRemote, std::string("cannot write to stdout: ") + std::strerror(errno));
  }
}

std::optional<Clock::time_point> deadline_in(std::optional<double> seconds) {
  if (!seconds) return std::nullopt;
  return Clock::now() + std::chrono::microseconds(static_cast<int64_t>(std::llround(*seconds * 1e6)));
}

int seconds_to_ms(double seconds) { return static_cast<int>(seconds * 1000 + 0.999); }

int ms_left(const std::optional<Clock::time_point>& deadline, int cap) {
  if (!deadline) return cap;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return left < cap ? static_cast<int>(left) + 1 : cap;
}

std::string seconds_text(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", seconds);
  return buf;
}

CLI::Validator positive_seconds() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        try {
          std::size_t used = 0;
          const double v = std::stod(text, &used);
          if (used == text.size() && v > 0 && v <= kMaxSeconds) return {};
        } catch (const std::exception&) {
        }
        return "expected a number of seconds above 0 and at most " +
               std::to_string(static_cast<uint64_t>(kMaxSeconds)) + ", e.g. 5 or 0.5; got '" + text + "'";
      },
      "SECONDS");
}

CLI::Validator whole_number(const std::string& unit, uint64_t min, uint64_t max) {
  const std::string range = max == UINT64_MAX ? std::to_string(min) + " or more"
                                              : "from " + std::to_string(min) + " to " + std::to_string(max);
  return CLI::Validator(
      [unit, min, max, range](std::string& text) -> std::string {
        uint64_t v = 0;
        const char* end = text.data() + text.size();
        const auto [stop, error] = std::from_chars(text.data(), end, v);  // digits only: no sign
        if (stop != end || error != std::errc() || v < min || v > max)
          return "expected a whole number of " + unit + ", " + range + "; got '" + text + "'";
        text = std::to_string(v);
        return {};
      },
      // Shown in --help after the type: "UINT:>= 1", "UINT:in [1 - 100000]".
      max != UINT64_MAX ? "in [" + std::to_string(min) + " - " + std::to_string(max) + "]"
      : min > 0         ? ">= " + std::to_string(min)
                        : "");
}

}  // namespace courier::cli
