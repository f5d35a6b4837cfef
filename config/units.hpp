#pragma once

#include "config/config.hpp"

#include <optional>
#include <string>
#include <string_view>

/// Durations and sizes as they are spelled in the configuration.
namespace fa::config {

/// Parses "10ms", "5m", "1h30m", "1.5s", "250us": one or more decimal numbers, each with
/// a unit (ns, us, ms, s, m, h). No sign, no bare number, at most about 292 years.
std::optional<duration> parse_duration(std::string_view text) noexcept;

/// The shortest exact spelling in one unit: "10ms", "30m", "0s".
std::string format_duration(duration x);

/// Parses "64MiB", "1KiB", "1MB", "512B" or a plain "65536" (bytes). Binary units are
/// KiB, MiB, GiB and TiB; decimal units kB (or KB), MB, GB and TB. One space may separate
/// the number from the unit.
std::optional<byte_size> parse_size(std::string_view text) noexcept;

/// "64MiB" when the value is a whole number of a binary unit, else the bare number.
std::string format_size(byte_size x);

/// What `parse_duration` accepts, for error messages.
inline constexpr std::string_view duration_hint =
    "expected a duration such as \"10ms\", \"5m\" or \"1h\" (units: ns, us, ms, s, m, h)";

/// What `parse_size` accepts, for error messages.
inline constexpr std::string_view size_hint =
    "expected a size such as 65536 (bytes), \"64KiB\", \"64MiB\" or \"1MB\"";

} // namespace fa::config
