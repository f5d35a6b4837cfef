#include "config/load.hpp"

#include "config/schema.hpp"

#include "test/config/helpers.hpp"

#include <gtest/gtest.h>
#include <toml++/toml.h>

#include <fstream>
#include <set>

using namespace std::chrono_literals;
using namespace fa::config;
using fa::config::test::destination;

namespace {

/// The smallest valid file: one listener, one destination.
constexpr std::string_view minimal = R"([collector]
listen = ["tcp://0.0.0.0:4739"]

[[destination]]
name = "main"
url = "jsonl:stdout"
)";

load_result load(std::string_view text) {
  return load_string(text, "test.toml");
}

std::string cat(std::string_view a, std::string_view b) {
  return std::string{a} + std::string{b};
}

/// 1-based line and column of the first `needle` in `text`.
std::pair<std::uint32_t, std::uint32_t> position_of(std::string_view text,
                                                    std::string_view needle) {
  auto at = text.find(needle);
  EXPECT_NE(at, std::string_view::npos) << needle;
  if (at == std::string_view::npos)
    return {0, 0};
  auto before = text.substr(0, at);
  auto line = static_cast<std::uint32_t>(std::count(before.begin(), before.end(), '\n') + 1);
  auto line_start = before.rfind('\n');
  auto column =
      static_cast<std::uint32_t>(line_start == std::string_view::npos ? at + 1 : at - line_start);
  return {line, column};
}

std::string dump(const load_result& r) {
  return to_string(r.errors);
}

// -- defaults and the happy path ---------------------------------------------

TEST(load, minimal_file_gets_every_default) {
  auto r = load(minimal);
  ASSERT_TRUE(r) << dump(r);
  EXPECT_TRUE(r.errors.empty());
  const auto& c = *r.cfg;
  EXPECT_EQ(c.mode, run_mode::proxy);
  EXPECT_EQ(c.cluster_id, "");
  ASSERT_EQ(c.collector.listen.size(), 1u);
  EXPECT_EQ(c.collector.listen[0], (listen_endpoint{transport_kind::tcp, "0.0.0.0", 4739}));
  EXPECT_EQ(c.collector.max_sessions, 10000u);
  EXPECT_EQ(c.collector.max_message_size, 65535u);
  EXPECT_EQ(c.collector.session_budget, 4u << 20);
  EXPECT_EQ(c.collector.receive_budget, 32u << 20);
  EXPECT_EQ(c.collector.max_templates_per_session, 4096u);
  EXPECT_EQ(c.collector.template_lifetime, 1800s);
  EXPECT_EQ(c.collector.max_tcp_sessions, 10000u);
  EXPECT_EQ(c.collector.max_udp_sessions, 5000u);
  EXPECT_EQ(c.collector.max_sessions_per_address, 1000u);
  EXPECT_EQ(c.collector.first_message_timeout, 30s);
  EXPECT_EQ(c.collector.tcp_idle_timeout, 30min);
  EXPECT_EQ(c.collector.udp_untemplated_idle_timeout, 60s);
  EXPECT_EQ(c.collector.template_budget, 64u << 20);
  EXPECT_EQ(c.collector.template_budget_per_exporter, 4u << 20);
  EXPECT_EQ(c.collector.output_id_idle_timeout, 10min);
  // Antrea's includeK8sUIDs is false by default (antrea-aggregate-semantics.md f.2).
  EXPECT_FALSE(c.collector.grpc.include_k8s_uids);
  EXPECT_EQ(c.collector.tls.cert, "/etc/flow-aggregator/tls/tls.crt");
  EXPECT_EQ(c.collector.tls.key, "/etc/flow-aggregator/tls/tls.key");
  EXPECT_EQ(c.collector.tls.client_ca, "");
  EXPECT_TRUE(c.collector.tls.allowed_names.empty());
  ASSERT_EQ(c.destinations.size(), 1u);
  const auto& d = c.destinations[0];
  EXPECT_EQ(d.name, "main");
  EXPECT_TRUE(d.url.is_stdout());
  EXPECT_EQ(d.observation_domain_id, std::nullopt);
  EXPECT_EQ(d.max_message_size, 0u);
  EXPECT_EQ(d.flush_interval, 10ms);
  EXPECT_EQ(d.template_refresh, 600s);
  EXPECT_EQ(d.queue_size, 64u << 20);
  EXPECT_EQ(d.on_full, on_full_policy::block);
  EXPECT_EQ(d.reconnect_min, 1s);
  EXPECT_EQ(d.reconnect_max, 60s);
  EXPECT_EQ(c.fanout.mode, fanout_mode::all);
  EXPECT_EQ(c.aggregate.active_timeout, 60s);
  EXPECT_EQ(c.aggregate.inactive_timeout, 90s);
  EXPECT_EQ(c.aggregate.uncorrelated, uncorrelated_policy::export_flow);
  EXPECT_EQ(c.aggregate.max_flows, 2'000'000u);
  EXPECT_EQ(c.aggregate.shards, 0u);
  EXPECT_FALSE(c.aggregate.scaled_out);
  EXPECT_FALSE(c.fanout.failover);
  EXPECT_TRUE(c.enrichment.provenance);
  EXPECT_TRUE(c.enrichment.antrea);
  EXPECT_TRUE(c.enrichment.pod_labels);
  EXPECT_TRUE(c.enrichment.fill_k8s_names);
  EXPECT_FALSE(c.enrichment.labels_for_foreign_records);
  EXPECT_EQ(c.labels.source, label_source::none);
  EXPECT_EQ(c.labels.file, "");
  EXPECT_EQ(c.labels.deleted_pod_retention, 5min);
  EXPECT_EQ(c.kubernetes.api_server, "");
  EXPECT_EQ(c.kubernetes.token_file, "");
  EXPECT_EQ(c.kubernetes.ca_file, "");
  EXPECT_EQ(c.admin.listen, (host_port{"127.0.0.1", 10348}));
  EXPECT_EQ(c.admin.token_file, "");
  EXPECT_EQ(c.admin.tls_cert, "");
  EXPECT_EQ(c.admin.tls_key, "");
  EXPECT_EQ(c.runtime.workers, 0u);
  EXPECT_EQ(c.runtime.io_threads, 1u);
  EXPECT_EQ(c.runtime.enrichers, 0u);
  EXPECT_EQ(c.runtime.log_level, log_level::info);
  EXPECT_EQ(c.runtime.log_format, log_format::text);
}

