#include "config/validate.hpp"

#include "config/cluster_id.hpp"

#include "test/config/helpers.hpp"

#include <gtest/gtest.h>

#include <algorithm>

using namespace std::chrono_literals;
using namespace fa::config;
using fa::config::test::destination;

namespace {

config valid_config() {
  config cfg;
  cfg.collector.listen.push_back(listen_endpoint{});
  cfg.destinations.push_back(destination("main"));
  return cfg;
}

const config_error* find_key(const std::vector<config_error>& errors, std::string_view key) {
  auto it = std::find_if(errors.begin(), errors.end(), [&](const auto& e) { return e.key == key; });
  return it == errors.end() ? nullptr : &*it;
}

TEST(validate, a_hand_built_config) {
  EXPECT_TRUE(validate(valid_config()).empty()) << to_string(validate(valid_config()));
  auto errors = validate(config{});
  ASSERT_EQ(errors.size(), 2u) << to_string(errors);
  EXPECT_EQ(errors[0].key, "collector.listen");
  EXPECT_EQ(errors[1].key, "destination");
  EXPECT_EQ(errors[0].line, 0u); // no file: no position
}

TEST(validate, fanout_flow_with_one_destination_is_valid_with_a_warning) {
  auto cfg = valid_config();
  EXPECT_TRUE(warnings(cfg).empty());
  cfg.fanout.mode = fanout_mode::flow;
  EXPECT_TRUE(validate(cfg).empty()) << to_string(validate(cfg));
  auto w = warnings(cfg);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("fanout.mode = \"flow\" with one destination"), std::string::npos) << w[0];
  cfg.destinations.push_back(destination("second"));
  EXPECT_TRUE(warnings(cfg).empty());
}

TEST(validate, a_scaled_out_shard_with_a_listener_only_agents_use_is_valid_with_a_warning) {
  auto cfg = valid_config();
  cfg.mode = run_mode::aggregate;
  cfg.collector.listen.push_back({transport_kind::tls, "0.0.0.0", 4740});
  cfg.aggregate.scaled_out = true;
  // TCP and TLS: what the proxies send to the shards over.
  EXPECT_TRUE(warnings(cfg).empty());
  for (auto agents_only : {transport_kind::grpc, transport_kind::grpcs, transport_kind::udp}) {
    auto c = cfg;
    c.collector.listen.push_back({agents_only, "0.0.0.0", 14739});
    EXPECT_TRUE(validate(c).empty()) << to_string(validate(c));
    auto w = warnings(c);
    ASSERT_EQ(w.size(), 1u);
    EXPECT_NE(w[0].find("aggregate.scaled_out = true with the listener \"" +
                        to_string(c.collector.listen.back()) +
                        "\": agents exporting to it "
                        "directly bypass"),
              std::string::npos)
        << w[0];
    // One instance, or its shards in one process: agents may reach it directly.
    c.aggregate.scaled_out = false;
    EXPECT_TRUE(warnings(c).empty());
  }
  cfg.mode = run_mode::proxy;
  auto w = warnings(cfg);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("aggregate.scaled_out = true applies to mode = \"aggregate\" only"),
            std::string::npos)
      << w[0];
}

TEST(validate, fanout_failover_without_flow_warns) {
  auto cfg = valid_config();
  cfg.destinations.push_back(destination("second"));
  cfg.fanout.failover = true;
  cfg.fanout.mode = fanout_mode::flow;
  EXPECT_TRUE(warnings(cfg).empty());
  cfg.fanout.mode = fanout_mode::hash;
  auto w = warnings(cfg);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("fanout.failover = true applies to fanout.mode = \"flow\" only"),
            std::string::npos)
      << w[0];
}

TEST(validate, udp_messages_must_fit_one_datagram) {
  auto cfg = valid_config();
  cfg.destinations[0].url = destination_url{destination_kind::ipfix_udp, "c", 4739, ""};
  cfg.destinations[0].max_message_size = 65535;
  auto errors = validate(cfg);
  const auto* e = find_key(errors, "destination[0].max_message_size");
  ASSERT_NE(e, nullptr) << to_string(errors);
  EXPECT_EQ(e->value, "65535");
  EXPECT_NE(e->message.find("from 512 to 65507"), std::string::npos) << e->message;
  cfg.destinations[0].max_message_size = 65507;
  EXPECT_EQ(find_key(validate(cfg), "destination[0].max_message_size"), nullptr);
}

