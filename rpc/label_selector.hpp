#pragma once

// Kubernetes label selectors in their text form (the `pod_label_selector` of a flow
// stream filter, antrea-grpc-transport.md 5): comma-separated requirements, all of which
// must hold:
//
//   key            the label exists          !key             it does not
//   key=value      equal (also ==)           key!=value       absent or different
//   key in (a,b)   one of                    key notin (a,b)  absent or none of
//   key>n, key<n   an integer label value greater / less than n
//
// Keys are qualified names ("app", "app.kubernetes.io/name"); values are up to 63
// characters of [A-Za-z0-9-_.], beginning and ending alphanumeric (or empty).

#include "rpc/proto.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fa::rpc {

class label_selector {
 public:
  /// The selector, or why the text is not one (the RPC then fails InvalidArgument).
  static std::optional<label_selector> parse(std::string_view text, std::string& error);

  /// True when every requirement holds for `labels`; an absent Labels message is an
  /// empty set of labels.
  bool matches(const pb::Labels* labels) const;

  bool empty() const { return reqs_.empty(); }

 private:
  enum class op { exists, not_exists, equals, not_equals, in, not_in, greater, less };
  struct requirement {
    std::string key;
    op kind = op::exists;
    std::vector<std::string> values;
    long long number = 0;
  };
  std::vector<requirement> reqs_;
};

} // namespace fa::rpc