TEST(load, struct_defaults_equal_file_defaults) {
  auto r = load(minimal);
  ASSERT_TRUE(r) << dump(r);
  config expected;
  expected.collector.listen.push_back(listen_endpoint{});
  expected.destinations.push_back(destination("main"));
  EXPECT_EQ(*r.cfg, expected);
}

/// Every key of the schema, none at its default where another value is supported.
constexpr std::string_view every_key = R"(mode = "proxy"
cluster_id = "9e1a4c4f-7b7c-4a59-9a51-0d6d7f0f2b11"

[collector]
listen = ["tcp://127.0.0.1:0", "tcp://[::1]:14739"]
max_sessions = 50
max_message_size = "32KiB"
session_budget = "1MiB"
receive_budget = "16MiB"
max_templates_per_session = 100
template_lifetime = "15m"
udp_receive_buffer = "16MiB"
udp_idle_timeout = "10m"
message_timeout = "45s"
max_tcp_sessions = 40
max_udp_sessions = 30
max_sessions_per_address = 20
first_message_timeout = "5s"
tcp_idle_timeout = "20m"
udp_untemplated_idle_timeout = "90s"
template_budget = "8MiB"
template_budget_per_exporter = "1MiB"
output_id_idle_timeout = "2m"

[collector.tls]
cert = "/c.crt"
key = "/c.key"
client_ca = "/ca.crt"
allowed_names = ["node-a", "node-b"]
handshake_timeout = "3s"
max_handshakes = 8
min_version = "1.3"

[collector.grpc]
max_message_size = "1MiB"
keepalive_time = "1m"
keepalive_timeout = "5s"
include_k8s_uids = true

[[destination]]
name = "a"
url = "ipfix+tcp://collector.example:9995"
observation_domain_id = 77
max_message_size = 1400
flush_interval = "250us"
template_refresh = "5m"
queue_size = 1048576
on_full = "drop"
replay_window = "2MiB"
reconnect_min = "500ms"
reconnect_max = "2m"
template_refresh_messages = 100
udp_gso = false
tls_ca = "/dca.crt"
tls_cert = "/dc.crt"
tls_key = "/dc.key"
tls_server_name = "collector.internal"
tls_min_version = "1.3"
stream_buffer = 1000
stream_max_subscribers = 3

[[destination]]
name = "b"
url = "jsonl:/tmp/flows.jsonl"
observation_domain_id = 0

[[destination]]
name = "c"
url = "clickhouse+https://ch.example/?database=netflow&table=flows_v2"
user = "fa"
password_file = "/pw"
commit_interval = "8s"
max_rows = 5000
compression = "gzip"
format = "JSONEachRow"

[[destination]]
name = "d"
url = "flowlog:/var/log/fa/flows.csv"
pretty_print = false
max_size = "10MiB"
max_backups = 7
max_age = "168h"
compress = false
filters = [{ingress_network_policy_rule_actions = ["Drop", "Reject"]},
           {egress_network_policy_rule_actions = ["None"]}]

[fanout]
mode = "all"
failover = true

[aggregate]
active_timeout = "5s"
inactive_timeout = "7s"
uncorrelated = "drop"
max_flows = 1000
shards = 3
scaled_out = true

[enrichment]
provenance = false
antrea = false
pod_labels = false
fill_k8s_names = false
labels_for_foreign_records = true

[labels]
source = "none"
file = "/pods.jsonl"
deleted_pod_retention = "1h"

[kubernetes]
api_server = "https://k8s.example:6443"
token_file = "/t"
ca_file = "/ca"
client_cert = "/kc.crt"
client_key = "/kc.key"
watch_idle_timeout = "90s"

[admin]
listen = "[::1]:0"
token_file = "/admin-token"
tls_cert = "/admin.crt"
tls_key = "/admin.key"

[runtime]
workers = 4
io_threads = 2
enrichers = 8
idle_spin = 20
idle_poll = "1ms"
idle_sleep = "50ms"
max_throughput = 300
log_level = "debug"
log_format = "json"
shutdown_timeout = "45s"
memory_trim_interval = "30s"
)";

