#include "config/config.hpp"

#include "config/cluster_id.hpp"
#include "config/enum_names.hpp"

#include <algorithm>

namespace fa::config {

std::string_view to_string(run_mode x) {
  return enum_to_string(x);
}

std::string_view to_string(transport_kind x) {
  return enum_to_string(x);
}

std::string_view to_string(destination_kind x) {
  return enum_to_string(x);
}

std::string_view to_string(on_full_policy x) {
  return enum_to_string(x);
}

std::string_view to_string(compression_kind x) {
  return enum_to_string(x);
}

std::string_view to_string(clickhouse_format x) {
  return enum_to_string(x);
}

std::string_view to_string(rule_action x) {
  return enum_to_string(x);
}

std::string_view to_string(fanout_mode x) {
  return enum_to_string(x);
}

std::string_view to_string(uncorrelated_policy x) {
  return enum_to_string(x);
}

std::string_view to_string(label_source x) {
  return enum_to_string(x);
}

std::string_view to_string(log_level x) {
  return enum_to_string(x);
}

std::string_view to_string(log_format x) {
  return enum_to_string(x);
}

namespace {

std::string bracketed(const std::string& host) {
  return host.find(':') == std::string::npos ? host : "[" + host + "]";
}

} // namespace

std::string to_string(const listen_endpoint& x) {
  return std::string{to_string(x.transport)} + "://" + bracketed(x.host) + ":" +
         std::to_string(x.port);
}

std::string to_string(const destination_url& x) {
  if (x.kind == destination_kind::jsonl)
    return "jsonl:" + x.path;
  if (x.kind == destination_kind::flowlog)
    return "flowlog:" + x.path;
  auto text =
      std::string{to_string(x.kind)} + "://" + bracketed(x.host) + ":" + std::to_string(x.port);
  if (x.is_clickhouse())
    text += "/?database=" + x.database + "&table=" + x.table;
  return text;
}

std::string to_string(const host_port& x) {
  return bracketed(x.host) + ":" + std::to_string(x.port);
}

std::uint32_t effective_max_message_size(const destination_config& x) noexcept {
  if (x.max_message_size != 0)
    return x.max_message_size;
  return x.url.kind == destination_kind::ipfix_udp ? default_udp_message_size
                                                   : default_tcp_message_size;
}

std::uint32_t export_odid(const config& cfg, const destination_config& x) noexcept {
  if (x.observation_domain_id && *x.observation_domain_id != 0)
    return *x.observation_domain_id;
  return default_export_odid(cfg.cluster_id);
}

std::uint32_t resolved_workers(const runtime_config& x, unsigned hardware_threads) noexcept {
  if (x.workers != 0)
    return x.workers;
  return std::max(1u, hardware_threads);
}

std::uint32_t resolved_enrichers(const runtime_config& x, unsigned hardware_threads) noexcept {
  if (x.enrichers != 0)
    return x.enrichers;
  return resolved_workers(x, hardware_threads);
}

std::uint32_t resolved_shards(const config& x, unsigned hardware_threads) noexcept {
  if (x.aggregate.shards != 0)
    return x.aggregate.shards;
  return resolved_workers(x.runtime, hardware_threads);
}

} // namespace fa::config