TEST(validate, queue_must_hold_the_transport_default_message) {
  auto cfg = valid_config();
  cfg.destinations[0].url = destination_url{destination_kind::ipfix_tcp, "c", 4739, ""};
  cfg.destinations[0].queue_size = 2000;
  ASSERT_NE(find_key(validate(cfg), "destination[0].queue_size"), nullptr);
  cfg.destinations[0].url.kind = destination_kind::ipfix_udp; // default 1400 fits in 2000
  EXPECT_EQ(find_key(validate(cfg), "destination[0].queue_size"), nullptr);
}

TEST(validate, ipfix_destinations_need_a_host_and_a_port) {
  auto cfg = valid_config();
  cfg.destinations[0].url = destination_url{destination_kind::ipfix_tcp, "", 4739, ""};
  EXPECT_NE(find_key(validate(cfg), "destination[0].url"), nullptr);
  cfg.destinations[0].url = destination_url{destination_kind::ipfix_tcp, "c", 0, ""};
  EXPECT_NE(find_key(validate(cfg), "destination[0].url"), nullptr);
  cfg.destinations[0].url = destination_url{destination_kind::jsonl, "", 0, ""};
  EXPECT_NE(find_key(validate(cfg), "destination[0].url"), nullptr);
}

TEST(validate, clickhouse_and_flow_log_keys) {
  auto cfg = valid_config();
  auto& d = cfg.destinations[0];
  d.url = destination_url{destination_kind::clickhouse_http, "ch", 8123, ""};
  EXPECT_TRUE(validate(cfg).empty()) << to_string(validate(cfg));
  d.commit_interval = 0s;
  d.max_rows = 0;
  auto errors = validate(cfg);
  EXPECT_TRUE(find_key(errors, "destination[0].commit_interval")) << to_string(errors);
  EXPECT_TRUE(find_key(errors, "destination[0].max_rows")) << to_string(errors);
  d.commit_interval = 2h;
  d.max_rows = 2'000'000; // over a MergeTree block: one insert would not be one block
  errors = validate(cfg);
  ASSERT_TRUE(find_key(errors, "destination[0].commit_interval")) << to_string(errors);
  EXPECT_NE(find_key(errors, "destination[0].max_rows")->message.find("1000000"),
            std::string::npos);
  d.url.host.clear();
  EXPECT_TRUE(find_key(validate(cfg), "destination[0].url"));
  auto fl = valid_config();
  fl.destinations[0].url = destination_url{destination_kind::flowlog, "", 0, "/x/flows.csv"};
  EXPECT_TRUE(validate(fl).empty()) << to_string(validate(fl));
  fl.destinations[0].max_size = 100;
  fl.destinations[0].max_age = -1s;
  errors = validate(fl);
  EXPECT_TRUE(find_key(errors, "destination[0].max_size")) << to_string(errors);
  EXPECT_TRUE(find_key(errors, "destination[0].max_age")) << to_string(errors);
  fl.destinations[0].max_size = 0; // never rotate
  fl.destinations[0].max_age = 0s;
  EXPECT_TRUE(validate(fl).empty());
}

TEST(validate, negative_durations) {
  auto cfg = valid_config();
  cfg.destinations[0].flush_interval = -1ms;
  cfg.labels.deleted_pod_retention = -1s;
  auto errors = validate(cfg);
  const auto* flush = find_key(errors, "destination[0].flush_interval");
  ASSERT_NE(flush, nullptr) << to_string(errors);
  EXPECT_EQ(flush->value, "\"-1ms\"");
  EXPECT_NE(find_key(errors, "labels.deleted_pod_retention"), nullptr);
  cfg.labels.deleted_pod_retention = 0s; // forget deleted Pods at once: allowed
  EXPECT_EQ(find_key(validate(cfg), "labels.deleted_pod_retention"), nullptr);
}

TEST(validate, tls_listeners_need_a_certificate_and_a_key) {
  auto cfg = valid_config();
  cfg.collector.listen[0].transport = transport_kind::tls;
  cfg.collector.tls.cert.clear();
  cfg.collector.tls.key.clear();
  auto errors = validate(cfg);
  ASSERT_NE(find_key(errors, "collector.tls.cert"), nullptr) << to_string(errors);
  EXPECT_EQ(find_key(errors, "collector.tls.cert")->kind, error_kind::missing_key);
  EXPECT_NE(find_key(errors, "collector.tls.key"), nullptr);
  cfg.collector.listen[0].transport = transport_kind::tcp; // not needed without tls://
  EXPECT_TRUE(validate(cfg).empty()) << to_string(validate(cfg));
}