TEST(load, every_key_parses) {
  auto r = load(every_key);
  ASSERT_TRUE(r) << dump(r);
  const auto& c = *r.cfg;
  EXPECT_EQ(c.cluster_id, "9e1a4c4f-7b7c-4a59-9a51-0d6d7f0f2b11");
  ASSERT_EQ(c.collector.listen.size(), 2u);
  EXPECT_EQ(c.collector.listen[0], (listen_endpoint{transport_kind::tcp, "127.0.0.1", 0}));
  EXPECT_EQ(c.collector.listen[1], (listen_endpoint{transport_kind::tcp, "::1", 14739}));
  EXPECT_EQ(c.collector.max_sessions, 50u);
  EXPECT_EQ(c.collector.max_message_size, 32768u);
  EXPECT_EQ(c.collector.session_budget, 1u << 20);
  EXPECT_EQ(c.collector.receive_budget, 16u << 20);
  EXPECT_EQ(c.collector.max_templates_per_session, 100u);
  EXPECT_EQ(c.collector.template_lifetime, 15min);
  EXPECT_EQ(c.collector.tls.cert, "/c.crt");
  EXPECT_EQ(c.collector.tls.key, "/c.key");
  EXPECT_EQ(c.collector.tls.client_ca, "/ca.crt");
  EXPECT_EQ(c.collector.tls.allowed_names, (std::vector<std::string>{"node-a", "node-b"}));
  EXPECT_EQ(c.collector.udp_receive_buffer, 16u << 20);
  EXPECT_EQ(c.collector.udp_idle_timeout, 10min);
  EXPECT_EQ(c.collector.message_timeout, 45s);
  EXPECT_EQ(c.collector.max_tcp_sessions, 40u);
  EXPECT_EQ(c.collector.max_udp_sessions, 30u);
  EXPECT_EQ(c.collector.max_sessions_per_address, 20u);
  EXPECT_EQ(c.collector.first_message_timeout, 5s);
  EXPECT_EQ(c.collector.tcp_idle_timeout, 20min);
  EXPECT_EQ(c.collector.udp_untemplated_idle_timeout, 90s);
  EXPECT_EQ(c.collector.template_budget, 8u << 20);
  EXPECT_EQ(c.collector.template_budget_per_exporter, 1u << 20);
  EXPECT_EQ(c.collector.output_id_idle_timeout, 2min);
  EXPECT_EQ(c.collector.tls.handshake_timeout, 3s);
  EXPECT_EQ(c.collector.tls.max_handshakes, 8u);
  EXPECT_EQ(c.collector.tls.min_version, "1.3");
  EXPECT_EQ(c.collector.grpc.max_message_size, 1u << 20);
  EXPECT_EQ(c.collector.grpc.keepalive_time, 1min);
  EXPECT_EQ(c.collector.grpc.keepalive_timeout, 5s);
  EXPECT_TRUE(c.collector.grpc.include_k8s_uids);
  ASSERT_EQ(c.destinations.size(), 4u);
  const auto& a = c.destinations[0];
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.url.kind, destination_kind::ipfix_tcp);
  EXPECT_EQ(a.url.host, "collector.example");
  EXPECT_EQ(a.url.port, 9995);
  EXPECT_EQ(a.observation_domain_id, 77u);
  EXPECT_EQ(a.max_message_size, 1400u);
  EXPECT_EQ(a.flush_interval, 250us);
  EXPECT_EQ(a.template_refresh, 5min);
  EXPECT_EQ(a.queue_size, 1048576u);
  EXPECT_EQ(a.on_full, on_full_policy::drop);
  EXPECT_EQ(a.replay_window, 2u << 20);
  EXPECT_EQ(a.reconnect_min, 500ms);
  EXPECT_EQ(a.reconnect_max, 2min);
  EXPECT_EQ(a.template_refresh_messages, 100u);
  EXPECT_FALSE(a.udp_gso);
  EXPECT_EQ(a.tls_ca, "/dca.crt");
  EXPECT_EQ(a.tls_cert, "/dc.crt");
  EXPECT_EQ(a.tls_key, "/dc.key");
  EXPECT_EQ(a.tls_server_name, "collector.internal");
  EXPECT_EQ(a.tls_min_version, "1.3");
  EXPECT_EQ(a.stream_buffer, 1000u);
  EXPECT_EQ(a.stream_max_subscribers, 3u);
  const auto& b = c.destinations[1];
  EXPECT_EQ(b.name, "b");
  EXPECT_EQ(b.url.kind, destination_kind::jsonl);
  EXPECT_EQ(b.url.path, "/tmp/flows.jsonl");
  EXPECT_EQ(b.observation_domain_id, std::nullopt); // 0 = derived
  EXPECT_EQ(c.aggregate.active_timeout, 5s);
  EXPECT_EQ(c.aggregate.inactive_timeout, 7s);
  EXPECT_EQ(c.aggregate.uncorrelated, uncorrelated_policy::drop);
  EXPECT_EQ(c.aggregate.max_flows, 1000u);
  EXPECT_EQ(c.aggregate.shards, 3u);
  EXPECT_TRUE(c.aggregate.scaled_out);
  EXPECT_TRUE(c.fanout.failover);
  const auto& ch = c.destinations[2];
  EXPECT_EQ(ch.url.kind, destination_kind::clickhouse_https);
  EXPECT_EQ(ch.url.host, "ch.example");
  EXPECT_EQ(ch.url.port, 8443) << "the HTTPS interface's default port";
  EXPECT_EQ(ch.url.database, "netflow");
  EXPECT_EQ(ch.url.table, "flows_v2");
  EXPECT_EQ(ch.user, "fa");
  EXPECT_EQ(ch.password_file, "/pw");
  EXPECT_EQ(ch.commit_interval, 8s);
  EXPECT_EQ(ch.max_rows, 5000u);
  EXPECT_EQ(ch.compression, compression_kind::gzip);
  EXPECT_EQ(ch.format, clickhouse_format::json_each_row);
  const auto& fl = c.destinations[3];
  EXPECT_EQ(fl.url.kind, destination_kind::flowlog);
  EXPECT_EQ(fl.url.path, "/var/log/fa/flows.csv");
  EXPECT_FALSE(fl.pretty_print);
  EXPECT_EQ(fl.max_size, 10u << 20);
  EXPECT_EQ(fl.max_backups, 7u);
  EXPECT_EQ(fl.max_age, 168h);
  EXPECT_FALSE(fl.compress);
  ASSERT_EQ(fl.filters.size(), 2u);
  EXPECT_EQ(fl.filters[0].ingress_network_policy_rule_actions,
            (std::vector<rule_action>{rule_action::drop, rule_action::reject}));
  EXPECT_TRUE(fl.filters[0].egress_network_policy_rule_actions.empty());
  EXPECT_EQ(fl.filters[1].egress_network_policy_rule_actions,
            (std::vector<rule_action>{rule_action::none}));
  EXPECT_FALSE(c.enrichment.provenance);
  EXPECT_FALSE(c.enrichment.antrea);
  EXPECT_FALSE(c.enrichment.pod_labels);
  EXPECT_FALSE(c.enrichment.fill_k8s_names);
  EXPECT_TRUE(c.enrichment.labels_for_foreign_records);
  EXPECT_EQ(c.labels.file, "/pods.jsonl");
  EXPECT_EQ(c.labels.deleted_pod_retention, 1h);
  EXPECT_EQ(c.kubernetes.api_server, "https://k8s.example:6443");
  EXPECT_EQ(c.kubernetes.token_file, "/t");
  EXPECT_EQ(c.kubernetes.ca_file, "/ca");
  EXPECT_EQ(c.kubernetes.client_cert, "/kc.crt");
  EXPECT_EQ(c.kubernetes.client_key, "/kc.key");
  EXPECT_EQ(c.kubernetes.watch_idle_timeout, 90s);
  EXPECT_EQ(c.admin.listen, (host_port{"::1", 0}));
  EXPECT_EQ(c.admin.token_file, "/admin-token");
  EXPECT_EQ(c.admin.tls_cert, "/admin.crt");
  EXPECT_EQ(c.admin.tls_key, "/admin.key");
  EXPECT_EQ(c.runtime.workers, 4u);
  EXPECT_EQ(c.runtime.io_threads, 2u);
  EXPECT_EQ(c.runtime.enrichers, 8u);
  EXPECT_EQ(c.runtime.idle_spin, 20u);
  EXPECT_EQ(c.runtime.idle_poll, 1ms);
  EXPECT_EQ(c.runtime.idle_sleep, 50ms);
  EXPECT_EQ(c.runtime.max_throughput, 300u);
  EXPECT_EQ(c.runtime.log_level, log_level::debug);
  EXPECT_EQ(c.runtime.log_format, log_format::json);
  EXPECT_EQ(c.runtime.shutdown_timeout, 45s);
  EXPECT_EQ(c.runtime.memory_trim_interval, 30s);
}

