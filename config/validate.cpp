#include "config/validate.hpp"

#include "config/render.hpp"
#include "config/schema.hpp"
#include "config/units.hpp"

#include <algorithm>
#include <map>
#include <tuple>

namespace fa::config {

namespace {

constexpr std::uint32_t max_threads = 1024;
constexpr std::uint32_t max_enrichers = 65536;
constexpr std::uint32_t max_idle_spin = 1000000;
constexpr std::uint32_t max_throughput = 1000000;
/// A bound the memory of any machine we run on cannot hold anyway (at ~0.5 KiB a flow,
/// 1e9 flows is 0.5 TiB): a larger value is a typo, and "unlimited" is never offered.
constexpr std::uint64_t max_aggregate_flows = 1'000'000'000;
/// Antrea v2.7 raises timeouts below one second to one second (reference
/// antrea-aggregate-semantics.md e); we say so instead of changing the value silently.
constexpr duration min_aggregate_timeout = std::chrono::seconds{1};

std::string quoted_duration(duration x) {
  return toml_quote(format_duration(x));
}

std::string range_text(std::uint64_t lo, std::uint64_t hi) {
  return "expected an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
}

/// Collects errors; one helper per kind of rule keeps the messages uniform.
struct checker {
  std::vector<config_error> errors;

  void add(error_kind kind, std::string key, std::string value, std::string message) {
    config_error e;
    e.kind = kind;
    e.key = std::move(key);
    e.value = std::move(value);
    e.message = std::move(message);
    errors.push_back(std::move(e));
  }

  void range(const std::string& key, std::uint64_t x, std::uint64_t lo, std::uint64_t hi) {
    if (x < lo || x > hi)
      add(error_kind::invalid_value, key, std::to_string(x), range_text(lo, hi));
  }

  void positive(const std::string& key, duration x) {
    if (x <= duration::zero())
      add(error_kind::invalid_value, key, quoted_duration(x),
          "expected a duration greater than zero, such as \"10ms\" or \"1s\"");
  }

  void within(const std::string& key, duration x, duration lo, duration hi) {
    if (x < lo || x > hi)
      add(error_kind::invalid_value, key, quoted_duration(x),
          "expected a duration from " + quoted_duration(lo) + " to " + quoted_duration(hi));
  }

  void not_negative(const std::string& key, duration x) {
    if (x < duration::zero())
      add(error_kind::invalid_value, key, quoted_duration(x),
          "expected a duration of zero or more, such as \"0s\" or \"5m\"");
  }

  void tls_version(const std::string& key, const std::string& x) {
    if (x != "1.2" && x != "1.3")
      add(error_kind::invalid_value, key, toml_quote(x), "expected \"1.2\" or \"1.3\"");
  }

