#include "config/schema.hpp"

#include <array>

namespace fa::config {

namespace {

using namespace std::string_view_literals;

constexpr std::array root_keys{
    "mode"sv,       "cluster_id"sv, "collector"sv,  "destination"sv, "fanout"sv,  "aggregate"sv,
    "enrichment"sv, "labels"sv,     "kubernetes"sv, "admin"sv,       "runtime"sv,
};

constexpr std::array collector_keys{
    "listen"sv,
    "max_sessions"sv,
    "max_message_size"sv,
    "session_budget"sv,
    "receive_budget"sv,
    "max_templates_per_session"sv,
    "template_lifetime"sv,
    "udp_receive_buffer"sv,
    "udp_idle_timeout"sv,
    "message_timeout"sv,
    "max_tcp_sessions"sv,
    "max_udp_sessions"sv,
    "max_sessions_per_address"sv,
    "first_message_timeout"sv,
    "tcp_idle_timeout"sv,
    "udp_untemplated_idle_timeout"sv,
    "template_budget"sv,
    "template_budget_per_exporter"sv,
    "output_id_idle_timeout"sv,
    "tls"sv,
    "grpc"sv,
};

constexpr std::array grpc_keys{"max_message_size"sv, "keepalive_time"sv, "keepalive_timeout"sv,
                               "include_k8s_uids"sv};

constexpr std::array tls_keys{
    "cert"sv,           "key"sv,         "client_ca"sv, "allowed_names"sv, "handshake_timeout"sv,
    "max_handshakes"sv, "min_version"sv,
};

constexpr std::array destination_keys{
    "name"sv,
    "url"sv,
    "observation_domain_id"sv,
    "max_message_size"sv,
    "flush_interval"sv,
    "template_refresh"sv,
    "template_refresh_messages"sv,
    "udp_gso"sv,
    "queue_size"sv,
    "on_full"sv,
    "replay_window"sv,
    "reconnect_min"sv,
    "reconnect_max"sv,
    "tls_ca"sv,
    "tls_cert"sv,
    "tls_key"sv,
    "tls_server_name"sv,
    "tls_min_version"sv,
    "user"sv,
    "password_file"sv,
    "commit_interval"sv,
    "max_rows"sv,
    "compression"sv,
    "format"sv,
    "pretty_print"sv,
    "max_size"sv,
    "max_backups"sv,
    "max_age"sv,
    "compress"sv,
    "filters"sv,
    "stream_buffer"sv,
    "stream_max_subscribers"sv,
};

constexpr std::array filter_keys{
    "ingress_network_policy_rule_actions"sv,
    "egress_network_policy_rule_actions"sv,
};

constexpr std::array fanout_keys{"mode"sv, "failover"sv};

constexpr std::array aggregate_keys{
    "active_timeout"sv, "inactive_timeout"sv, "uncorrelated"sv,
    "max_flows"sv,      "shards"sv,           "scaled_out"sv,
};

constexpr std::array enrichment_keys{
    "provenance"sv, "antrea"sv, "pod_labels"sv, "fill_k8s_names"sv, "labels_for_foreign_records"sv,
};

constexpr std::array labels_keys{"source"sv, "file"sv, "deleted_pod_retention"sv};

constexpr std::array kubernetes_keys{
    "api_server"sv,  "token_file"sv, "ca_file"sv,
    "client_cert"sv, "client_key"sv, "watch_idle_timeout"sv,
};

constexpr std::array admin_keys{"listen"sv, "token_file"sv, "tls_cert"sv, "tls_key"sv};

constexpr std::array runtime_keys{
    "workers"sv,
    "io_threads"sv,
    "enrichers"sv,
    "idle_spin"sv,
    "idle_poll"sv,
    "idle_sleep"sv,
    "max_throughput"sv,
    "log_level"sv,
    "log_format"sv,
    "shutdown_timeout"sv,
    "memory_trim_interval"sv,
};

constexpr std::array sections{
    schema_section{""sv, root_keys},
    schema_section{"collector"sv, collector_keys},
    schema_section{"collector.tls"sv, tls_keys},
    schema_section{"collector.grpc"sv, grpc_keys},
    schema_section{"destination"sv, destination_keys},
    schema_section{"destination.filters"sv, filter_keys},
    schema_section{"fanout"sv, fanout_keys},
    schema_section{"aggregate"sv, aggregate_keys},
    schema_section{"enrichment"sv, enrichment_keys},
    schema_section{"labels"sv, labels_keys},
    schema_section{"kubernetes"sv, kubernetes_keys},
    schema_section{"admin"sv, admin_keys},
    schema_section{"runtime"sv, runtime_keys},
};

} // namespace

std::span<const schema_section> schema() noexcept {
  return sections;
}

const schema_section* find_section(std::string_view path) noexcept {
  for (const auto& section : sections)
    if (section.path == path)
      return &section;
  return nullptr;
}

std::vector<std::string> schema_keys() {
  std::vector<std::string> result;
  for (const auto& section : sections)
    for (auto key : section.keys)
      if (auto path = key_path(section.path, key); find_section(path) == nullptr)
        result.push_back(std::move(path));
  return result;
}

std::string key_path(std::string_view parent, std::string_view key) {
  std::string result{parent};
  if (!result.empty())
    result += '.';
  result += key;
  return result;
}

std::string element_path(std::string_view list, std::size_t i, std::string_view key) {
  auto result = std::string{list} + "[" + std::to_string(i) + "]";
  if (!key.empty())
    result = key_path(result, key);
  return result;
}

} // namespace fa::config