TEST(load, the_every_key_test_covers_the_whole_schema) {
  // Guards the test above: a key added to the schema must be added there too.
  EXPECT_EQ(fa::config::test::written_keys(toml::parse(every_key)),
            fa::config::test::schema_key_set());
}

TEST(load, flow_log_filters_take_antreas_action_names) {
  auto r = load(cat(minimal, "filters = [{ingress_network_policy_rule_actions = [\"drop\"]},\n"
                             "           {egress_rule_actions = [\"Drop\"]}, \"Drop\"]\n"));
  ASSERT_FALSE(r);
  auto text = dump(r);
  EXPECT_NE(text.find("filters[0].ingress_network_policy_rule_actions[0]"), std::string::npos)
      << text;
  EXPECT_NE(text.find("expected \"None\", \"Allow\", \"Drop\" or \"Reject\""), std::string::npos)
      << text;
  EXPECT_NE(text.find("filters[1].egress_rule_actions"), std::string::npos) << text;
  EXPECT_NE(text.find("\"egress_network_policy_rule_actions\""), std::string::npos) << text;
  EXPECT_NE(text.find("filters[2]"), std::string::npos) << text;
}

TEST(load, admin_can_be_disabled_and_odid_zero_means_derived) {
  auto r = load(cat(minimal, "observation_domain_id = 0\n\n[admin]\nlisten = \"\"\n"));
  ASSERT_TRUE(r) << dump(r);
  EXPECT_EQ(r.cfg->admin.listen, std::nullopt);
  EXPECT_EQ(r.cfg->destinations[0].observation_domain_id, std::nullopt);
}

TEST(load, inline_tables_and_dotted_keys_are_tables_too) {
  auto r = load(R"(collector = { listen = ["tcp://0.0.0.0:1"] }
runtime.log_level = "warn"
destination = [{ name = "x", url = "jsonl:stdout" }]
)");
  ASSERT_TRUE(r) << dump(r);
  EXPECT_EQ(r.cfg->collector.listen[0].port, 1);
  EXPECT_EQ(r.cfg->runtime.log_level, log_level::warn);
  EXPECT_EQ(r.cfg->destinations[0].name, "x");
}

// -- validation errors: file, line, column, key, value, what is valid ----------

struct error_case {
  std::string text;
  std::string key;
  std::string anchor; ///< unique text whose end is `value`; the error points at `value`
  std::string value;  ///< as written; empty for missing keys (they point at the anchor)
  std::string expected;
  error_kind kind = error_kind::invalid_value;
};

std::ostream& operator<<(std::ostream& out, const error_case& x) {
  return out << x.key << " <- " << x.anchor;
}

class load_error : public testing::TestWithParam<error_case> {};

TEST_P(load_error, names_file_line_key_value_and_what_is_valid) {
  const auto& c = GetParam();
  auto r = load(c.text);
  EXPECT_FALSE(r.cfg);
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  const auto& e = r.errors[0];
  EXPECT_EQ(e.kind, c.kind) << to_string(e);
  EXPECT_EQ(e.source, "test.toml");
  EXPECT_EQ(e.key, c.key);
  EXPECT_EQ(e.value, c.value);
  EXPECT_NE(e.message.find(c.expected), std::string::npos) << e.message;
  std::string prefix = "test.toml:";
  if (!c.anchor.empty()) {
    auto [line, column] = position_of(c.text, c.anchor);
    if (!c.value.empty()) // values end their anchor; other errors point at its start
      column += static_cast<std::uint32_t>(c.anchor.size() - c.value.size());
    EXPECT_EQ(e.line, line) << to_string(e);
    EXPECT_EQ(e.column, column) << to_string(e);
    prefix += std::to_string(line) + ":" + std::to_string(column) + ":";
  } else {
    EXPECT_EQ(e.line, 0u);
    prefix.pop_back();
    prefix += ":";
  }
  std::string expected = prefix + " " + c.key + ": ";
  if (!c.value.empty() && c.kind != error_kind::unsupported)
    expected += c.value + " is not valid; ";
  expected += e.message;
  EXPECT_EQ(to_string(e), expected);
}

std::string dest(std::string_view extra) {
  return cat(minimal, extra);
}

std::string top(std::string_view extra) {
  return cat(extra, cat("\n", minimal));
}

std::string listen(std::string_view list) {
  return "[collector]\nlisten = " + std::string{list} +
         "\n\n[[destination]]\nname = \"main\"\nurl = \"jsonl:stdout\"\n";
}

std::string collector(std::string_view extra) {
  return "[collector]\nlisten = [\"tcp://0.0.0.0:4739\"]\n" + std::string{extra} +
         "\n\n[[destination]]\nname = \"main\"\nurl = \"jsonl:stdout\"\n";
}

std::string section(std::string_view header, std::string_view line) {
  return cat(minimal, cat("\n", std::string{header} + "\n" + std::string{line} + "\n"));
}

const std::string uint32_range = "expected an integer from 0 to 4294967295";