  void required(const std::string& key, const std::string& x, std::string_view why) {
    if (x.empty())
      add(error_kind::missing_key, key, {}, "a value is required " + std::string{why});
  }
};

bool valid_name(const std::string& x) {
  return std::all_of(x.begin(), x.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

bool printable(const std::string& x) {
  return std::none_of(x.begin(), x.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

void check_collector(checker& out, const collector_config& x) {
  if (x.listen.empty())
    out.add(error_kind::missing_key, "collector.listen", {},
            "at least one listener is required, such as listen = [\"tcp://0.0.0.0:4739\"]");
  // Two listeners on one socket would fail at bind time; say so here, with the key.
  // tcp:// and tls:// share TCP ports; udp:// has its own.
  std::map<std::tuple<bool, std::string, std::uint16_t>, std::size_t> bound;
  for (std::size_t i = 0; i < x.listen.size(); ++i) {
    const auto& ep = x.listen[i];
    if (ep.port == 0)
      continue;
    auto socket = std::make_tuple(ep.transport == transport_kind::udp, ep.host, ep.port);
    auto [it, added] = bound.emplace(socket, i);
    if (!added)
      out.add(error_kind::invalid_value, element_path("collector.listen", i),
              toml_quote(to_string(ep)),
              "the same address and port is already used by collector.listen[" +
                  std::to_string(it->second) + "]");
  }
  out.range("collector.max_sessions", x.max_sessions, 1, UINT32_MAX);
  out.range("collector.max_message_size", x.max_message_size, min_ipfix_message_size,
            max_ipfix_message_size);
  if (x.session_budget < x.max_message_size)
    out.add(error_kind::invalid_value, "collector.session_budget",
            toml_quote(format_size(x.session_budget)),
            "expected at least collector.max_message_size (" + std::to_string(x.max_message_size) +
                " bytes), so that one message fits, such as \"4MiB\"");
  if (x.receive_budget < x.session_budget)
    out.add(error_kind::invalid_value, "collector.receive_budget",
            toml_quote(format_size(x.receive_budget)),
            "expected at least collector.session_budget (" + format_size(x.session_budget) +
                "), such as \"32MiB\"");
  out.range("collector.max_templates_per_session", x.max_templates_per_session, 1, UINT32_MAX);
  out.positive("collector.template_lifetime", x.template_lifetime);
  bool any_tls = std::any_of(x.listen.begin(), x.listen.end(), [](const auto& ep) {
    return ep.transport == transport_kind::tls || ep.transport == transport_kind::grpcs;
  });
  if (any_tls) {
    out.required("collector.tls.cert", x.tls.cert,
                 "for tls:// and grpcs:// listeners: a PEM certificate file");
    out.required("collector.tls.key", x.tls.key,
                 "for tls:// and grpcs:// listeners: a PEM private key file");
  }
  out.range("collector.grpc.max_message_size", x.grpc.max_message_size, 1024, 1u << 30);
  out.positive("collector.grpc.keepalive_time", x.grpc.keepalive_time);
  out.positive("collector.grpc.keepalive_timeout", x.grpc.keepalive_timeout);
  out.positive("collector.udp_idle_timeout", x.udp_idle_timeout);
  out.positive("collector.message_timeout", x.message_timeout);
  out.range("collector.max_tcp_sessions", x.max_tcp_sessions, 1, UINT32_MAX);
  out.range("collector.max_udp_sessions", x.max_udp_sessions, 1, UINT32_MAX);
  out.range("collector.max_sessions_per_address", x.max_sessions_per_address, 1, UINT32_MAX);
  out.positive("collector.first_message_timeout", x.first_message_timeout);
  out.positive("collector.tcp_idle_timeout", x.tcp_idle_timeout);
  out.positive("collector.udp_untemplated_idle_timeout", x.udp_untemplated_idle_timeout);
  out.positive("collector.output_id_idle_timeout", x.output_id_idle_timeout);
  // One template of a few fields must fit an exporter's share, and the share the total.
  constexpr byte_size min_template_budget = 4096;
  if (x.template_budget_per_exporter < min_template_budget)
    out.add(error_kind::invalid_value, "collector.template_budget_per_exporter",
            toml_quote(format_size(x.template_budget_per_exporter)),
            "expected at least 4KiB, so that an exporter can define a template, such as \"4MiB\"");
  if (x.template_budget < x.template_budget_per_exporter)
    out.add(error_kind::invalid_value, "collector.template_budget",
            toml_quote(format_size(x.template_budget)),
            "expected at least collector.template_budget_per_exporter (" +
                format_size(x.template_budget_per_exporter) + "), such as \"64MiB\"");
  out.range("collector.udp_receive_buffer", x.udp_receive_buffer, 0, 1u << 30);
  out.positive("collector.tls.handshake_timeout", x.tls.handshake_timeout);
  out.range("collector.tls.max_handshakes", x.tls.max_handshakes, 1, 65536);
  out.tls_version("collector.tls.min_version", x.tls.min_version);
  if (!x.tls.allowed_names.empty() && x.tls.client_ca.empty())
    out.add(error_kind::invalid_value, "collector.tls.allowed_names", {},
            "allowed_names needs collector.tls.client_ca: without it no client certificate "
            "is asked for, so there is no name to check");
}

/// The largest `max_rows`: well under a MergeTree's max_insert_block_size (1,048,576
/// rows), so that one insert is one block (antrea-clickhouse-export.md 3.3).
constexpr std::uint32_t max_clickhouse_rows = 1'000'000;

void check_clickhouse(checker& out, const destination_config& x, std::size_t i) {
  auto key = [i](std::string_view name) { return element_path("destination", i, name); };
  out.positive(key("commit_interval"), x.commit_interval);
  if (x.commit_interval > std::chrono::hours{1})
    out.add(error_kind::invalid_value, key("commit_interval"), quoted_duration(x.commit_interval),
            "expected at most \"1h\"; Antrea commits every \"8s\", we default to \"1s\"");
  out.range(key("max_rows"), x.max_rows, 1, max_clickhouse_rows);
  if (!printable(x.user))
    out.add(error_kind::invalid_value, key("user"), toml_quote(x.user), "expected printable text");
}

void check_flow_log(checker& out, const destination_config& x, std::size_t i) {
  auto key = [i](std::string_view name) { return element_path("destination", i, name); };
  if (x.max_size != 0 && x.max_size < 1024)
    out.add(error_kind::invalid_value, key("max_size"), toml_quote(format_size(x.max_size)),
            "expected 0 (never rotate) or at least 1024 bytes, such as \"100MiB\"");
  out.not_negative(key("max_age"), x.max_age);
}

void check_destination(checker& out, const destination_config& x, std::size_t i) {
  auto key = [i](std::string_view name) { return element_path("destination", i, name); };
  if (x.name.empty())
    out.add(error_kind::missing_key, key("name"), {},
            "a name is required, such as name = \"main\"; it labels metrics and logs");
  else if (!valid_name(x.name))
    out.add(error_kind::invalid_value, key("name"), toml_quote(x.name),
            "expected letters, digits, \"_\", \"-\" or \".\"");
  if (x.url.is_ipfix() || x.url.is_clickhouse()) {
    if (x.url.host.empty() || x.url.port == 0)
      out.add(error_kind::invalid_value, key("url"), toml_quote(to_string(x.url)),
              "expected a host and a port from 1 to 65535, such as \"ipfix+tcp://collector:4739\"");
  } else if (x.url.is_flow_stream()) {
    if (x.url.kind == destination_kind::grpcs_stream && (x.tls_cert.empty() || x.tls_key.empty()))
      out.add(error_kind::missing_key, key(x.tls_cert.empty() ? "tls_cert" : "tls_key"), {},
              "grpcs-stream serves TLS: tls_cert and tls_key are its certificate and key");
    out.range(key("stream_buffer"), x.stream_buffer, 1, 1u << 24);
    out.range(key("stream_max_subscribers"), x.stream_max_subscribers, 1, 4096);
  } else if (x.url.path.empty()) {
    out.add(error_kind::invalid_value, key("url"), toml_quote(to_string(x.url)),
            "expected \"jsonl:stdout\", \"jsonl:/PATH\" or \"flowlog:/PATH\"");
  }
  if (x.url.is_clickhouse())
    check_clickhouse(out, x, i);
  if (x.url.kind == destination_kind::flowlog)
    check_flow_log(out, x, i);
  if (x.max_message_size != 0) {
    auto hi =
        x.url.kind == destination_kind::ipfix_udp ? max_udp_message_size : max_ipfix_message_size;
    if (x.max_message_size < min_ipfix_message_size || x.max_message_size > hi)
      out.add(error_kind::invalid_value, key("max_message_size"),
              std::to_string(x.max_message_size),
              "expected 0 (the transport default) or an integer from " +
                  std::to_string(min_ipfix_message_size) + " to " + std::to_string(hi) +
                  (hi == max_udp_message_size ? " (the largest UDP payload)" : ""));
  }
  out.positive(key("flush_interval"), x.flush_interval);
  out.range(key("replay_window"), x.replay_window, 0, 1ull << 30);
  out.positive(key("template_refresh"), x.template_refresh);
  out.positive(key("reconnect_min"), x.reconnect_min);
  out.positive(key("reconnect_max"), x.reconnect_max);
  if (x.reconnect_max < x.reconnect_min)
    out.add(error_kind::invalid_value, key("reconnect_max"), quoted_duration(x.reconnect_max),
            "expected at least reconnect_min (" + format_duration(x.reconnect_min) + ")");
  out.tls_version(key("tls_min_version"), x.tls_min_version);
  if (x.tls_cert.empty() != x.tls_key.empty())
    out.add(error_kind::missing_key, key(x.tls_cert.empty() ? "tls_cert" : "tls_key"), {},
            "tls_cert and tls_key go together: a client certificate needs its key");
  auto message_size = effective_max_message_size(x);
  if (x.queue_size < message_size)
    out.add(error_kind::invalid_value, key("queue_size"), toml_quote(format_size(x.queue_size)),
            "expected at least the destination's max_message_size (" +
                std::to_string(message_size) + " bytes), such as \"64MiB\"");
}

void check_destinations(checker& out, const std::vector<destination_config>& xs) {
  if (xs.empty())
    out.add(error_kind::missing_key, "destination", {},
            "at least one [[destination]] is required, such as name = \"stdout\" with "
            "url = \"jsonl:stdout\"");
  std::map<std::string, std::size_t> names;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    check_destination(out, xs[i], i);
    if (xs[i].name.empty())
      continue;
    auto [it, added] = names.emplace(xs[i].name, i);
    if (!added)
      out.add(error_kind::invalid_value, element_path("destination", i, "name"),
              toml_quote(xs[i].name),
              "expected a unique name; destination[" + std::to_string(it->second) +
                  "] already uses it");
  }
}

void check_aggregate(checker& out, const aggregate_config& x) {
  auto at_least_a_second = [&out](const std::string& key, duration d) {
    if (d < min_aggregate_timeout)
      out.add(error_kind::invalid_value, key, quoted_duration(d),
              "expected a duration of at least \"1s\", such as \"60s\"");
  };
  at_least_a_second("aggregate.active_timeout", x.active_timeout);
  at_least_a_second("aggregate.inactive_timeout", x.inactive_timeout);
  out.range("aggregate.max_flows", x.max_flows, 1, max_aggregate_flows);
  out.range("aggregate.shards", x.shards, 0, max_threads);
}

} // namespace

std::vector<config_error> validate(const config& cfg) {
  checker out;
  if (!printable(cfg.cluster_id))
    out.add(error_kind::invalid_value, "cluster_id", toml_quote(cfg.cluster_id),
            "expected printable text, such as a UUID, or \"\" to generate one");
  check_collector(out, cfg.collector);
  check_destinations(out, cfg.destinations);
  check_aggregate(out, cfg.aggregate);
  if (cfg.labels.source == label_source::file)
    out.required("labels.file", cfg.labels.file,
                 "when labels.source = \"file\": a JSON-lines file of Pods");
  out.not_negative("labels.deleted_pod_retention", cfg.labels.deleted_pod_retention);
  out.positive("kubernetes.watch_idle_timeout", cfg.kubernetes.watch_idle_timeout);
  if (cfg.kubernetes.client_cert.empty() != cfg.kubernetes.client_key.empty())
    out.add(error_kind::missing_key,
            cfg.kubernetes.client_cert.empty() ? "kubernetes.client_cert" : "kubernetes.client_key",
            {}, "client_cert and client_key go together");
  if (cfg.admin.tls_cert.empty() != cfg.admin.tls_key.empty())
    out.add(error_kind::missing_key,
            cfg.admin.tls_cert.empty() ? "admin.tls_cert" : "admin.tls_key", {},
            "admin.tls_cert and admin.tls_key go together: HTTPS needs both the certificate and "
            "its key (or set both to \"\" for plain HTTP)");
  out.range("runtime.workers", cfg.runtime.workers, 0, max_threads);
  out.range("runtime.io_threads", cfg.runtime.io_threads, 1, max_threads);
  out.range("runtime.enrichers", cfg.runtime.enrichers, 0, max_enrichers);
  out.range("runtime.idle_spin", cfg.runtime.idle_spin, 0, max_idle_spin);
  out.within("runtime.idle_poll", cfg.runtime.idle_poll, duration::zero(), std::chrono::seconds{1});
  out.within("runtime.idle_sleep", cfg.runtime.idle_sleep, std::chrono::milliseconds{1},
             std::chrono::seconds{1});
  out.range("runtime.max_throughput", cfg.runtime.max_throughput, 0, max_throughput);
  out.positive("runtime.shutdown_timeout", cfg.runtime.shutdown_timeout);
  out.not_negative("runtime.memory_trim_interval", cfg.runtime.memory_trim_interval);
  auto unsupported = unsupported_features(cfg);
  out.errors.insert(out.errors.end(), unsupported.begin(), unsupported.end());
  return std::move(out.errors);
}

std::vector<config_error> unsupported_features(const config&) {
  // None at present: mode = "aggregate" (issue 11) was the last. A feature of the
  // contract that parses before it is implemented gets an error here, of kind
  // `unsupported`, whose message names the value and says "is not supported yet in this
  // version; use ..." (the value itself, so `to_string` prints no "is not valid").
  return {};
}

std::vector<std::string> warnings(const config& cfg) {
  std::vector<std::string> out;
  if (cfg.fanout.mode == fanout_mode::flow && cfg.destinations.size() == 1)
    out.push_back("fanout.mode = \"flow\" with one destination: every record goes to it, "
                  "so the flow key is read for nothing; list every aggregator shard as a "
                  "[[destination]], or use \"all\"");
  if (cfg.fanout.failover && cfg.fanout.mode != fanout_mode::flow)
    out.push_back("fanout.failover = true applies to fanout.mode = \"flow\" only; it is "
                  "ignored with \"" +
                  std::string{to_string(cfg.fanout.mode)} + "\"");
  // README "Scaling out aggregate mode": a shard gets records only from the proxies,
  // which send IPFIX over TCP or TLS. A gRPC or UDP listener serves no proxy, only
  // agents exporting to it directly, whose records skip the proxies' routing by flow:
  // the two Nodes of a connection then land on different shards and are exported
  // uncorrelated, each shard holding half.
  if (cfg.mode == run_mode::aggregate && cfg.aggregate.scaled_out)
    for (const auto& l : cfg.collector.listen)
      if (l.transport != transport_kind::tcp && l.transport != transport_kind::tls)
        out.push_back("aggregate.scaled_out = true with the listener \"" + to_string(l) +
                      "\": agents exporting to it directly bypass the fanout = \"flow\" "
                      "proxies, so both Nodes' records of a connection can reach different "
                      "shards and are exported uncorrelated; point the agents at the "
                      "proxies' Service and keep only the tcp:// or tls:// listener the "
                      "proxies send to");
  if (cfg.aggregate.scaled_out && cfg.mode != run_mode::aggregate)
    out.push_back("aggregate.scaled_out = true applies to mode = \"aggregate\" only (a "
                  "shard behind the proxies); it is ignored in proxy mode");
  return out;
}

} // namespace fa::config
