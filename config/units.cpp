#include "config/units.hpp"

#include <array>
#include <cstdint>
#include <limits>
#include <utility>

namespace fa::config {

namespace {

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

struct unit {
  std::string_view name;
  std::uint64_t factor;
};

// Longest names first, so "ms" is not read as "m" followed by junk.
constexpr std::array<unit, 6> duration_units{{
    {"ns", 1},
    {"us", 1'000},
    {"ms", 1'000'000},
    {"s", 1'000'000'000},
    {"m", 60'000'000'000},
    {"h", 3'600'000'000'000},
}};

constexpr std::array<unit, 10> size_units{{
    {"B", 1},
    {"KiB", std::uint64_t{1} << 10},
    {"MiB", std::uint64_t{1} << 20},
    {"GiB", std::uint64_t{1} << 30},
    {"TiB", std::uint64_t{1} << 40},
    {"kB", 1'000},
    {"KB", 1'000},
    {"MB", 1'000'000},
    {"GB", 1'000'000'000},
    {"TB", 1'000'000'000'000},
}};

/// Reads the decimal digits at the front of `text`; false on overflow or no digits.
bool read_number(std::string_view& text, std::uint64_t& out) noexcept {
  std::size_t i = 0;
  std::uint64_t value = 0;
  for (; i < text.size() && is_digit(text[i]); ++i) {
    auto digit = static_cast<std::uint64_t>(text[i] - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10)
      return false;
    value = value * 10 + digit;
  }
  if (i == 0)
    return false;
  out = value;
  text.remove_prefix(i);
  return true;
}

} // namespace

std::optional<duration> parse_duration(std::string_view text) noexcept {
  using wide = unsigned __int128;
  constexpr auto limit = static_cast<wide>(std::numeric_limits<duration::rep>::max());
  if (text.empty())
    return std::nullopt;
  wide total = 0;
  while (!text.empty()) {
    std::uint64_t whole = 0;
    if (!read_number(text, whole))
      return std::nullopt;
    // An optional fraction: keep up to 18 digits, which is finer than 1ns for every unit.
    std::uint64_t fraction = 0;
    std::uint64_t scale = 1;
    if (!text.empty() && text.front() == '.') {
      text.remove_prefix(1);
      if (text.empty() || !is_digit(text.front()))
        return std::nullopt;
      for (; !text.empty() && is_digit(text.front()); text.remove_prefix(1)) {
        if (scale < 1'000'000'000'000'000'000ULL) {
          fraction = fraction * 10 + static_cast<std::uint64_t>(text.front() - '0');
          scale *= 10;
        }
      }
    }
    const unit* found = nullptr;
    for (const auto& u : duration_units) {
      if (text.starts_with(u.name)) {
        found = &u;
        break;
      }
    }
    if (found == nullptr)
      return std::nullopt;
    text.remove_prefix(found->name.size());
    total += static_cast<wide>(whole) * found->factor;
    total += static_cast<wide>(fraction) * found->factor / scale;
    if (total > limit)
      return std::nullopt;
  }
  return duration{static_cast<duration::rep>(total)};
}

std::string format_duration(duration x) {
  auto ns = x.count();
  if (ns == 0)
    return "0s";
  std::string sign;
  std::uint64_t magnitude = 0;
  if (ns < 0) {
    // Only hand-built configs can hold a negative duration; render it honestly.
    sign = "-";
    magnitude = static_cast<std::uint64_t>(-(ns + 1)) + 1;
  } else {
    magnitude = static_cast<std::uint64_t>(ns);
  }
  for (auto i = duration_units.size(); i-- > 0;) {
    const auto& u = duration_units[i];
    if (magnitude % u.factor == 0)
      return sign + std::to_string(magnitude / u.factor) + std::string{u.name};
  }
  return sign + std::to_string(magnitude) + "ns"; // unreachable: factor 1 divides all
}

std::optional<byte_size> parse_size(std::string_view text) noexcept {
  std::uint64_t number = 0;
  if (!read_number(text, number))
    return std::nullopt;
  if (text.empty())
    return number;
  if (text.front() == ' ')
    text.remove_prefix(1);
  for (const auto& u : size_units) {
    if (text == u.name) {
      if (number > std::numeric_limits<std::uint64_t>::max() / u.factor)
        return std::nullopt;
      return number * u.factor;
    }
  }
  return std::nullopt;
}

std::string format_size(byte_size x) {
  constexpr std::array<std::pair<std::uint64_t, std::string_view>, 4> binary{{
      {std::uint64_t{1} << 40, "TiB"},
      {std::uint64_t{1} << 30, "GiB"},
      {std::uint64_t{1} << 20, "MiB"},
      {std::uint64_t{1} << 10, "KiB"},
  }};
  if (x != 0)
    for (const auto& [factor, name] : binary)
      if (x % factor == 0)
        return std::to_string(x / factor) + std::string{name};
  return std::to_string(x);
}

} // namespace fa::config