INSTANTIATE_TEST_SUITE_P(
    validation, load_error,
    testing::Values(
        // enumerations
        error_case{dest("on_full = \"dorp\""), "destination[0].on_full", "on_full = \"dorp\"",
                   "\"dorp\"", "expected \"block\" or \"drop\""},
        error_case{top("mode = \"fast\""), "mode", "mode = \"fast\"", "\"fast\"",
                   "expected \"proxy\" or \"aggregate\""},
        error_case{section("[fanout]", "mode = \"random\""), "fanout.mode", "mode = \"random\"",
                   "\"random\"", "expected \"all\", \"hash\" or \"flow\""},
        error_case{section("[aggregate]", "uncorrelated = \"keep\""), "aggregate.uncorrelated",
                   "uncorrelated = \"keep\"", "\"keep\"", "expected \"export\" or \"drop\""},
        error_case{section("[aggregate]", "active_timeout = \"500ms\""), "aggregate.active_timeout",
                   "active_timeout = \"500ms\"", "\"500ms\"",
                   "expected a duration of at least \"1s\""},
        error_case{section("[aggregate]", "max_flows = 0"), "aggregate.max_flows", "max_flows = 0",
                   "0", "expected an integer from 1 to 1000000000"},
        error_case{section("[labels]", "source = \"etcd\""), "labels.source", "source = \"etcd\"",
                   "\"etcd\"", "expected \"none\", \"file\" or \"kubernetes\""},
        error_case{section("[runtime]", "log_level = \"verbose\""), "runtime.log_level",
                   "log_level = \"verbose\"", "\"verbose\"",
                   "expected \"trace\", \"debug\", \"info\", \"warn\" or \"error\""},
        error_case{section("[runtime]", "log_format = \"xml\""), "runtime.log_format",
                   "log_format = \"xml\"", "\"xml\"", "expected \"text\" or \"json\""},
        // listeners
        error_case{listen("[\"tcp://0.0.0.0:70000\"]"), "collector.listen[0]",
                   "\"tcp://0.0.0.0:70000\"", "\"tcp://0.0.0.0:70000\"",
                   "port 70000 is out of range; expected 0 to 65535"},
        error_case{listen("[\"tcp://0.0.0.0:1\", \"http://0.0.0.0:80\"]"), "collector.listen[1]",
                   "\"http://0.0.0.0:80\"", "\"http://0.0.0.0:80\"", "unknown scheme \"http\""},
        error_case{listen("[\"tcp://0.0.0.0:4739\", \"tcp://0.0.0.0:4739\"]"),
                   "collector.listen[1]", ", \"tcp://0.0.0.0:4739\"", "\"tcp://0.0.0.0:4739\"",
                   "already used by collector.listen[0]"},
        error_case{listen("[]"), "collector.listen", "[]", "", "at least one listener",
                   error_kind::missing_key},
        // collector limits
        error_case{collector("max_message_size = 100"), "collector.max_message_size",
                   "max_message_size = 100", "100", "expected an integer from 512 to 65535"},
        error_case{collector("max_sessions = 0"), "collector.max_sessions", "max_sessions = 0", "0",
                   "expected an integer from 1 to 4294967295"},
        error_case{collector("max_sessions = -3"), "collector.max_sessions", "max_sessions = -3",
                   "-3", uint32_range},
        error_case{collector("max_templates_per_session = 0"),
                   "collector.max_templates_per_session", "max_templates_per_session = 0", "0",
                   "expected an integer from 1"},
        error_case{collector("session_budget = \"1KiB\""), "collector.session_budget",
                   "session_budget = \"1KiB\"", "\"1KiB\"",
                   "expected at least collector.max_message_size (65535 bytes)"},
        error_case{collector("receive_budget = \"1MiB\""), "collector.receive_budget",
                   "receive_budget = \"1MiB\"", "\"1MiB\"",
                   "expected at least collector.session_budget (4MiB)"},
        error_case{collector("template_lifetime = \"0h\""), "collector.template_lifetime",
                   "template_lifetime = \"0h\"", "\"0h\"", "expected a duration greater than zero"},
        error_case{collector("template_budget = \"1MiB\""), "collector.template_budget",
                   "template_budget = \"1MiB\"", "\"1MiB\"",
                   "expected at least collector.template_budget_per_exporter (4MiB)"},
        error_case{collector("template_budget_per_exporter = \"1KiB\""),
                   "collector.template_budget_per_exporter",
                   "template_budget_per_exporter = \"1KiB\"", "\"1KiB\"", "expected at least 4KiB"},
        error_case{collector("max_udp_sessions = 0"), "collector.max_udp_sessions",
                   "max_udp_sessions = 0", "0", "expected an integer from 1 to 4294967295"},
        error_case{collector("first_message_timeout = \"0s\""), "collector.first_message_timeout",
                   "first_message_timeout = \"0s\"", "\"0s\"",
                   "expected a duration greater than zero"},
        // destinations
        error_case{dest("url2 = 1\n"), "destination[0].url2", "url2", "", "did you mean \"url\"?",
                   error_kind::unknown_key},
        error_case{"[collector]\nlisten = [\"tcp://0.0.0.0:4739\"]\n\n[[destination]]\nname = "
                   "\"main\"\nurl = \"ipfix+tcp://collector:0\"\n",
                   "destination[0].url", "url = \"ipfix+tcp://collector:0\"",
                   "\"ipfix+tcp://collector:0\"", "expected 1 to 65535"},
        error_case{"[collector]\nlisten = [\"tcp://0.0.0.0:4739\"]\n\n[[destination]]\nname = "
                   "\"main\"\nurl = \"tcp://collector:4739\"\n",
                   "destination[0].url", "url = \"tcp://collector:4739\"",
                   "\"tcp://collector:4739\"",
                   "unknown scheme \"tcp\"; expected \"ipfix+tcp://HOST:PORT\""},
        error_case{"[collector]\nlisten = [\"tcp://0.0.0.0:4739\"]\n\n[[destination]]\nname = "
                   "\"main\"\n",
                   "destination[0].url", "[[destination]]", "", "a url is required",
                   error_kind::missing_key},
        error_case{"[collector]\nlisten = [\"tcp://0.0.0.0:4739\"]\n\n[[destination]]\nurl = "
                   "\"jsonl:stdout\"\n",
                   "destination[0].name", "[[destination]]", "", "a name is required",
                   error_kind::missing_key},
        error_case{"[collector]\nlisten = [\"tcp://0.0.0.0:4739\"]\n\n[[destination]]\nname = \"my "
                   "dest\"\nurl = \"jsonl:stdout\"\n",
                   "destination[0].name", "name = \"my dest\"", "\"my dest\"",
                   "expected letters, digits"},
        error_case{dest("max_message_size = 70000"), "destination[0].max_message_size",
                   "max_message_size = 70000", "70000",
                   "expected 0 (the transport default) or an integer from 512 to 65535"},
        error_case{dest("max_message_size = 100"), "destination[0].max_message_size",
                   "max_message_size = 100", "100", "or an integer from 512 to 65535"},
        error_case{dest("queue_size = \"1KiB\""), "destination[0].queue_size",
                   "queue_size = \"1KiB\"", "\"1KiB\"",
                   "expected at least the destination's max_message_size (65535 bytes)"},
        error_case{dest("queue_size = \"64 megabytes\""), "destination[0].queue_size",
                   "queue_size = \"64 megabytes\"", "\"64 megabytes\"", "\"64MiB\""},
        error_case{dest("queue_size = -5"), "destination[0].queue_size", "queue_size = -5", "-5",
                   "expected a size such as 65536 (bytes)"},
        error_case{dest("flush_interval = \"0s\""), "destination[0].flush_interval",
                   "flush_interval = \"0s\"", "\"0s\"", "expected a duration greater than zero"},
        error_case{dest("flush_interval = \"10\""), "destination[0].flush_interval",
                   "flush_interval = \"10\"", "\"10\"", "expected a duration such as \"10ms\""},
        error_case{dest("template_refresh = \"0ms\""), "destination[0].template_refresh",
                   "template_refresh = \"0ms\"", "\"0ms\"", "greater than zero"},
        error_case{dest("reconnect_min = \"0s\""), "destination[0].reconnect_min",
                   "reconnect_min = \"0s\"", "\"0s\"", "greater than zero"},
        error_case{dest("reconnect_max = \"500ms\""), "destination[0].reconnect_max",
                   "reconnect_max = \"500ms\"", "\"500ms\"",
                   "expected at least reconnect_min (1s)"},
        error_case{dest("observation_domain_id = -1"), "destination[0].observation_domain_id",
                   "observation_domain_id = -1", "-1", uint32_range},
        error_case{dest("observation_domain_id = 4294967296"),
                   "destination[0].observation_domain_id", "observation_domain_id = 4294967296",
                   "4294967296", uint32_range},
        error_case{"[collector]\nlisten = [\"tcp://0.0.0.0:4739\"]\n", "destination", "", "",
                   "at least one [[destination]] is required", error_kind::missing_key},
        // the rest
        error_case{top("cluster_id = \"a\\u0001b\""), "cluster_id", "cluster_id = \"a\\u0001b\"",
                   "\"a\\u0001b\"", "expected printable text"},
        error_case{section("[labels]", "deleted_pod_retention = \"5 minutes\""),
                   "labels.deleted_pod_retention", "deleted_pod_retention = \"5 minutes\"",
                   "\"5 minutes\"", "expected a duration"},
        error_case{section("[admin]", "listen = \"localhost\""), "admin.listen",
                   "listen = \"localhost\"", "\"localhost\"", "the port is missing"},
        error_case{section("[admin]", "listen = \"http://localhost:1\""), "admin.listen",
                   "listen = \"http://localhost:1\"", "\"http://localhost:1\"",
                   "or \"\" to disable the admin server"},
        error_case{section("[runtime]", "io_threads = 0"), "runtime.io_threads", "io_threads = 0",
                   "0", "expected an integer from 1 to 1024"},
        error_case{section("[runtime]", "workers = 5000"), "runtime.workers", "workers = 5000",
                   "5000", "expected an integer from 0 to 1024"},
        error_case{section("[runtime]", "enrichers = 100000"), "runtime.enrichers",
                   "enrichers = 100000", "100000", "expected an integer from 0 to 65536"},
        error_case{section("[runtime]", "idle_sleep = \"0s\""), "runtime.idle_sleep",
                   "idle_sleep = \"0s\"", "\"0s\"", "expected a duration from \"1ms\" to \"1s\""},
        error_case{section("[runtime]", "idle_poll = \"2s\""), "runtime.idle_poll",
                   "idle_poll = \"2s\"", "\"2s\"", "expected a duration from \"0s\" to \"1s\""},
        error_case{section("[runtime]", "max_throughput = 2000000"), "runtime.max_throughput",
                   "max_throughput = 2000000", "2000000",
                   "expected an integer from 0 to 1000000"}));

