// Pod labels from the Kubernetes API (issue 4): flow-aggregator runs with
// labels.source = "kubernetes" against the test API server (TLS, bearer token, list +
// watch), and the records that reach the collector carry the labels and names of the
// Pods their addresses belong to, following changes as they are watched.

#include "test/integration/harness.hpp"
#include "test/labels/test_pki.hpp"
#include "tools/kube_api_server/kube_api_server.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace std::chrono_literals;
using fa::test::collector;
using fa::test::running;
using fa::test::tcp_destination;
using fa::tools::kube_api_server;
using fa::tools::pod_spec;

namespace {

struct api_fixture {
  explicit api_fixture(const std::string& dir)
      : pki(fa::test::make_test_pki(dir))
      , token_file(dir + "/token")
      , server(options(pki)) {
    write_token("s3cret");
  }
  static kube_api_server::options options(const fa::test::test_pki& pki) {
    kube_api_server::options o;
    o.cert_file = pki.server_cert;
    o.key_file = pki.server_key;
    o.token = "s3cret";
    return o;
  }
  void write_token(const std::string& token) {
    auto tmp = token_file + ".tmp";
    std::ofstream{tmp} << token;
    std::rename(tmp.c_str(), token_file.c_str());
  }
  /// `[labels]` and `[kubernetes]` for this server; `extra` adds TOML.
  std::string toml(const std::string& extra = "") const {
    return "[labels]\nsource = \"kubernetes\"\n[kubernetes]\napi_server = \"" + server.url() +
           "\"\ntoken_file = \"" + token_file + "\"\nca_file = \"" + pki.ca_cert + "\"\n" + extra;
  }
  fa::test::test_pki pki;
  std::string token_file;
  kube_api_server server;
};

pod_spec pod(const std::string& uid, const std::string& name, const std::string& ip,
             std::map<std::string, std::string> labels) {
  pod_spec p;
  p.pod_namespace = "shop";
  p.name = name;
  p.uid = uid;
  p.ips = {ip};
  p.labels = std::move(labels);
  return p;
}

std::vector<std::uint8_t> one_record(std::uint32_t src, std::uint32_t dst) {
  return fa::test::flow_message(0, 5, {{src, dst}});
}

std::vector<nlohmann::json> records_of(collector& col) {
  std::istringstream lines{fa::test::read_file(col.out_file())};
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(lines, line);)
    if (!line.empty())
      out.push_back(nlohmann::json::parse(line));
  return out;
}

/// Waits until the snapshot the enrichers hold resolves `ip` to labels `want` (deleted or
/// not, as `deleted` says).
bool published(running& fa, const std::string& ip, const std::string& want, bool deleted = false) {
  return fa::test::eventually(
      [&] {
        auto s = fa.sup.label_status(ip);
        for (auto& p : s.lookup)
          if (p.match && p.labels_json == want && (p.deletion != 0) == deleted)
            return true;
        return false;
      },
      20s);
}

} // namespace

TEST(kube_labels, records_carry_labels_and_follow_watched_changes) {
  auto dir = fa::test::scratch_dir("kube_labels_follow");
  api_fixture api{dir};
  api.server.apply(pod("u-1", "web-5d8f7c9b4-abcde", "10.0.0.1", {{"app", "web"}}));
  api.server.apply(pod("u-2", "db-0", "10.0.0.2", {}));
  collector col{dir, {"--print", "--expect-total", "3"}};
  running fa{fa::test::test_config(tcp_destination(col.port()),
                                   api.toml("[enrichment]\nlabels_for_foreign_records = true\n"))};
  ASSERT_TRUE(fa::test::eventually([&] { return fa.sup.label_status().ready; }, 20s));
  auto s = fa.sup.label_status();
  EXPECT_EQ(s.source, "kubernetes");
  EXPECT_TRUE(s.synced);
  EXPECT_EQ(s.pods, 2u);
  EXPECT_EQ(s.ips, 2u);
  EXPECT_EQ(s.lists, 1u);
  EXPECT_NE(s.last_sync, 0);
  EXPECT_EQ(s.resource_version, std::to_string(api.server.resource_version()));
  fa::test::send_raw(fa.port, one_record(0x0a000001, 0x0a000002));
  // A label change, watched: the next record carries it.
  api.server.apply(
      pod("u-1", "web-5d8f7c9b4-abcde", "10.0.0.1", {{"app", "web"}, {"tier", "front"}}));
  ASSERT_TRUE(published(fa, "10.0.0.1", R"({"app":"web","tier":"front"})"));
  fa::test::send_raw(fa.port, one_record(0x0a000001, 0x0a000002));
  // A deleted Pod still resolves within deleted_pod_retention.
  api.server.remove("u-2");
  ASSERT_TRUE(published(fa, "10.0.0.2", "{}", true));
  fa::test::send_raw(fa.port, one_record(0x0a000002, 0x0a000001));
  auto r = col.report();
  ASSERT_EQ(r.value("records", 0), 3) << r.dump();
  auto recs = records_of(col);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].value("sourcePodLabels", "?"), R"({"app":"web"})") << recs[0].dump();
  EXPECT_EQ(recs[0].value("destinationPodLabels", "?"), "{}") << recs[0].dump();
  EXPECT_EQ(recs[1].value("sourcePodLabels", "?"), R"({"app":"web","tier":"front"})")
      << recs[1].dump();
  EXPECT_EQ(recs[2].value("sourcePodLabels", "?"), "{}") << recs[2].dump();
  EXPECT_EQ(recs[2].value("destinationPodLabels", "?"), R"({"app":"web","tier":"front"})")
      << recs[2].dump();
  EXPECT_EQ(fa.sup.label_status().watch_events, 2u);
}

