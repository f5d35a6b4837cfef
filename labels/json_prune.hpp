#pragma once

// Parses JSON keeping only the members a caller names, so that a large object of which
// a few fields are read (a Pod of a watch event: a few KiB, hundreds of members) costs
// no allocation for the rest: skipped members are scanned and dropped, never built
// (issue 15: the Pod watch's DOM was most of the idle CPU at 100 Pod updates/s). The
// members kept are ordinary JSON values, so the code that reads them (pod_json.hpp)
// checks their types and reports errors exactly as for the full document.

#include <nlohmann/json_fwd.hpp>

#include <span>
#include <string_view>

namespace fa::labels {

/// A member to keep: with `members` empty its whole value; otherwise, when its value is
/// an object, only those of its members (any other value is kept whole, so that a
/// wrong type is still seen and reported by the reader).
struct json_keep {
  std::string_view key;
  std::span<const json_keep> members;
};

/// Parses `text` (one JSON value) keeping, when it is an object, only `members` of it.
/// Returns a discarded value (`is_discarded()`) when `text` is not valid JSON.
nlohmann::json parse_pruned(std::string_view text, std::span<const json_keep> members);

} // namespace fa::labels