TEST(load, duplicate_destination_names) {
  auto text = dest("\n[[destination]]\nname = \"main\"\nurl = \"jsonl:/tmp/x\"\n");
  auto r = load(text);
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  const auto& e = r.errors[0];
  EXPECT_EQ(e.key, "destination[1].name");
  EXPECT_EQ(e.value, "\"main\"");
  EXPECT_EQ(e.line, 9u);
  EXPECT_EQ(e.column, 8u);
  EXPECT_EQ(to_string(e), "test.toml:9:8: destination[1].name: \"main\" is not valid; expected a "
                          "unique name; destination[0] already uses it");
}

TEST(load, renders_like_the_documented_example) {
  auto r = load(dest("\n[[destination]]\nname = \"backup\"\nurl = \"jsonl:/tmp/x\"\non_full = "
                     "\"dorp\"\n"));
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  EXPECT_EQ(to_string(r.errors[0]), "test.toml:11:11: destination[1].on_full: \"dorp\" is not "
                                    "valid; expected \"block\" or \"drop\"");
}

TEST(load, an_error_about_a_default_says_so) {
  auto text = dest("reconnect_min = \"2m\"\n");
  auto r = load(text);
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  const auto& e = r.errors[0];
  EXPECT_EQ(e.key, "destination[0].reconnect_max");
  EXPECT_EQ(e.value, "\"1m\"");
  EXPECT_EQ(e.line, 4u); // reconnect_max is not written: point at its [[destination]]
  EXPECT_EQ(e.message, "expected at least reconnect_min (2m) (destination[0].reconnect_max is "
                       "not set, so this is its default)");
}

