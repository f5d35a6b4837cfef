#include "config/cluster_id.hpp"

#include <random>

namespace fa::config {

namespace {

constexpr std::uint32_t fnv_offset_basis = 2166136261u;
constexpr std::uint32_t fnv_prime = 16777619u;

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool is_hyphen_position(std::size_t i) noexcept {
  return i == 8 || i == 13 || i == 18 || i == 23;
}

} // namespace

std::string generate_cluster_uuid() {
  // libstdc++'s random_device reads getrandom(2) or /dev/urandom: not a seeded PRNG.
  std::random_device device;
  std::array<std::uint8_t, 16> bytes{};
  for (std::size_t i = 0; i < bytes.size(); i += 4) {
    auto word = static_cast<std::uint32_t>(device());
    for (std::size_t j = 0; j < 4; ++j)
      bytes[i + j] = static_cast<std::uint8_t>(word >> (8 * j));
  }
  // RFC 4122 4.4: version 4 in the high nibble of byte 6, variant 10xx in byte 8.
  bytes[6] = static_cast<std::uint8_t>((bytes[6] & 0x0f) | 0x40);
  bytes[8] = static_cast<std::uint8_t>((bytes[8] & 0x3f) | 0x80);
  constexpr std::string_view digits = "0123456789abcdef";
  std::string result;
  result.reserve(36);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      result += '-';
    result += digits[bytes[i] >> 4];
    result += digits[bytes[i] & 0x0f];
  }
  return result;
}

std::optional<std::array<std::uint8_t, 16>> parse_uuid(std::string_view text) noexcept {
  if (text.size() != 36)
    return std::nullopt;
  std::array<std::uint8_t, 16> result{};
  std::size_t out = 0;
  for (std::size_t i = 0; i < text.size();) {
    if (is_hyphen_position(i)) {
      if (text[i] != '-')
        return std::nullopt;
      ++i;
      continue;
    }
    auto high = hex_value(text[i]);
    auto low = hex_value(text[i + 1]);
    if (high < 0 || low < 0)
      return std::nullopt;
    result[out++] = static_cast<std::uint8_t>(high << 4 | low);
    i += 2;
  }
  return result;
}

std::uint32_t fnv1_32(std::span<const std::uint8_t> bytes) noexcept {
  auto hash = fnv_offset_basis;
  for (auto byte : bytes) {
    hash *= fnv_prime;
    hash ^= byte;
  }
  return hash;
}

std::uint32_t fnv1_32(std::string_view text) noexcept {
  auto hash = fnv_offset_basis;
  for (char c : text) {
    hash *= fnv_prime;
    hash ^= static_cast<std::uint8_t>(c);
  }
  return hash;
}

std::uint32_t default_export_odid(std::string_view cluster_id) noexcept {
  if (auto uuid = parse_uuid(cluster_id))
    return fnv1_32(std::span<const std::uint8_t>{*uuid});
  return fnv1_32(cluster_id);
}

} // namespace fa::config
