#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

/// The cluster identity: the `cluster_id` UUID and the export observation domain ID
/// derived from it.
namespace fa::config {

/// A random (version 4, RFC 4122 4.4) UUID in lowercase canonical form,
/// "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx". Used once, when `cluster_id` is empty; the
/// application stores the result so that the ID stays stable across restarts.
std::string generate_cluster_uuid();

/// The 16 bytes of a canonical UUID (hex digits in either case, hyphens at 8, 13, 18
/// and 23), or nullopt.
std::optional<std::array<std::uint8_t, 16>> parse_uuid(std::string_view text) noexcept;

/// 32-bit FNV-1 (not FNV-1a): for each byte, multiply by the prime, then xor.
std::uint32_t fnv1_32(std::span<const std::uint8_t> bytes) noexcept;

/// 32-bit FNV-1 over the bytes of a string.
std::uint32_t fnv1_32(std::string_view text) noexcept;

/// The observation domain ID a destination uses when it sets none: FNV-1 over the 16
/// raw bytes of `cluster_id` when it is a UUID, else over its text.
std::uint32_t default_export_odid(std::string_view cluster_id) noexcept;

} // namespace fa::config
