// The admin API (issue 5): probes, bearer token, JSON views and Prometheus text, read
// over real HTTP from the running supervisor.

#include "test/integration/harness.hpp"

#include "app/admin_server.hpp"
#include "test/support/process.hpp"
#include "test/support/tls_pki.hpp"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>

using namespace std::chrono_literals;
using nlohmann::json;

namespace fa::test {
namespace {

std::string temp_dir() {
  auto dir = std::filesystem::temp_directory_path() /
             ("fa-admin-" + std::to_string(::getpid()) + "-" +
              std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  std::filesystem::create_directories(dir);
  return dir.string();
}

config::config admin_config(std::uint16_t destination_port, const std::string& token_file) {
  auto cfg = test_config(tcp_destination(destination_port));
  cfg.admin.listen = config::host_port{"127.0.0.1", 0};
  cfg.admin.token_file = token_file;
  return cfg;
}

TEST(admin_api, probes_are_open_and_everything_else_needs_the_token) {
  auto dir = temp_dir();
  auto token_file = dir + "/token";
  std::ofstream{token_file} << "s3cret-token\n"; // the newline is not part of the token
  collector col{dir, {}};
  running fa{admin_config(col.port(), token_file)};
  auto port = fa.sup.admin_port();
  ASSERT_NE(port, 0);
  EXPECT_EQ(http_get(port, "/healthz").status, 200);
  EXPECT_EQ(http_get(port, "/api/v1/sessions").status, 401);
  EXPECT_EQ(http_get(port, "/api/v1/sessions", "s3cret-toke").status, 401);
  EXPECT_EQ(http_get(port, "/api/v1/sessions", "s3cret-token!").status, 401);
  EXPECT_EQ(http_get(port, "/metrics").status, 401);
  auto ok = http_get(port, "/api/v1/sessions", "s3cret-token");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_TRUE(json::parse(ok.body).is_array());
  EXPECT_EQ(http_get(port, "/no/such/path", "s3cret-token").status, 404);
  col.stop();
}

TEST(admin_api, readiness_follows_the_destination) {
  auto dir = temp_dir();
  // Reserve a port, then free it: nothing listens there, so the destination is down.
  std::uint16_t dead_port = 0;
  {
    collector probe{dir, {}};
    dead_port = probe.port();
    probe.stop();
    probe.report();
  }
  running fa{admin_config(dead_port, "")};
  auto port = fa.sup.admin_port();
  auto r = http_get(port, "/readyz");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_FALSE(json::parse(r.body)["destination"].get<bool>());
  EXPECT_TRUE(json::parse(r.body)["listeners"].get<bool>());
  collector col{dir, {}, dead_port}; // the collector comes up on that port
  EXPECT_TRUE(eventually([&] { return http_get(port, "/readyz").status == 200; }, 20s));
  col.stop();
}

TEST(admin_api, json_views_and_metrics_describe_the_traffic) {
  auto dir = temp_dir();
  collector col{dir, {"--expect-total", "2000"}};
  running fa{admin_config(col.port(), "")};
  auto port = fa.sup.admin_port();
  auto loadgen = start_loadgen(fa.port, {"--sessions", "2", "--records", "1000"});
  ASSERT_TRUE(eventually([&] {
    auto body = json::parse(http_get(port, "/api/v1/destinations").body);
    return body.size() == 1 && body[0]["sent_records"].get<std::uint64_t>() == 2000;
  })) << http_get(port, "/api/v1/destinations").body;
  auto sessions = json::parse(http_get(port, "/api/v1/sessions").body);
  std::uint64_t records = 0;
  for (auto& s : sessions) {
    EXPECT_EQ(s["transport"], "tcp");
    EXPECT_NE(s["peer"].get<std::string>().find("127.0.0.1:"), std::string::npos);
    records += s["records"].get<std::uint64_t>();
  }
  // Sessions that already ended are gone from the list; those still open count theirs.
  EXPECT_LE(records, 2000u);
  auto metrics = http_get(port, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("# TYPE flow_aggregator_"), std::string::npos);
  EXPECT_NE(metrics.body.find("flow_aggregator_destination_"), std::string::npos);
  auto labels = json::parse(http_get(port, "/api/v1/labels?ip=10.0.0.1").body);
  EXPECT_EQ(labels["source"], "none");
  auto index = json::parse(http_get(port, "/api/v1").body);
  EXPECT_NE(std::find(index.begin(), index.end(), "/api/v1/config"), index.end());
  EXPECT_EQ(col.report()["records"], 2000);
}

TEST(admin_api, config_is_shown_with_secrets_redacted) {
  auto dir = temp_dir();
  auto token_file = dir + "/admin-token";
  std::ofstream{token_file} << "tok-9f8e7d6c";
  collector col{dir, {}};
  auto cfg = admin_config(col.port(), token_file);
  running fa{cfg};
  auto r = http_get(fa.sup.admin_port(), "/api/v1/config", "tok-9f8e7d6c");
  ASSERT_EQ(r.status, 200) << r.body;
  auto c = json::parse(r.body);
  EXPECT_EQ(c["cluster_id"], "0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11");
  EXPECT_EQ(c["destination"][0]["name"], "col");
  // Secrets live in files; the API names the files and never shows what they hold.
  EXPECT_EQ(c["admin"]["token_file"], token_file);
  EXPECT_EQ(r.body.find("tok-9f8e7d6c"), std::string::npos) << r.body;
  col.stop();
}

// [admin] tls_cert/tls_key: the real binary serves the admin API over HTTPS only (TLS 1.2+),
// verifiable against the issuing CA; `inspect --admin https://... --cacert CA` reads it.
TEST(admin_api, serves_https_when_tls_cert_and_key_are_set) {
  auto dir = scratch_dir("admin_tls");
  std::filesystem::create_directories(dir + "/pki");
  tls_pki pki{dir + "/pki"};
  collector col{dir, {}};
  auto server = pki.server();
  std::ofstream{dir + "/fa.toml"} << "cluster_id = \"cluster-a\"\n[collector]\nlisten = "
                                     "[\"tcp://127.0.0.1:0\"]\n[[destination]]\nname = "
                                     "\"downstream\"\nurl = \"ipfix+tcp://127.0.0.1:"
                                  << col.port() << "\"\n[admin]\nlisten = \"127.0.0.1:0\"\n"
                                  << "tls_cert = \"" << server.cert << "\"\ntls_key = \""
                                  << server.key << "\"\n";
  ::setenv("FA_STATE_DIR", dir.c_str(), 1);
  process fa{{binary("app/flow-aggregator"), "run", "-c", dir + "/fa.toml"},
             dir + "/fa.out",
             dir + "/fa.err"};
  std::smatch admin;
  std::string log;
  ASSERT_TRUE(eventually(
      [&] {
        log = read_file(dir + "/fa.err");
        return std::regex_search(log, admin, std::regex{"admin_port=([0-9]+)"});
      },
      20s))
      << log;
  auto port = static_cast<std::uint16_t>(std::stoi(admin[1]));
  std::string error;
  auto health = https_get(port, "/healthz", pki.ca(), &error);
  EXPECT_EQ(health.status, 200) << error << "\n" << read_file(dir + "/fa.err");
  auto sessions = https_get(port, "/api/v1/sessions", pki.ca());
  ASSERT_EQ(sessions.status, 200) << sessions.body;
  EXPECT_TRUE(json::parse(sessions.body).is_array());
  // The key file is a secret: /api/v1/config names it and never shows what it holds.
  auto cfg = https_get(port, "/api/v1/config", pki.ca());
  ASSERT_EQ(cfg.status, 200);
  EXPECT_EQ(json::parse(cfg.body)["admin"]["tls_key"], server.key);
  EXPECT_EQ(cfg.body.find("PRIVATE KEY"), std::string::npos) << cfg.body;
  // A client trusting another CA refuses the server; plain HTTP gets no HTTP answer.
  EXPECT_EQ(https_get(port, "/healthz", pki.other_ca()).status, 0);
  EXPECT_EQ(http_get(port, "/healthz").status, 0);

  auto inspect = [&](std::vector<std::string> args, std::string& out) {
    std::vector<std::string> argv{binary("app/flow-aggregator"), "inspect", "sessions"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, out);
  };
  auto where = "https://127.0.0.1:" + std::to_string(port);
  std::string out;
  ASSERT_EQ(inspect({"--admin", where, "--cacert", pki.ca()}, out), 0) << out;
  EXPECT_EQ(out.rfind("ID", 0), 0u) << out;
  EXPECT_NE(out.find("TRANSPORT"), std::string::npos) << out;
  // Verification is on: the wrong CA fails, with curl's reason.
  EXPECT_EQ(inspect({"--admin", where, "--cacert", pki.other_ca()}, out), 1) << out;
  EXPECT_NE(out.find("cannot reach the admin API"), std::string::npos) << out;
  // --cacert makes no sense for plain HTTP.
  EXPECT_EQ(inspect({"--admin", "127.0.0.1:" + std::to_string(port), "--cacert", pki.ca()}, out),
            2);
  fa.signal(SIGTERM);
  EXPECT_TRUE(fa.wait(20s).has_value());
  col.stop();
}

// Bad TLS files stop the start with a message naming the key and the file.
TEST(admin_server, unreadable_or_wrong_tls_files_are_clear_errors) {
  auto dir = temp_dir();
  std::filesystem::create_directories(dir + "/pki");
  tls_pki pki{dir + "/pki"};
  auto server = pki.server();
  auto start = [](std::string cert, std::string key) -> std::string {
    app::admin_server_options o;
    o.listen = "127.0.0.1:0";
    o.tls_cert = std::move(cert);
    o.tls_key = std::move(key);
    try {
      app::admin_server s{o, {}};
      return s.port() != 0 ? "" : "no port";
    } catch (const std::exception& e) {
      return e.what();
    }
  };
  EXPECT_EQ(start(server.cert, server.key), "");
  auto missing = start(dir + "/nope.crt", server.key);
  EXPECT_NE(missing.find("admin.tls_cert (" + dir + "/nope.crt): cannot open"), std::string::npos)
      << missing;
  auto swapped = start(server.key, server.cert);
  EXPECT_NE(swapped.find("admin.tls_cert"), std::string::npos) << swapped;
  EXPECT_NE(swapped.find("not a usable PEM certificate"), std::string::npos) << swapped;
  auto other = pki.client("agent-a");
  auto mismatch = start(server.cert, other.key);
  EXPECT_NE(mismatch.find("does not belong to the certificate admin.tls_cert"), std::string::npos)
      << mismatch;
}

TEST(admin_server, query_parameters_and_token_comparison) {
  EXPECT_EQ(app::query_param("ip=10.0.0.1&x=2", "ip"), "10.0.0.1");
  EXPECT_EQ(app::query_param("a=1&ip=fd00%3A%3A1", "ip"), "fd00::1");
  EXPECT_EQ(app::query_param("a=1", "ip"), "");
  EXPECT_TRUE(app::constant_time_equal("abc", "abc"));
  EXPECT_FALSE(app::constant_time_equal("abc", "abd"));
  EXPECT_FALSE(app::constant_time_equal("ab", "abc"));
  EXPECT_FALSE(app::constant_time_equal("abcd", "abc"));
  EXPECT_FALSE(app::constant_time_equal("", "a"));
}

} // namespace
} // namespace fa::test
