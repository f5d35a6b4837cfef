#pragma once

#include "config/config.hpp"
#include "config/config_error.hpp"

#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

namespace fa::config {

/// A loaded configuration, or every reason it could not be loaded. Exactly one of the two
/// is set: `cfg` when `errors` is empty.
struct load_result {
  std::optional<config> cfg;
  std::vector<config_error> errors; ///< sorted by position; unpositioned errors last

  explicit operator bool() const noexcept { return cfg.has_value(); }
};

/// Reads, parses and validates a TOML file. Never throws; a missing file is an error.
load_result load_file(const std::filesystem::path& path);

/// Parses and validates TOML text. `source_name` is the file name used in errors.
load_result load_string(std::string_view text, std::string_view source_name = "<string>");

/// `load_string(default_config_text(), "default.toml")`: the embedded default.
load_result load_default();

} // namespace fa::config