TEST(validate, admin_tls_cert_and_key_go_together) {
  auto cfg = valid_config();
  cfg.admin.tls_cert = "/admin.crt";
  auto errors = validate(cfg);
  ASSERT_NE(find_key(errors, "admin.tls_key"), nullptr) << to_string(errors);
  EXPECT_EQ(find_key(errors, "admin.tls_key")->kind, error_kind::missing_key);
  EXPECT_NE(to_string(errors).find("go together"), std::string::npos) << to_string(errors);
  cfg.admin.tls_cert.clear();
  cfg.admin.tls_key = "/admin.key";
  errors = validate(cfg);
  EXPECT_NE(find_key(errors, "admin.tls_cert"), nullptr) << to_string(errors);
  cfg.admin.tls_cert = "/admin.crt"; // both: HTTPS
  EXPECT_TRUE(validate(cfg).empty()) << to_string(validate(cfg));
  cfg.admin.tls_cert.clear(); // neither: plain HTTP
  cfg.admin.tls_key.clear();
  EXPECT_TRUE(validate(cfg).empty()) << to_string(validate(cfg));
}

TEST(validate, file_labels_need_a_file) {
  auto cfg = valid_config();
  cfg.labels.source = label_source::file;
  auto errors = validate(cfg);
  ASSERT_NE(find_key(errors, "labels.file"), nullptr) << to_string(errors);
  EXPECT_EQ(find_key(errors, "labels.file")->kind, error_kind::missing_key);
}

TEST(validate, tcp_and_tls_share_ports_but_udp_does_not) {
  auto cfg = valid_config();
  cfg.collector.listen = {{transport_kind::tcp, "0.0.0.0", 4739},
                          {transport_kind::udp, "0.0.0.0", 4739},
                          {transport_kind::tls, "0.0.0.0", 4739},
                          {transport_kind::tcp, "0.0.0.0", 0},
                          {transport_kind::tcp, "0.0.0.0", 0}};
  auto errors = validate(cfg);
  EXPECT_EQ(find_key(errors, "collector.listen[1]"), nullptr); // UDP: its own port space
  const auto* tls = find_key(errors, "collector.listen[2]");
  ASSERT_NE(tls, nullptr);
  EXPECT_EQ(tls->kind, error_kind::invalid_value);             // same TCP port as [0]
  EXPECT_EQ(find_key(errors, "collector.listen[4]"), nullptr); // port 0 never collides
}

TEST(validate, nothing_is_unsupported_any_more) {
  // aggregate mode (issue 11) was the last feature the config refused as "not supported
  // yet"; every transport and fanout is accepted too.
  auto cfg = valid_config();
  cfg.mode = run_mode::aggregate;
  cfg.collector.listen.push_back({transport_kind::udp, "::", 4739});
  cfg.collector.listen.push_back({transport_kind::tls, "::", 4740});
  cfg.destinations.push_back(destination("u", {destination_kind::ipfix_udp, "c", 4739, ""}));
  cfg.destinations.push_back(destination("t", {destination_kind::ipfix_tls, "c", 4740, ""}));
  cfg.labels.source = label_source::kubernetes;
  cfg.fanout.mode = fanout_mode::hash;
  EXPECT_TRUE(unsupported_features(cfg).empty());
  auto all = validate(cfg);
  EXPECT_EQ(std::count_if(all.begin(), all.end(),
                          [](const auto& e) { return e.kind == error_kind::unsupported; }),
            0);
}

TEST(validate, derived_values) {
  destination_config d;
  d.url = destination_url{destination_kind::ipfix_tcp, "c", 4739, ""};
  EXPECT_EQ(effective_max_message_size(d), 65535u);
  d.url.kind = destination_kind::ipfix_udp;
  EXPECT_EQ(effective_max_message_size(d), 1400u);
  d.max_message_size = 9000;
  EXPECT_EQ(effective_max_message_size(d), 9000u);
  config cfg;
  cfg.cluster_id = "kind-worker";
  EXPECT_EQ(export_odid(cfg, d), 801257890u);
  d.observation_domain_id = 0;
  EXPECT_EQ(export_odid(cfg, d), 801257890u);
  d.observation_domain_id = 42;
  EXPECT_EQ(export_odid(cfg, d), 42u);
  runtime_config rt;
  EXPECT_EQ(resolved_workers(rt, 8), 8u);
  EXPECT_EQ(resolved_workers(rt, 0), 1u);
  EXPECT_EQ(resolved_enrichers(rt, 8), 8u);
  rt.workers = 3;
  EXPECT_EQ(resolved_enrichers(rt, 8), 3u);
  rt.enrichers = 5;
  EXPECT_EQ(resolved_enrichers(rt, 8), 5u);
}