// -- unknown keys --------------------------------------------------------------

struct unknown_case {
  std::string text;
  std::string key;
  std::string expected;
};

std::ostream& operator<<(std::ostream& out, const unknown_case& x) {
  return out << x.key;
}

class unknown_key : public testing::TestWithParam<unknown_case> {};

TEST_P(unknown_key, suggests_a_valid_key) {
  const auto& c = GetParam();
  auto r = load(c.text);
  EXPECT_FALSE(r.cfg);
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  const auto& e = r.errors[0];
  EXPECT_EQ(e.kind, error_kind::unknown_key);
  EXPECT_EQ(e.key, c.key);
  EXPECT_TRUE(e.value.empty());
  EXPECT_NE(e.message.find(c.expected), std::string::npos) << e.message;
  // The error points at the key itself.
  auto name = c.key.substr(
      c.key.find_last_of(".]") == std::string::npos ? 0 : c.key.find_last_of(".]") + 1);
  auto [line, column] = position_of(c.text, name);
  EXPECT_EQ(e.line, line) << to_string(e);
  EXPECT_EQ(e.column, column) << to_string(e);
}

INSTANTIATE_TEST_SUITE_P(
    suggestions, unknown_key,
    testing::Values(unknown_case{dest("flush_intervall = \"10ms\""),
                                 "destination[0].flush_intervall",
                                 "unknown key; did you mean \"flush_interval\"?"},
                    unknown_case{dest("Flush_Interval = \"10ms\""), "destination[0].Flush_Interval",
                                 "did you mean \"flush_interval\"?"},
                    unknown_case{dest("onfull = \"drop\""), "destination[0].onfull",
                                 "did you mean \"on_full\"?"},
                    unknown_case{cat(minimal, "[colector]\nmax_sessions = 1\n"), "colector",
                                 "did you mean \"collector\"?"},
                    unknown_case{cat(minimal, "[[destinations]]\nname = \"x\"\n"), "destinations",
                                 "did you mean \"destination\"?"},
                    unknown_case{collector("lisen_backlog = 5"), "collector.lisen_backlog",
                                 "valid keys in [collector] are \"listen\", \"max_sessions\""},
                    unknown_case{collector("max_session = 5"), "collector.max_session",
                                 "did you mean \"max_sessions\"?"},
                    unknown_case{top("log_level = \"debug\""), "log_level",
                                 "did you mean \"log_level\" in [runtime]?"},
                    unknown_case{section("[runtime]", "lg_level = \"debug\""), "runtime.lg_level",
                                 "did you mean \"log_level\"?"},
                    unknown_case{section("[fanout]", "zzz = 1"), "fanout.zzz",
                                 "unknown key; valid keys in [fanout] are \"mode\", \"failover\""},
                    unknown_case{section("[labels]", "api_server = \"x\""), "labels.api_server",
                                 "did you mean \"api_server\" in [kubernetes]?"},
                    unknown_case{section("[collector.tls]", "certificate = \"x\""),
                                 "collector.tls.certificate", "did you mean \"cert\"?"},
                    unknown_case{section("[collector.tls]", "ciphers = \"x\""),
                                 "collector.tls.ciphers",
                                 "valid keys in [collector.tls] are \"cert\", \"key\""},
                    unknown_case{section("[enrichment]", "labels_for_foreign = true"),
                                 "enrichment.labels_for_foreign",
                                 "did you mean \"labels_for_foreign_records\""}));

// -- wrong types -----------------------------------------------------------------

struct type_case {
  std::string text;
  std::string key;
  std::string value;
  std::string expected;
};

std::ostream& operator<<(std::ostream& out, const type_case& x) {
  return out << x.key;
}

class wrong_type : public testing::TestWithParam<type_case> {};

TEST_P(wrong_type, says_which_type_is_expected) {
  const auto& c = GetParam();
  auto r = load(c.text);
  EXPECT_FALSE(r.cfg);
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  const auto& e = r.errors[0];
  EXPECT_EQ(e.kind, error_kind::wrong_type) << to_string(e);
  EXPECT_EQ(e.key, c.key);
  EXPECT_EQ(e.value, c.value);
  EXPECT_NE(e.line, 0u);
  EXPECT_NE(e.message.find(c.expected), std::string::npos) << e.message;
}

INSTANTIATE_TEST_SUITE_P(
    types, wrong_type,
    testing::Values(
        type_case{collector("max_sessions = \"many\""), "collector.max_sessions", "\"many\"",
                  "expected an integer"},
        type_case{collector("max_sessions = 1.5"), "collector.max_sessions", "1.5",
                  "expected an integer"},
        type_case{collector("max_message_size = true"), "collector.max_message_size", "true",
                  "expected a size"},
        type_case{dest("flush_interval = 10"), "destination[0].flush_interval", "10",
                  "expected a duration such as \"10ms\""},
        type_case{dest("queue_size = 1.5"), "destination[0].queue_size", "1.5", "expected a size"},
        type_case{dest("on_full = 1"), "destination[0].on_full", "1",
                  "expected \"block\" or \"drop\""},
        type_case{
            "[collector]\nlisten = [\"tcp://0.0.0.0:4739\"]\n[[destination]]\nname = 7\nurl = "
            "\"jsonl:stdout\"\n",
            "destination[0].name", "7", "expected a string"},
        type_case{
            "[collector]\nlisten = [\"tcp://0.0.0.0:4739\"]\n[[destination]]\nname = \"x\"\nurl = "
            "[\"jsonl:stdout\"]\n",
            "destination[0].url", "[\"jsonl:stdout\"]",
            "expected a URL string, such as \"jsonl:stdout\", not an array"},
        type_case{section("[enrichment]", "provenance = \"yes\""), "enrichment.provenance",
                  "\"yes\"", "expected true or false"},
        type_case{listen("\"tcp://0.0.0.0:4739\""), "collector.listen", "\"tcp://0.0.0.0:4739\"",
                  "expected an array of URLs, such as [\"tcp://0.0.0.0:4739\"]"},
        type_case{listen("[4739]"), "collector.listen[0]", "4739", "expected a string"},
        type_case{section("[collector.tls]", "allowed_names = \"node-a\""),
                  "collector.tls.allowed_names", "\"node-a\"", "expected an array of strings"},
        type_case{top("cluster_id = 42"), "cluster_id", "42", "expected a string"},
        type_case{top("fanout = \"all\""), "fanout", "\"all\"",
                  "expected a table, written [fanout]"},
        type_case{section("[runtime]", "workers = \"4\""), "runtime.workers", "\"4\"",
                  "expected an integer"},
        type_case{section("[admin]", "listen = 10348"), "admin.listen", "10348",
                  "expected \"HOST:PORT\""},
        type_case{"[collector]\nlisten = [\"tcp://0.0.0.0:4739\"]\n\n[destination]\nname = "
                  "\"main\"\nurl = \"jsonl:stdout\"\n",
                  "destination", "",
                  "expected one or more [[destination]] tables (two brackets), not a table"}));

