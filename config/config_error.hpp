#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fa::config {

/// What kind of mistake a `config_error` reports.
enum class error_kind : std::uint8_t {
  io,            ///< the file could not be read
  syntax,        ///< not TOML
  unknown_key,   ///< a key that is not valid at its level
  wrong_type,    ///< e.g. a number where a duration string belongs
  invalid_value, ///< the right type, but not an allowed value
  missing_key,   ///< a required key is absent
  unsupported,   ///< valid, but not implemented in this version
};

/// A short snake_case name: "unknown_key".
std::string_view to_string(error_kind x);

/// One configuration mistake: where it is, what is wrong, and what would be right.
struct config_error {
  error_kind kind = error_kind::invalid_value;
  std::string source;     ///< the file name, or the `source_name` of `load_string`
  std::uint32_t line = 0; ///< 1-based; 0 = no position (e.g. a missing section)
  std::uint32_t column = 0;
  std::string key;     ///< key path: "destination[1].on_full", "collector.listen[0]"
  std::string value;   ///< the offending value as TOML ("\"dorp\"", "70000"); may be empty
  std::string message; ///< what would be valid: "expected \"block\" or \"drop\""

  bool operator==(const config_error&) const = default;
};

/// `config.toml:12:11: destination[1].on_full: "dorp" is not valid; expected "block" or
/// "drop"`. Parts that are unknown are left out; an `unsupported` error prints its
/// message alone, since that names the value already.
std::string to_string(const config_error& x);

/// One error per line, each ending in a newline.
std::string to_string(const std::vector<config_error>& xs);

} // namespace fa::config
