#include "config/render.hpp"

#include "config/load.hpp"
#include "config/schema.hpp"

#include "test/config/helpers.hpp"

#include <gtest/gtest.h>
#include <toml++/toml.h>

#include <set>

using namespace std::chrono_literals;
using namespace fa::config;
using fa::config::test::destination;

namespace {

config sample() {
  config cfg;
  cfg.cluster_id = "kind-worker";
  cfg.collector.listen = {{transport_kind::tcp, "::", 4739}, {transport_kind::tcp, "127.0.0.1", 0}};
  cfg.collector.max_message_size = 9000;
  cfg.collector.session_budget = 1'000'000; // no binary unit: rendered as an integer
  cfg.collector.template_lifetime = 90s;
  cfg.collector.tls.client_ca = "/ca.crt";
  cfg.collector.tls.allowed_names = {"a", "b\"c"};
  cfg.collector.tls.min_version = "1.3";
  auto a = destination("a", {destination_kind::ipfix_tcp, "fe80::1", 4739, ""});
  a.observation_domain_id = 7;
  a.flush_interval = 250us;
  a.on_full = on_full_policy::drop;
  a.reconnect_max = 5min;
  auto b = destination("b", {destination_kind::jsonl, "", 0, "/tmp/f.jsonl"});
  b.queue_size = 1 << 20;
  auto c = destination("c", {destination_kind::clickhouse_http, "ch", 8123, "", "db", "t"});
  c.user = "fa";
  c.password_file = "/etc/fa/ch-password";
  c.commit_interval = 8s;
  c.format = clickhouse_format::json_each_row;
  c.compression = compression_kind::gzip;
  auto d = destination("d", {destination_kind::flowlog, "", 0, "/var/log/flows.csv"});
  d.compress = false;
  d.max_age = 48h;
  d.filters = {{{rule_action::drop}, {}}, {{}, {rule_action::reject, rule_action::none}}};
  cfg.destinations = {a, b, c, d};
  cfg.enrichment.antrea = false;
  cfg.labels.deleted_pod_retention = 0s;
  cfg.kubernetes.token_file = "/var/run/secrets/token";
  cfg.admin.listen.reset();
  cfg.admin.token_file = "/etc/fa/admin-token";
  cfg.admin.tls_cert = "/etc/fa/admin.crt";
  cfg.admin.tls_key = "/etc/fa/admin.key";
  cfg.runtime.log_format = log_format::json;
  return cfg;
}

TEST(render, round_trips_through_the_loader) {
  for (const auto& cfg : {sample(), *load_default().cfg}) {
    for (bool redact : {false, true}) {
      auto text = render_effective(cfg, redact);
      auto back = load_string(text, "rendered.toml");
      ASSERT_TRUE(back) << to_string(back.errors) << text;
      EXPECT_EQ(*back.cfg, cfg) << text;
    }
  }
}

TEST(render, writes_every_key_of_the_schema_and_no_other) {
  auto text = render_effective(sample(), true);
  EXPECT_EQ(fa::config::test::written_keys(toml::parse(text)), fa::config::test::schema_key_set());
}

TEST(render, marks_secret_paths_only_when_asked) {
  auto marked = render_effective(sample(), true);
  EXPECT_NE(marked.find("token_file = \"/var/run/secrets/token\"  # secret: file contents are "
                        "never shown\n"),
            std::string::npos)
      << marked;
  EXPECT_NE(marked.find("token_file = \"/etc/fa/admin-token\"  # secret"), std::string::npos);
  EXPECT_NE(marked.find("tls_key = \"/etc/fa/admin.key\"  # secret"), std::string::npos);
  EXPECT_NE(marked.find("password_file = \"/etc/fa/ch-password\"  # secret"), std::string::npos);
  EXPECT_EQ(marked.find("tls_cert = \"/etc/fa/admin.crt\"  #"), std::string::npos);
  EXPECT_NE(marked.find("key = \"/etc/flow-aggregator/tls/tls.key\"  # secret"), std::string::npos);
  EXPECT_EQ(marked.find("cert = \"/etc/flow-aggregator/tls/tls.crt\"  #"), std::string::npos);
  auto plain = render_effective(sample(), false);
  EXPECT_EQ(plain.find("# secret"), std::string::npos) << plain;
  EXPECT_NE(plain.find("token_file = \"/var/run/secrets/token\"\n"), std::string::npos);
}

TEST(render, spells_values_as_a_person_would) {
  auto text = render_effective(sample(), false);
  for (const char* line : {
           "listen = [\"tcp://[::]:4739\", \"tcp://127.0.0.1:0\"]\n",
           "session_budget = 1000000\n",
           "template_lifetime = \"90s\"\n",
           "allowed_names = [\"a\", \"b\\\"c\"]\n",
           "url = \"ipfix+tcp://[fe80::1]:4739\"\n",
           "observation_domain_id = 7\n",
           "flush_interval = \"250us\"\n",
           "queue_size = \"1MiB\"\n",
           "on_full = \"drop\"\n",
           "reconnect_max = \"5m\"\n",
           "url = \"jsonl:/tmp/f.jsonl\"\n",
           "observation_domain_id = 0  # derived from cluster_id: 801257890\n",
           "max_message_size = 0  # transport default: 65535\n",
           "[admin]\nlisten = \"\"\n",
           "log_format = \"json\"\n",
       })
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n---\n" << text;
}

TEST(render, quotes_toml_strings) {
  EXPECT_EQ(toml_quote("plain"), "\"plain\"");
  EXPECT_EQ(toml_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(toml_quote("l1\nl2\t\x01"), "\"l1\\nl2\\t\\u0001\"");
  EXPECT_EQ(toml_quote("päd"), "\"päd\""); // UTF-8 passes through
}

} // namespace
