#include "config/render.hpp"

#include "config/cluster_id.hpp"
#include "config/units.hpp"

#include <cstdio>

namespace fa::config {

std::string toml_quote(std::string_view text) {
  std::string result = "\"";
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
    case '"':
      result += "\\\"";
      break;
    case '\\':
      result += "\\\\";
      break;
    case '\n':
      result += "\\n";
      break;
    case '\t':
      result += "\\t";
      break;
    case '\r':
      result += "\\r";
      break;
    default:
      if (u < 0x20 || u == 0x7f) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\u%04x", u);
        result += buf;
      } else {
        result += c;
      }
    }
  }
  result += '"';
  return result;
}

namespace {

/// Appends `key = value` lines; the comment, if any, goes after the value.
class writer {
 public:
  explicit writer(bool redact_secrets)
      : redact_secrets_(redact_secrets) {}

  void table(std::string_view header) {
    text_ += "\n";
    text_ += header;
    text_ += "\n";
  }

  void raw(std::string_view key, const std::string& value, std::string_view comment = {}) {
    text_ += key;
    text_ += " = ";
    text_ += value;
    if (!comment.empty()) {
      text_ += "  # ";
      text_ += comment;
    }
    text_ += "\n";
  }

  void str(std::string_view key, std::string_view value) { raw(key, toml_quote(value)); }

  /// A path to a file whose contents are secret.
  void secret_path(std::string_view key, std::string_view value) {
    raw(key, toml_quote(value),
        redact_secrets_ ? "secret: file contents are never shown" : std::string_view{});
  }

  void boolean(std::string_view key, bool value) { raw(key, value ? "true" : "false"); }

  void integer(std::string_view key, std::uint64_t value, std::string_view comment = {}) {
    raw(key, std::to_string(value), comment);
  }

  void time(std::string_view key, duration value) { str(key, format_duration(value)); }

  void size(std::string_view key, byte_size value) {
    auto text = format_size(value);
    raw(key, text == std::to_string(value) ? text : toml_quote(text));
  }

  void strings(std::string_view key, const std::vector<std::string>& values) {
    std::string list = "[";
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i != 0)
        list += ", ";
      list += toml_quote(values[i]);
    }
    list += "]";
    raw(key, list);
  }

  std::string take() { return std::move(text_); }

 private:
  bool redact_secrets_;
  std::string text_;
};

/// `[{ingress_network_policy_rule_actions = ["Drop"], egress_network_policy_rule_actions = []}]`
std::string render_filters(const std::vector<flow_log_filter>& filters) {
  auto actions = [](const std::vector<rule_action>& xs) {
    std::string list = "[";
    for (std::size_t i = 0; i < xs.size(); ++i)
      list += (i != 0 ? ", " : "") + toml_quote(to_string(xs[i]));
    return list + "]";
  };
  std::string text = "[";
  for (std::size_t i = 0; i < filters.size(); ++i) {
    text += i != 0 ? ", " : "";
    text += "{ingress_network_policy_rule_actions = " +
            actions(filters[i].ingress_network_policy_rule_actions) +
            ", egress_network_policy_rule_actions = " +
            actions(filters[i].egress_network_policy_rule_actions) + "}";
  }
  return text + "]";
}

} // namespace