// -- several errors, syntax errors, files ------------------------------------------

TEST(load, collects_every_error_in_file_order) {
  auto text = R"([aggregate]
max_flows = 0
[collector]
listen = ["udp://[::]:99999", "tcp://0.0.0.0:99999"]
max_sessions = "many"

[[destination]]
name = "main"
url = "jsonl:stdout"
flush_intervall = "1s"
on_full = "dorp"

[runtime]
log_level = "loud"
)";
  auto r = load(text);
  EXPECT_FALSE(r.cfg);
  ASSERT_EQ(r.errors.size(), 7u) << dump(r);
  std::vector<std::pair<std::string, std::uint32_t>> got;
  for (const auto& e : r.errors)
    got.emplace_back(e.key, e.line);
  std::vector<std::pair<std::string, std::uint32_t>> want{
      {"aggregate.max_flows", 2},
      {"collector.listen[0]", 4},
      {"collector.listen[1]", 4},
      {"collector.max_sessions", 5},
      {"destination[0].flush_intervall", 10},
      {"destination[0].on_full", 11},
      {"runtime.log_level", 14},
  };
  EXPECT_EQ(got, want) << dump(r);
  // Found by a later pass (the range check), still in file order.
  EXPECT_EQ(r.errors[0].kind, error_kind::invalid_value);
}

TEST(load, a_bad_entry_does_not_cause_follow_up_errors) {
  // The only listener fails to parse: no "at least one listener" on top of it.
  auto r = load(listen("[\"tcp://nowhere:-1\"]"));
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  EXPECT_EQ(r.errors[0].key, "collector.listen[0]");
  // A bad element keeps the indexes of later ones: the udp listener is still [1].
  r = load(listen("[\"tcp://nowhere:-1\", \"udp://0.0.0.0:99999\"]"));
  ASSERT_EQ(r.errors.size(), 2u) << dump(r);
  EXPECT_EQ(r.errors[1].key, "collector.listen[1]");
  EXPECT_EQ(r.errors[1].kind, error_kind::invalid_value);
}

TEST(load, syntax_errors_have_a_position) {
  auto r = load("[collector]\nlisten = [\"tcp://0.0.0.0:4739\"\nmax_sessions = 1\n");
  EXPECT_FALSE(r.cfg);
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  EXPECT_EQ(r.errors[0].kind, error_kind::syntax);
  EXPECT_EQ(r.errors[0].source, "test.toml");
  EXPECT_GE(r.errors[0].line, 2u);
  EXPECT_NE(r.errors[0].message.find("invalid TOML"), std::string::npos);
  r = load("mode = \"proxy\"\nmode = \"proxy\"\n");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  EXPECT_EQ(r.errors[0].kind, error_kind::syntax);
  EXPECT_EQ(r.errors[0].line, 2u);
}

TEST(load, empty_text_needs_a_listener_and_a_destination) {
  auto r = load("");
  ASSERT_EQ(r.errors.size(), 2u) << dump(r);
  EXPECT_EQ(r.errors[0].key, "collector.listen");
  EXPECT_EQ(r.errors[1].key, "destination");
  EXPECT_EQ(to_string(r.errors[1]), "test.toml: destination: at least one [[destination]] is "
                                    "required, such as name = \"stdout\" with url = "
                                    "\"jsonl:stdout\"");
}

TEST(load, files) {
  auto dir = std::filesystem::path{testing::TempDir()};
  auto good = dir / "fa_config_good.toml";
  auto bad = dir / "fa_config_bad.toml";
  std::ofstream{good} << minimal;
  std::ofstream{bad} << minimal << "on_full = \"dorp\"\n";
  auto r = load_file(good);
  ASSERT_TRUE(r) << dump(r);
  r = load_file(bad);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].source, bad.string());
  EXPECT_EQ(r.errors[0].line, 7u);
  EXPECT_EQ(to_string(r.errors[0]).rfind(bad.string() + ":7:11: ", 0), 0u);
  std::filesystem::remove(good);
  std::filesystem::remove(bad);
  r = load_file(dir / "fa_config_missing.toml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, error_kind::io);
  EXPECT_EQ(r.errors[0].source, (dir / "fa_config_missing.toml").string());
  EXPECT_EQ(r.errors[0].message, "the file does not exist");
  r = load_file(dir);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].message, "cannot read the file");
}

// -- features of later versions ------------------------------------------------

TEST(load, aggregate_mode_is_accepted) {
  // Issue 11: the last "not supported yet" of the contract.
  auto r = load(top("mode = \"aggregate\"") + "\n[aggregate]\nshards = 2\nmax_flows = 1000\n");
  ASSERT_TRUE(r) << dump(r);
  EXPECT_EQ(r.cfg->mode, run_mode::aggregate);
  EXPECT_EQ(r.cfg->aggregate.shards, 2u);
}

TEST(load, later_settings_that_change_nothing_yet_are_accepted) {
  auto r = load(section("[enrichment]", "labels_for_foreign_records = true"));
  ASSERT_TRUE(r) << dump(r);
  EXPECT_TRUE(r.cfg->enrichment.labels_for_foreign_records);
  r = load(section("[kubernetes]", "api_server = \"https://10.96.0.1:443\""));
  ASSERT_TRUE(r) << dump(r);
}

} // namespace
