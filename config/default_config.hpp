#pragma once

#include <string_view>

namespace fa::config {

/// The text of config/default.toml, embedded at build time, so the binary runs with no
/// file at all.
std::string_view default_config_text() noexcept;

} // namespace fa::config
