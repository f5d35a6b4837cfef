#pragma once

#include <span>
#include <string_view>

/// The keys that are valid at each level of the TOML file. The loader reports every other
/// key as unknown and suggests the closest of these; tests check that REFERENCE.md and
/// `render_effective` cover exactly this list.
namespace fa::config {

/// One table of the file and its keys (sub-tables included, as keys).
struct schema_section {
  std::string_view path; ///< "" for the top level; "collector.tls"; "destination"
  std::span<const std::string_view> keys;
};

/// Every section, the top level first.
std::span<const schema_section> schema() noexcept;

/// The section at `path`, or nullptr.
const schema_section* find_section(std::string_view path) noexcept;

} // namespace fa::config
