#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

/// The keys that are valid at each level of the TOML file. The loader reports every other
/// key as unknown and suggests the closest of these; tests check that the README and
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

/// Every key of the schema as a full path ("collector.tls.cert", "destination.url"),
/// sub-tables excluded.
std::vector<std::string> schema_keys();

/// "parent.key", or "key" at the top level: how errors name a key.
std::string key_path(std::string_view parent, std::string_view key);

/// "list[i]", then optionally ".key": "destination[1].on_full".
std::string element_path(std::string_view list, std::size_t i, std::string_view key = {});

} // namespace fa::config
