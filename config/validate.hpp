#pragma once

#include "config/config.hpp"
#include "config/config_error.hpp"

#include <string>
#include <vector>

namespace fa::config {

/// Checks a typed configuration: ranges, required entries, uniqueness, cross-field rules,
/// and `unsupported_features`. The errors name key paths ("destination[1].queue_size")
/// but no file position; `load_file` and `load_string` add those. Empty = valid.
std::vector<config_error> validate(const config& cfg);

/// Settings that parse but are not implemented in this version. Each line here is one
/// feature; remove the line when the feature lands.
std::vector<config_error> unsupported_features(const config& cfg);

/// Settings that are valid but probably not what was meant, one sentence each:
/// `check-config` prints them as warnings and still exits 0; `run` logs them.
std::vector<std::string> warnings(const config& cfg);

} // namespace fa::config
