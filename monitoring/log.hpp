#pragma once

// One line per event, levelled, as key=value text or JSON (DESIGN 8: [runtime]
// log_level, log_format). Thread-safe; each line is written with one call.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace fa::monitoring {

enum class log_level : std::uint8_t { trace, debug, info, warn, error };
enum class log_format : std::uint8_t { text, json };

void set_log_level(log_level level);
void set_log_format(log_format format);
bool log_enabled(log_level level);

using log_field = std::pair<std::string_view, std::string>;

/// Writes `event` with `fields` to stderr, when `level` is enabled.
void log(log_level level, std::string_view event, std::initializer_list<log_field> fields = {});

} // namespace fa::monitoring