std::string render_effective(const config& cfg, bool redact_secrets) {
  writer out{redact_secrets};
  out.str("mode", to_string(cfg.mode));
  out.str("cluster_id", cfg.cluster_id);

  const auto& col = cfg.collector;
  out.table("[collector]");
  std::vector<std::string> listen;
  for (const auto& ep : col.listen)
    listen.push_back(to_string(ep));
  out.strings("listen", listen);
  out.integer("max_sessions", col.max_sessions);
  out.integer("max_message_size", col.max_message_size);
  out.size("session_budget", col.session_budget);
  out.size("receive_budget", col.receive_budget);
  out.integer("max_templates_per_session", col.max_templates_per_session);
  out.time("template_lifetime", col.template_lifetime);
  out.size("udp_receive_buffer", col.udp_receive_buffer);
  out.time("udp_idle_timeout", col.udp_idle_timeout);
  out.time("message_timeout", col.message_timeout);
  out.integer("max_tcp_sessions", col.max_tcp_sessions);
  out.integer("max_udp_sessions", col.max_udp_sessions);
  out.integer("max_sessions_per_address", col.max_sessions_per_address);
  out.time("first_message_timeout", col.first_message_timeout);
  out.time("tcp_idle_timeout", col.tcp_idle_timeout);
  out.time("udp_untemplated_idle_timeout", col.udp_untemplated_idle_timeout);
  out.size("template_budget", col.template_budget);
  out.size("template_budget_per_exporter", col.template_budget_per_exporter);
  out.time("output_id_idle_timeout", col.output_id_idle_timeout);

  out.table("[collector.tls]");
  out.str("cert", col.tls.cert);
  out.secret_path("key", col.tls.key);
  out.str("client_ca", col.tls.client_ca);
  out.strings("allowed_names", col.tls.allowed_names);
  out.time("handshake_timeout", col.tls.handshake_timeout);
  out.integer("max_handshakes", col.tls.max_handshakes);
  out.str("min_version", col.tls.min_version);

  out.table("[collector.grpc]");
  out.size("max_message_size", col.grpc.max_message_size);
  out.time("keepalive_time", col.grpc.keepalive_time);
  out.time("keepalive_timeout", col.grpc.keepalive_timeout);
  out.boolean("include_k8s_uids", col.grpc.include_k8s_uids);

  for (const auto& dst : cfg.destinations) {
    out.table("[[destination]]");
    out.str("name", dst.name);
    out.str("url", to_string(dst.url));
    if (dst.observation_domain_id.value_or(0) != 0)
      out.integer("observation_domain_id", *dst.observation_domain_id);
    else if (!cfg.cluster_id.empty())
      out.integer("observation_domain_id", 0,
                  "derived from cluster_id: " + std::to_string(export_odid(cfg, dst)));
    else
      out.integer("observation_domain_id", 0, "derived from cluster_id");
    bool transport_default = dst.max_message_size == 0 && dst.url.is_ipfix();
    out.integer("max_message_size", dst.max_message_size,
                transport_default
                    ? "transport default: " + std::to_string(effective_max_message_size(dst))
                    : std::string{});
    out.time("flush_interval", dst.flush_interval);
    out.time("template_refresh", dst.template_refresh);
    out.integer("template_refresh_messages", dst.template_refresh_messages);
    out.boolean("udp_gso", dst.udp_gso);
    out.size("queue_size", dst.queue_size);
    out.str("on_full", to_string(dst.on_full));
    out.size("replay_window", dst.replay_window);
    out.time("reconnect_min", dst.reconnect_min);
    out.time("reconnect_max", dst.reconnect_max);
    out.str("tls_ca", dst.tls_ca);
    out.str("tls_cert", dst.tls_cert);
    out.secret_path("tls_key", dst.tls_key);
    out.str("tls_server_name", dst.tls_server_name);
    out.str("tls_min_version", dst.tls_min_version);
    out.str("user", dst.user);
    out.secret_path("password_file", dst.password_file);
    out.time("commit_interval", dst.commit_interval);
    out.integer("max_rows", dst.max_rows);
    out.str("compression", to_string(dst.compression));
    out.str("format", to_string(dst.format));
    out.boolean("pretty_print", dst.pretty_print);
    out.size("max_size", dst.max_size);
    out.integer("max_backups", dst.max_backups);
    out.time("max_age", dst.max_age);
    out.boolean("compress", dst.compress);
    if (!dst.filters.empty())
      out.raw("filters", render_filters(dst.filters));
    out.integer("stream_buffer", dst.stream_buffer);
    out.integer("stream_max_subscribers", dst.stream_max_subscribers);
  }

  out.table("[fanout]");
  out.str("mode", to_string(cfg.fanout.mode));
  out.boolean("failover", cfg.fanout.failover);

  const auto& agg = cfg.aggregate;
  out.table("[aggregate]");
  out.time("active_timeout", agg.active_timeout);
  out.time("inactive_timeout", agg.inactive_timeout);
  out.str("uncorrelated", to_string(agg.uncorrelated));
  out.integer("max_flows", agg.max_flows);
  out.integer("shards", agg.shards, agg.shards == 0 ? "0 = the number of workers" : "");
  out.boolean("scaled_out", agg.scaled_out);

  const auto& enr = cfg.enrichment;
  out.table("[enrichment]");
  out.boolean("provenance", enr.provenance);
  out.boolean("antrea", enr.antrea);
  out.boolean("pod_labels", enr.pod_labels);
  out.boolean("fill_k8s_names", enr.fill_k8s_names);
  out.boolean("labels_for_foreign_records", enr.labels_for_foreign_records);

  out.table("[labels]");
  out.str("source", to_string(cfg.labels.source));
  out.str("file", cfg.labels.file);
  out.time("deleted_pod_retention", cfg.labels.deleted_pod_retention);

  out.table("[kubernetes]");
  out.str("api_server", cfg.kubernetes.api_server);
  out.secret_path("token_file", cfg.kubernetes.token_file);
  out.str("ca_file", cfg.kubernetes.ca_file);
  out.str("client_cert", cfg.kubernetes.client_cert);
  out.secret_path("client_key", cfg.kubernetes.client_key);
  out.time("watch_idle_timeout", cfg.kubernetes.watch_idle_timeout);

  out.table("[admin]");
  out.str("listen", cfg.admin.listen ? to_string(*cfg.admin.listen) : std::string{});
  out.secret_path("token_file", cfg.admin.token_file);
  out.str("tls_cert", cfg.admin.tls_cert);
  out.secret_path("tls_key", cfg.admin.tls_key);

  const auto& rt = cfg.runtime;
  out.table("[runtime]");
  out.integer("workers", rt.workers);
  out.integer("io_threads", rt.io_threads);
  out.integer("enrichers", rt.enrichers);
  out.integer("idle_spin", rt.idle_spin);
  out.time("idle_poll", rt.idle_poll);
  out.time("idle_sleep", rt.idle_sleep);
  out.integer("max_throughput", rt.max_throughput);
  out.str("log_level", to_string(rt.log_level));
  out.str("log_format", to_string(rt.log_format));
  out.time("shutdown_timeout", rt.shutdown_timeout);
  out.time("memory_trim_interval", rt.memory_trim_interval);
  return out.take();
}

} // namespace fa::config