TEST(config_error, renders_the_parts_it_has) {
  config_error e{
      error_kind::invalid_value,       "c.toml", 12, 11, "destination[1].on_full", "\"dorp\"",
      "expected \"block\" or \"drop\""};
  EXPECT_EQ(to_string(e), "c.toml:12:11: destination[1].on_full: \"dorp\" is not valid; expected "
                          "\"block\" or \"drop\"");
  e.column = 0;
  EXPECT_EQ(to_string(e).rfind("c.toml:12: destination", 0), 0u);
  e.line = 0;
  EXPECT_EQ(to_string(e).rfind("c.toml: destination", 0), 0u);
  e.source.clear();
  EXPECT_EQ(to_string(e).rfind("<config>: destination", 0), 0u);
  e.kind = error_kind::unsupported;
  e.message = "\"dorp\" is not supported yet in this version; use \"block\"";
  EXPECT_EQ(to_string(e), "<config>: destination[1].on_full: \"dorp\" is not supported yet in "
                          "this version; use \"block\"");
  EXPECT_EQ(to_string(std::vector<config_error>{e, e}), to_string(e) + "\n" + to_string(e) + "\n");
  EXPECT_EQ(to_string(error_kind::unknown_key), "unknown_key");
}

TEST(validate, tls_settings) {
  auto cfg = valid_config();
  cfg.collector.tls.min_version = "1.1";
  cfg.collector.tls.allowed_names = {"node-a"};
  cfg.destinations[0].tls_min_version = "tls1.3";
  cfg.destinations[0].tls_cert = "/c.crt";
  auto errors = validate(cfg);
  EXPECT_NE(nullptr, find_key(errors, "collector.tls.min_version"));
  EXPECT_NE(nullptr, find_key(errors, "collector.tls.allowed_names"));
  EXPECT_NE(nullptr, find_key(errors, "destination[0].tls_min_version"));
  EXPECT_NE(nullptr, find_key(errors, "destination[0].tls_key"));
  cfg.collector.tls.client_ca = "/ca.crt";
  cfg.collector.tls.min_version = "1.3";
  cfg.destinations[0].tls_min_version = "1.2";
  cfg.destinations[0].tls_key = "/c.key";
  EXPECT_TRUE(validate(cfg).empty()) << to_string(validate(cfg));
}

} // namespace

namespace fa::config::test {
namespace {

// Issue 13: grpcs:// shares [collector.tls], TLS 1.3 as the minimum included (the listener
// is our own HTTP/2 on OpenSSL, which honours it; libgrpc's could not).
TEST(validate, grpcs_listeners_use_the_collector_tls_keys) {
  config cfg;
  cfg.collector.listen = {{transport_kind::grpcs, "0.0.0.0", 14739}};
  cfg.collector.tls.cert.clear();
  cfg.collector.tls.min_version = "1.3";
  cfg.destinations.push_back(destination("d", destination_url{}));
  auto errors = validate(cfg);
  auto has = [&](std::string_view key) {
    return std::any_of(errors.begin(), errors.end(), [&](auto& e) { return e.key == key; });
  };
  EXPECT_TRUE(has("collector.tls.cert"));
  EXPECT_FALSE(has("collector.tls.min_version"));
}

TEST(validate, grpcs_stream_needs_its_certificate) {
  config cfg;
  cfg.collector.listen = {{transport_kind::grpc, "0.0.0.0", 14739}};
  destination_url url;
  url.kind = destination_kind::grpcs_stream;
  url.host = "0.0.0.0";
  url.port = 14740;
  auto d = destination("stream", url);
  d.stream_buffer = 0;
  cfg.destinations.push_back(d);
  auto errors = validate(cfg);
  auto has = [&](std::string_view key) {
    return std::any_of(errors.begin(), errors.end(), [&](auto& e) { return e.key == key; });
  };
  EXPECT_TRUE(has("destination[0].tls_cert"));
  EXPECT_TRUE(has("destination[0].stream_buffer"));
}

} // namespace
} // namespace fa::config::test
