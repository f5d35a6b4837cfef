#pragma once

// Lines of Antrea's flow log (reference antrea-grpc-transport.md 6): the 30 CSV columns
// of Antrea v2.7 / HEAD in their order, `prettyPrint`, and the filters by ingress and
// egress rule action. Plain library: the file and its rotation are
// sinks/rotating_file.hpp.

#include "sinks/flow_record.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fa::sinks {

/// One `flowLogger.filters` entry (reference 6.2): each non-empty list must contain the
/// record's rule action; an empty list matches any action.
struct flow_log_filter {
  std::vector<std::uint8_t> ingress_actions; ///< ingressNetworkPolicyRuleAction values
  std::vector<std::uint8_t> egress_actions;  ///< egressNetworkPolicyRuleAction values

  bool operator==(const flow_log_filter&) const = default;
};

/// The rule action named `name`, as Antrea spells it (case-sensitive): None 0, Allow 1,
/// Drop 2, Reject 3; nullopt for any other text.
std::optional<std::uint8_t> parse_rule_action(std::string_view name);

/// The name of a rule action (0..3), "None" for 0.
std::string_view rule_action_name(std::uint8_t action);

/// Whether a record with these rule actions is logged: always with no filters; with
/// several, when any of them matches (reference 6.2).
bool passes(std::span<const flow_log_filter> filters, std::uint8_t ingress_action,
            std::uint8_t egress_action);

/// Appends the record's line: the fields joined with "," and "\n", no header, no quoting
/// (a value holding a comma shifts the columns, as in Antrea). Timestamps in Unix
/// seconds. With `pretty`, the protocol, rule actions and policy types are names
/// (reference 6.1 table); otherwise numbers.
void append_flow_log_line(std::string& out, const flow_view& v, bool pretty);

} // namespace fa::sinks