// Not ready while the API refuses the token; the inspection data says why.
TEST(kube_labels, not_ready_until_the_first_list) {
  auto dir = fa::test::scratch_dir("kube_labels_not_ready");
  api_fixture api{dir};
  api.server.apply(pod("u-1", "web-1", "10.0.0.1", {{"app", "web"}}));
  api.write_token("expired");
  collector col{dir, {"--expect-total", "0"}};
  running fa{fa::test::test_config(tcp_destination(col.port()), api.toml())};
  ASSERT_TRUE(fa::test::eventually([&] { return fa.sup.label_status().unauthorized >= 1; }, 20s));
  auto s = fa.sup.label_status("10.0.0.1");
  EXPECT_FALSE(s.ready);
  EXPECT_FALSE(s.synced);
  EXPECT_EQ(s.pods, 0u);
  EXPECT_TRUE(s.lookup.empty());
  EXPECT_NE(s.last_error.find("401"), std::string::npos) << s.last_error;
  api.write_token("s3cret"); // the rotated token is read on the next attempt
  ASSERT_TRUE(fa::test::eventually([&] { return fa.sup.label_status().ready; }, 20s));
  s = fa.sup.label_status("10.0.0.1");
  ASSERT_EQ(s.lookup.size(), 1u);
  EXPECT_EQ(s.lookup[0].name, "web-1");
  EXPECT_EQ(s.lookup[0].pod_namespace, "shop");
  EXPECT_EQ(s.lookup[0].node_name, "kind-worker");
  EXPECT_TRUE(s.lookup[0].match);
  col.stop();
}

// End to end with the load generator's Antrea records: every Pod address the loadgen uses
// (10.244.<node>.<host>, node 0..15, host 2..251) belongs to a Pod in the API server.
// Each record arrives with both sides' labels, and InterNode records, where the agent
// leaves the remote side's names empty, arrive with that side's Pod name, namespace and
// Node filled from the index (antrea-proxy-semantics.md 2 step 3).
TEST(kube_labels, loadgen_records_arrive_labelled_with_names_filled) {
  auto dir = fa::test::scratch_dir("kube_labels_e2e");
  api_fixture api{dir};
  auto name_of = [](int node, int host) {
    return "kp-" + std::to_string(node) + "-" + std::to_string(host);
  };
  auto labels_of = [](int node, int host) {
    return R"({"app":"kp-)" + std::to_string(node) + R"(","host":")" + std::to_string(host) + "\"}";
  };
  for (int node = 0; node < 16; ++node)
    for (int host = 2; host <= 251; ++host) {
      pod_spec p =
          pod("uid-" + std::to_string(node) + "-" + std::to_string(host), name_of(node, host),
              "10.244." + std::to_string(node) + "." + std::to_string(host),
              {{"app", "kp-" + std::to_string(node)}, {"host", std::to_string(host)}});
      p.pod_namespace = "ns-" + std::to_string(node);
      p.node_name = "node-" + std::to_string(node);
      api.server.apply(p);
    }
  constexpr int total = 3000;
  collector col{dir, {"--print", "--expect-total", std::to_string(total)}};
  running fa{fa::test::test_config(tcp_destination(col.port()), api.toml())};
  ASSERT_TRUE(fa::test::eventually([&] { return fa.sup.label_status().ready; }, 30s));
  EXPECT_EQ(fa.sup.label_status().ips, 16u * 250u);
  ASSERT_EQ(fa::test::run_loadgen(fa.port, {"--sessions", "3", "--records", "1000", "--template",
                                            "antrea-v4", "--seed", "7"}),
            0);
  auto r = col.report();
  ASSERT_EQ(r.value("records", 0), total) << r.dump();
  auto recs = records_of(col);
  ASSERT_EQ(recs.size(), static_cast<std::size_t>(total));
  int labelled = 0, filled = 0;
  for (auto& rec : recs) {
    for (std::string side : {"source", "destination"}) {
      auto ip = rec.value(side + "IPv4Address", "");
      int node = -1, host = -1;
      bool pod_ip = std::sscanf(ip.c_str(), "10.244.%d.%d", &node, &host) == 2;
      auto labels = rec.value(side + "PodLabels", "?");
      if (!pod_ip) {
        EXPECT_EQ(labels, "") << rec.dump();
        continue;
      }
      ASSERT_EQ(labels, labels_of(node, host)) << rec.dump();
      ++labelled;
      auto name = rec.value(side + "PodName", "");
      if (name.rfind("kp-", 0) == 0) { // filled by flow-aggregator
        ASSERT_EQ(rec.value("flowType", 0), 2)
            << "only InterNode records are filled: " << rec.dump();
        EXPECT_EQ(name, name_of(node, host)) << rec.dump();
        EXPECT_EQ(rec.value(side + "PodNamespace", ""), "ns-" + std::to_string(node));
        EXPECT_EQ(rec.value(side + "NodeName", ""), "node-" + std::to_string(node));
        ++filled;
      } else {
        EXPECT_FALSE(name.empty() && rec.value("flowType", 0) == 2)
            << "an InterNode Pod side left empty: " << rec.dump();
      }
    }
  }
  EXPECT_GT(labelled, total); // most records have two Pod sides
  EXPECT_GT(filled, total / 10);
}
