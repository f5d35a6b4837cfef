#pragma once

#include "config/config.hpp"

#include <string>
#include <string_view>

namespace fa::config {

/// The effective configuration as TOML, every key included, loadable by `load_string`
/// to an equal `config`. Used by `check-config` and the admin API.
///
/// No secret is ever stored in the configuration itself: `token_file` and `key` hold
/// paths, and the files are read elsewhere. With `redact_secrets`, each such line is
/// marked with a `# secret: file contents are never shown` comment, so that a reader
/// of the admin API sees where secrets live without seeing them.
std::string render_effective(const config& cfg, bool redact_secrets);

/// A TOML basic string: `"a\"b"`. Control characters are escaped.
std::string toml_quote(std::string_view text);

} // namespace fa::config
