#pragma once

// Pod objects in the JSON shape the Kubernetes API returns (and `kubectl get pods -o json`
// prints), mapped to what the Pod index needs (pod_index.hpp). Shared by the file source
// and the API source. No exception escapes these functions: errors are returned as text.

#include "labels/json_prune.hpp"
#include "labels/pod_index.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fa::labels {

/// One Pod object, as the index sees it, plus what pod_info has no field for.
struct parsed_pod {
  pod_info info;
  /// metadata.deletionTimestamp, seconds since the epoch, when the Pod is terminating.
  std::optional<std::int64_t> deletion;
};

/// Maps one Pod object:
/// - metadata.uid, .namespace, .name: required, non-empty strings;
/// - metadata.creationTimestamp: required, RFC 3339 ("2024-05-01T10:00:00Z"; fractional
///   seconds and numeric offsets accepted, as Go's time.RFC3339 does);
/// - metadata.deletionTimestamp: optional, RFC 3339;
/// - metadata.labels: optional string -> string map (absent or null -> no labels);
/// - spec.nodeName, status.phase: optional strings (absent -> "");
/// - spec.hostNetwork: optional bool (absent -> false);
/// - status.podIPs[].ip; when podIPs is absent, null or empty, status.podIP if present.
/// `kind`, when present, must be "Pod". Other fields are ignored.
/// On failure returns nullopt and sets `error` to "<json path>: <what is wrong>".
std::optional<parsed_pod> parse_pod(const nlohmann::json& pod, std::string& error);

/// The members of a Pod object parse_pod reads, for parse_pruned; also
/// metadata.resourceVersion and a Status object's `code` and `message`, which a watch
/// event's object carries (pod_watcher.hpp).
extern const std::span<const json_keep> pod_members;

struct pod_file_result {
  std::vector<parsed_pod> pods;    ///< the good objects, in file order
  std::vector<std::string> errors; ///< one per bad object (or one for the whole text)
};

/// Parses a Pod file: a PodList (an object with an `items` array; `kind` "PodList" from
/// the API, "List" from kubectl), a single Pod object, or JSON lines (one Pod object per
/// line, blank lines ignored). A bad object does not stop the others; its error says
/// where: "items[K]: ..." for a list, "line N: ..." for JSON lines, and a syntax error
/// carries the line and column ("line L, column C: ...").
///
/// The text is JSON lines when it is not one JSON value and at least one of its lines
/// is on its own a JSON object with a `kind` or `metadata` member (a line of a
/// pretty-printed Pod never is).
pod_file_result parse_pod_file(std::string_view text);

/// Parses an RFC 3339 date-time ("2024-05-01T10:00:00Z", "2024-05-01T12:00:00.5+02:00")
/// to seconds since the epoch (fractions truncated). nullopt if malformed or out of range.
std::optional<std::int64_t> parse_rfc3339(std::string_view text);

} // namespace fa::labels
