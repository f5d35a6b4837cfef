#pragma once

// Small command-line helpers shared by ipfix-loadgen and ipfix-collector: a long-option
// parser, value parsers (durations, sizes, HOST:PORT) and JSON string escaping.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fa::tools {

/// "10s", "500ms", "250us", "2m", "1h", "1.5s"; a plain number is seconds.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);

/// A decimal unsigned integer that fits 64 bits.
std::optional<std::uint64_t> parse_uint(std::string_view text);

/// A size: a number with an optional suffix K/M/G (x1000) or KiB/MiB/GiB (x1024).
std::optional<std::uint64_t> parse_size(std::string_view text);

/// A non-negative decimal number ("1e6" and "2.5" are accepted).
std::optional<double> parse_number(std::string_view text);

/// "127.0.0.1:4739", "[::1]:4739" or "localhost:4739" (which means 127.0.0.1).
struct host_port {
  std::string host; ///< an address literal, without brackets
  std::uint16_t port = 0;
};
std::optional<host_port> parse_host_port(std::string_view text);

/// Appends `s` as a JSON string literal (quotes included).
void append_json_string(std::string& out, std::string_view s);

/// Writes `content` to `path` atomically (a temporary file, then rename). Returns an
/// error text, or an empty string on success.
std::string write_file_atomically(const std::string& path, std::string_view content);

/// Long options only: `--name value`, `--name=value` and `--flag`.
class arg_parser {
 public:
  arg_parser(std::string program, std::string summary)
      : program_(std::move(program))
      , summary_(std::move(summary)) {}

  void flag(std::string name, std::string help, std::function<void()> set);
  /// `set` returns false when the value is invalid; `expected` then says what would be
  /// right.
  void option(std::string name, std::string metavar, std::string help, std::string expected,
              std::function<bool(std::string_view)> set);

  /// Parses argv. Prints help and exits 0 for --help; prints a clear error and exits 2
  /// for a bad flag or value.
  void parse(int argc, char** argv) const;

  std::string help() const;
  [[noreturn]] void fail(const std::string& message) const;

 private:
  struct entry {
    std::string name;
    std::string metavar; ///< empty for a flag
    std::string help;
    std::string expected;
    std::function<void()> set_flag;
    std::function<bool(std::string_view)> set_value;
  };
  std::string program_;
  std::string summary_;
  std::vector<entry> entries_;
};

} // namespace fa::tools
