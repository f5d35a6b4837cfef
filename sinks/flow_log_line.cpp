#include "sinks/flow_log_line.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace fa::sinks {

namespace {

constexpr std::array<std::string_view, 4> action_names{"None", "Allow", "Drop", "Reject"};

std::string_view protocol_name(std::uint64_t p) {
  switch (p) {
  case 1:
    return "ICMP";
  case 2:
    return "IGMP";
  case 6:
    return "TCP";
  case 17:
    return "UDP";
  case 58:
    return "IPv6-ICMP";
  case 132:
    return "SCTP";
  default:
    return "Unknown Protocol";
  }
}

std::string_view pretty_action(std::uint64_t a) {
  switch (a) {
  case 0:
    return "";
  case 1:
  case 2:
  case 3:
    return action_names[a];
  default:
    return "Invalid";
  }
}

/// 4 (K8s cluster-scoped policy, Antrea v2.7) is "Invalid" too: Antrea's printer was
/// not updated for it (reference 6.1).
std::string_view pretty_policy_type(std::uint64_t t) {
  switch (t) {
  case 0:
    return "";
  case 1:
    return "K8sNetworkPolicy";
  case 2:
    return "AntreaNetworkPolicy";
  case 3:
    return "AntreaClusterNetworkPolicy";
  default:
    return "Invalid";
  }
}

void put_number(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

bool contains(const std::vector<std::uint8_t>& xs, std::uint8_t x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

/// What one CSV column prints.
enum class shown : std::uint8_t { number, text, protocol, action, policy_type };

struct csv_column {
  column c;
  shown how;
};

// Antrea v2.7 / HEAD, 30 columns (reference 6.1).
constexpr std::array<csv_column, 30> csv_columns{{
    {column::flow_start_seconds, shown::number},
    {column::flow_end_seconds, shown::number},
    {column::source_ip, shown::text},
    {column::destination_ip, shown::text},
    {column::source_transport_port, shown::number},
    {column::destination_transport_port, shown::number},
    {column::protocol_identifier, shown::protocol},
    {column::source_pod_name, shown::text},
    {column::source_pod_namespace, shown::text},
    {column::source_node_name, shown::text},
    {column::destination_pod_name, shown::text},
    {column::destination_pod_namespace, shown::text},
    {column::destination_node_name, shown::text},
    {column::destination_cluster_ip, shown::text},
    {column::destination_service_ip, shown::text},
    {column::destination_service_port, shown::number},
    {column::destination_service_port_name, shown::text},
    {column::ingress_network_policy_name, shown::text},
    {column::ingress_network_policy_namespace, shown::text},
    {column::ingress_network_policy_rule_name, shown::text},
    {column::ingress_network_policy_rule_action, shown::action},
    {column::ingress_network_policy_type, shown::policy_type},
    {column::egress_network_policy_name, shown::text},
    {column::egress_network_policy_namespace, shown::text},
    {column::egress_network_policy_rule_name, shown::text},
    {column::egress_network_policy_rule_action, shown::action},
    {column::egress_network_policy_type, shown::policy_type},
    {column::egress_name, shown::text},
    {column::egress_ip, shown::text},
    {column::egress_node_name, shown::text},
}};

} // namespace

std::optional<std::uint8_t> parse_rule_action(std::string_view name) {
  for (std::size_t i = 0; i < action_names.size(); ++i)
    if (action_names[i] == name)
      return static_cast<std::uint8_t>(i);
  return std::nullopt;
}

std::string_view rule_action_name(std::uint8_t action) {
  return action < action_names.size() ? action_names[action] : "Invalid";
}

bool passes(std::span<const flow_log_filter> filters, std::uint8_t ingress_action,
            std::uint8_t egress_action) {
  if (filters.empty())
    return true;
  return std::any_of(filters.begin(), filters.end(), [&](const flow_log_filter& f) {
    return (f.ingress_actions.empty() || contains(f.ingress_actions, ingress_action)) &&
           (f.egress_actions.empty() || contains(f.egress_actions, egress_action));
  });
}

void append_flow_log_line(std::string& out, const flow_view& v, bool pretty) {
  bool first = true;
  for (const auto& col : csv_columns) {
    if (!first)
      out += ',';
    first = false;
    if (col.how == shown::text) {
      out += v.text(col.c);
      continue;
    }
    auto n = v.number(col.c);
    if (!pretty || col.how == shown::number)
      put_number(out, n);
    else if (col.how == shown::protocol)
      out += protocol_name(n);
    else if (col.how == shown::action)
      out += pretty_action(n);
    else
      out += pretty_policy_type(n);
  }
  out += '\n';
}

} // namespace fa::sinks
