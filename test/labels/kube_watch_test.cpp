// The Kubernetes list + watch client (labels/pod_watcher) against a test API server that
// speaks the real protocol over TLS (kube_api_server.hpp): paging, resourceVersions,
// chunked watch streams, bookmarks, 410 Gone both ways, restarts, idle watches, tokens.

#include "labels/pod_watcher.hpp"
#include "test/labels/test_pki.hpp"
#include "test/support/process.hpp"
#include "tools/kube_api_server/kube_api_server.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <mutex>
#include <thread>

namespace fa::labels {
namespace {

using namespace std::chrono_literals;
using fa::tools::kube_api_server;
using fa::tools::pod_spec;

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 20s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred())
      return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

pod_spec web(int i, std::map<std::string, std::string> labels = {}) {
  pod_spec p;
  p.pod_namespace = "shop";
  p.name = "web-7d4b9c8f6d-" + std::to_string(10000 + i);
  p.uid = "0b6c1f4e-3a2d-4e5f-8a9b-" + std::to_string(100000000000 + i);
  p.ips = {"10.244.1." + std::to_string(i)};
  p.labels = labels.empty() ? std::map<std::string, std::string>{{"app", "web"}} : labels;
  return p;
}

class kube_watch : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    // One directory per process: ctest runs each test in its own process, in parallel,
    // and a shared one would be wiped by the next test's set-up while in use.
    dir_ = new std::string{fa::test::scratch_dir("kube_watch_pki_" + std::to_string(::getpid()))};
    pki_ = new fa::test::test_pki{fa::test::make_test_pki(*dir_)};
  }
  static void TearDownTestSuite() {
    delete pki_;
    delete dir_;
  }

  void SetUp() override {
    ASSERT_FALSE(pki_->ca_cert.empty());
    token_file_ =
        *dir_ + "/" + testing::UnitTest::GetInstance()->current_test_info()->name() + ".token";
    write_token("test-token");
    kube_api_server::options o;
    o.cert_file = pki_->server_cert;
    o.key_file = pki_->server_key;
    o.token = "test-token";
    o.client_ca = pki_->ca_cert;
    server_ = std::make_unique<kube_api_server>(o);
  }

  void TearDown() override {
    if (watcher_)
      watcher_->stop();
  }

  void write_token(const std::string& token) {
    auto tmp = token_file_ + ".tmp";
    std::ofstream{tmp} << token << "\n";
    std::rename(tmp.c_str(), token_file_.c_str());
  }

  kube_api_config api() {
    kube_api_config c;
    c.server = server_->url();
    c.token_file = token_file_;
    c.ca_file = pki_->ca_cert;
    c.page_size = 3;
    c.watch_idle_timeout = 10s;
    c.backoff_min = 20ms;
    c.backoff_max = 200ms;
    return c;
  }

  void start(kube_api_config c) {
    watcher_ = std::make_unique<pod_watcher>(std::move(c), [this](pod_update u) {
      std::lock_guard guard{mtx_};
      if (u.list_begin)
        ++list_begins_;
      if (applier_.apply(index_, u, unix_now()).list_completed)
        ++lists_completed_;
    });
    watcher_->start();
  }

  void start() { start(api()); }

  /// "name labels" of the Pod the address resolves to now, "" when none; "+deleted" when
  /// its deletion was observed.
  std::string who(const std::string& ip) {
    std::lock_guard guard{mtx_};
    const auto* e = index_.snapshot()->lookup(*parse_ip(ip), unix_now());
    if (!e)
      return "";
    return e->name + " " + e->labels_json + (e->deletion ? " +deleted" : "");
  }

  int lists_completed() {
    std::lock_guard guard{mtx_};
    return lists_completed_;
  }

  bool synced() { return lists_completed() > 0; }

  static std::string* dir_;
  static fa::test::test_pki* pki_;
  std::string token_file_;
  std::unique_ptr<kube_api_server> server_;
  std::unique_ptr<pod_watcher> watcher_;
  std::mutex mtx_;
  pod_index index_;
  pod_update_applier applier_;
  int list_begins_ = 0;
  int lists_completed_ = 0;
};

std::string* kube_watch::dir_ = nullptr;
fa::test::test_pki* kube_watch::pki_ = nullptr;

const std::string web_labels = R"({"app":"web"})";

TEST_F(kube_watch, initial_sync_lists_every_page) {
  for (int i = 1; i <= 7; ++i)
    server_->apply(web(i));
  start();
  ASSERT_TRUE(eventually([&] { return synced(); }));
  EXPECT_EQ(server_->lists(), 1u);
  EXPECT_EQ(server_->list_pages(), 3u); // 3 + 3 + 1 with limit=3, following `continue`
  EXPECT_EQ(list_begins_, 1);
  for (int i = 1; i <= 7; ++i)
    EXPECT_EQ(who("10.244.1." + std::to_string(i)),
              "web-7d4b9c8f6d-" + std::to_string(10000 + i) + " " + web_labels);
  EXPECT_EQ(index_.size(), 7u);
  // The watch starts from the list's resourceVersion.
  ASSERT_TRUE(eventually([&] { return server_->open_watches() == 1; }));
  auto s = watcher_->stats();
  EXPECT_EQ(s.lists, 1u);
  EXPECT_EQ(s.resource_version, std::to_string(server_->resource_version()));
  EXPECT_EQ(s.errors, 0u) << s.last_error;
}

TEST_F(kube_watch, watch_events_added_modified_deleted) {
  server_->apply(web(1));
  start();
  ASSERT_TRUE(eventually([&] { return synced() && server_->open_watches() == 1; }));
  server_->apply(web(2));
  server_->apply(web(1, {{"app", "web"}, {"version", "v2"}}));
  ASSERT_TRUE(eventually([&] { return who("10.244.1.2") != ""; }));
  ASSERT_TRUE(eventually([&] {
    return who("10.244.1.1") == R"(web-7d4b9c8f6d-10001 {"app":"web","version":"v2"})";
  })) << who("10.244.1.1");
  server_->remove(web(2).uid);
  // Deleted, and still resolving within the retention time.
  ASSERT_TRUE(eventually([&] { return who("10.244.1.2").ends_with("+deleted"); }))
      << who("10.244.1.2");
  EXPECT_EQ(server_->lists(), 1u);
  auto s = watcher_->stats();
  EXPECT_EQ(s.events, 3u);
  EXPECT_EQ(s.resource_version, std::to_string(server_->resource_version()));
}

// A watch whose resourceVersion the server no longer keeps gets 410 Gone: the client
// relists, and everything that happened while it was away is in the index, deletions
// included (the relist no longer holds the Pod).
void relist_after_gone(kube_watch& t, kube_api_server& server, kube_api_server::gone_mode mode) {
  (void)t;
  server.set_gone_mode(mode);
  server.stop(); // the client retries with backoff meanwhile
  server.apply(web(1, {{"app", "web"}, {"version", "v3"}}));
  server.remove(web(2).uid);
  server.apply(web(8));
  server.compact();
  server.start();
}

TEST_F(kube_watch, gone_as_http_status_relists_and_misses_nothing) {
  server_->apply(web(1));
  server_->apply(web(2));
  start();
  ASSERT_TRUE(eventually([&] { return synced() && server_->open_watches() == 1; }));
  relist_after_gone(*this, *server_, kube_api_server::gone_mode::http_status);
  ASSERT_TRUE(eventually([&] { return lists_completed() == 2; }));
  EXPECT_EQ(who("10.244.1.1"), R"(web-7d4b9c8f6d-10001 {"app":"web","version":"v3"})");
  EXPECT_EQ(who("10.244.1.2"), "web-7d4b9c8f6d-10002 " + web_labels + " +deleted");
  EXPECT_EQ(who("10.244.1.8"), "web-7d4b9c8f6d-10008 " + web_labels);
  EXPECT_GE(server_->gone(), 1u);
  EXPECT_GE(watcher_->stats().gone, 1u);
  EXPECT_EQ(server_->lists(), 2u);
}

TEST_F(kube_watch, gone_as_error_event_relists_and_misses_nothing) {
  server_->apply(web(1));
  server_->apply(web(2));
  start();
  ASSERT_TRUE(eventually([&] { return synced() && server_->open_watches() == 1; }));
  relist_after_gone(*this, *server_, kube_api_server::gone_mode::error_event);
  ASSERT_TRUE(eventually([&] { return lists_completed() == 2; }));
  EXPECT_EQ(who("10.244.1.1"), R"(web-7d4b9c8f6d-10001 {"app":"web","version":"v3"})");
  EXPECT_EQ(who("10.244.1.2"), "web-7d4b9c8f6d-10002 " + web_labels + " +deleted");
  EXPECT_EQ(who("10.244.1.8"), "web-7d4b9c8f6d-10008 " + web_labels);
  EXPECT_GE(watcher_->stats().gone, 1u);
}

// An ERROR event (Status code 410) on an open watch: relist; events after it arrive.
TEST_F(kube_watch, error_event_on_an_open_watch_relists) {
  server_->apply(web(1));
  start();
  ASSERT_TRUE(eventually([&] { return synced() && server_->open_watches() == 1; }));
  server_->expire_watches();
  ASSERT_TRUE(eventually([&] { return lists_completed() == 2; }));
  ASSERT_TRUE(eventually([&] { return server_->open_watches() == 1; }));
  server_->apply(web(3));
  ASSERT_TRUE(eventually([&] { return who("10.244.1.3") != ""; }));
  EXPECT_EQ(watcher_->stats().gone, 1u);
}

// A restarted API server keeps its state (etcd): the client reconnects with backoff and
// resumes the watch from the last resourceVersion it saw, without a relist.
TEST_F(kube_watch, api_server_restart_resumes_the_watch) {
  server_->apply(web(1));
  start();
  ASSERT_TRUE(eventually([&] { return synced() && server_->open_watches() == 1; }));
  server_->stop();
  server_->apply(web(1, {{"app", "web"}, {"restarted", "yes"}}));
  server_->apply(web(4));
  std::this_thread::sleep_for(100ms); // a few failed reconnects
  server_->start();
  ASSERT_TRUE(eventually([&] { return who("10.244.1.4") != ""; }));
  ASSERT_TRUE(eventually([&] {
    return who("10.244.1.1") == R"(web-7d4b9c8f6d-10001 {"app":"web","restarted":"yes"})";
  }));
  EXPECT_EQ(server_->lists(), 1u);
  EXPECT_EQ(lists_completed(), 1);
  auto s = watcher_->stats();
  EXPECT_GE(s.watch_restarts, 1u);
  EXPECT_GE(s.errors, 1u); // connection refused while it was down
}

// Bookmarks move the resourceVersion on without Pod events, so a watch restarted after
// the history was compacted up to the bookmark needs no relist.
TEST_F(kube_watch, bookmark_spares_a_relist) {
  server_->apply(web(1));
  start();
  ASSERT_TRUE(eventually([&] { return synced() && server_->open_watches() == 1; }));
  server_->advance(50); // other objects changed
  server_->bookmark();
  ASSERT_TRUE(eventually([&] { return watcher_->stats().bookmarks == 1; }));
  EXPECT_EQ(watcher_->stats().resource_version, std::to_string(server_->resource_version()));
  server_->compact();
  server_->close_watches();
  ASSERT_TRUE(eventually([&] { return server_->watches() == 2 && server_->open_watches() == 1; }));
  server_->apply(web(5));
  ASSERT_TRUE(eventually([&] { return who("10.244.1.5") != ""; }));
  EXPECT_EQ(server_->lists(), 1u);
  EXPECT_EQ(server_->gone(), 0u);
}

// A watch that stays open but delivers nothing is restarted after watch_idle_timeout,
// and the restarted watch replays what the silent one never delivered.
TEST_F(kube_watch, silent_watch_is_restarted_after_the_idle_timeout) {
  server_->apply(web(1));
  auto c = api();
  c.watch_idle_timeout = 1s;
  start(c);
  ASSERT_TRUE(eventually([&] { return synced() && server_->open_watches() == 1; }));
  server_->stall_next_watch();
  server_->close_watches(); // the next watch is the silent one
  ASSERT_TRUE(eventually([&] { return server_->watches() == 2; }));
  server_->apply(web(6));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(who("10.244.1.6"), ""); // not delivered on the stalled stream
  ASSERT_TRUE(eventually([&] { return who("10.244.1.6") != ""; }, 10s));
  auto s = watcher_->stats();
  EXPECT_GE(s.idle_restarts, 1u);
  EXPECT_EQ(server_->lists(), 1u);
}

// A wrong token gets 401 and nothing is indexed; the token file is re-read for every
// request, so a rotated (fixed) token works without a restart.
TEST_F(kube_watch, bad_token_is_refused_until_the_file_changes) {
  server_->apply(web(1));
  write_token("wrong-token");
  start();
  ASSERT_TRUE(eventually([&] { return watcher_->stats().unauthorized >= 2; }));
  EXPECT_FALSE(synced());
  EXPECT_EQ(who("10.244.1.1"), "");
  EXPECT_NE(watcher_->stats().last_error.find("401"), std::string::npos)
      << watcher_->stats().last_error;
  write_token("test-token");
  ASSERT_TRUE(eventually([&] { return synced(); }));
  EXPECT_EQ(who("10.244.1.1"), "web-7d4b9c8f6d-10001 " + web_labels);
}

// A client certificate alone authenticates (kubernetes.client_cert / client_key).
TEST_F(kube_watch, client_certificate_authenticates_without_a_token) {
  server_->apply(web(1));
  auto c = api();
  c.token_file.clear();
  c.client_cert = pki_->client_cert;
  c.client_key = pki_->client_key;
  start(c);
  ASSERT_TRUE(eventually([&] { return synced(); }));
  EXPECT_EQ(who("10.244.1.1"), "web-7d4b9c8f6d-10001 " + web_labels);
  // The list, then the watch (which starts after the list is indexed).
  EXPECT_TRUE(eventually([&] { return server_->cert_authenticated() >= 2u; }))
      << server_->cert_authenticated();
  EXPECT_EQ(server_->unauthorized(), 0u);
}

// Neither a token nor a certificate: 401, nothing indexed.
TEST_F(kube_watch, no_credentials_are_refused) {
  server_->apply(web(1));
  auto c = api();
  c.token_file.clear();
  start(c);
  ASSERT_TRUE(eventually([&] { return server_->unauthorized() >= 2; }));
  EXPECT_FALSE(synced());
  EXPECT_EQ(server_->cert_authenticated(), 0u);
}

// The server's certificate must chain to the configured CA.
TEST_F(kube_watch, untrusted_server_certificate_is_refused) {
  server_->apply(web(1));
  auto c = api();
  c.ca_file = pki_->client_cert; // a certificate, but not the CA
  start(c);
  ASSERT_TRUE(eventually([&] { return watcher_->stats().errors >= 2; }));
  EXPECT_FALSE(synced());
  EXPECT_EQ(server_->lists(), 0u);
}

// stop() ends an open watch at once: shutdown never waits for the network.
TEST_F(kube_watch, stop_ends_an_open_watch_promptly) {
  start();
  ASSERT_TRUE(eventually([&] { return synced() && server_->open_watches() == 1; }));
  auto t0 = std::chrono::steady_clock::now();
  watcher_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

TEST(parse_watch_line, events) {
  watch_line ev;
  std::string err;
  auto pod = fa::tools::pod_object(web(3), "4711").dump();
  ASSERT_TRUE(parse_watch_line(R"({"type":"MODIFIED","object":)" + pod + "}", ev, err)) << err;
  EXPECT_EQ(ev.type, "MODIFIED");
  EXPECT_EQ(ev.resource_version, "4711");
  ASSERT_TRUE(ev.pod);
  EXPECT_EQ(ev.pod->info.name, "web-7d4b9c8f6d-10003");
  EXPECT_EQ(ev.pod->info.ips, std::vector<std::string>{"10.244.1.3"});
  ASSERT_TRUE(parse_watch_line(
      R"({"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"9000"}}})",
      ev, err));
  EXPECT_EQ(ev.type, "BOOKMARK");
  EXPECT_EQ(ev.resource_version, "9000");
  EXPECT_FALSE(ev.pod);
  const std::string error_event =
      R"x({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},)x"
      R"x("status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired",)x"
      R"x("code":410}})x";
  ASSERT_TRUE(parse_watch_line(error_event, ev, err));
  EXPECT_EQ(ev.code, 410);
  EXPECT_EQ(ev.message, "too old resource version: 1 (5)");
  // A Pod that does not parse is reported, not fatal to the stream.
  ASSERT_TRUE(
      parse_watch_line(R"({"type":"ADDED","object":{"kind":"Pod","metadata":{}}})", ev, err));
  EXPECT_FALSE(ev.pod);
  EXPECT_NE(ev.message.find("metadata"), std::string::npos) << ev.message;
  EXPECT_FALSE(parse_watch_line("{\"type\":", ev, err));
  EXPECT_FALSE(parse_watch_line(R"({"type":"ADDED"})", ev, err));
}

TEST(resolve_kube_api, in_cluster_and_explicit) {
  auto env = [](const char* name) -> const char* {
    std::string n = name;
    return n == "KUBERNETES_SERVICE_HOST"   ? "fd00:10:96::1"
           : n == "KUBERNETES_SERVICE_PORT" ? "443"
                                            : nullptr;
  };
  auto r = resolve_kube_api({}, env);
  ASSERT_TRUE(std::holds_alternative<kube_api_config>(r)) << std::get<std::string>(r);
  auto& c = std::get<kube_api_config>(r);
  EXPECT_EQ(c.server, "https://[fd00:10:96::1]:443");
  EXPECT_EQ(c.token_file, std::string{service_account_dir} + "/token");
  auto none = [](const char*) -> const char* { return nullptr; };
  auto e = resolve_kube_api({}, none);
  ASSERT_TRUE(std::holds_alternative<std::string>(e));
  EXPECT_NE(std::get<std::string>(e).find("KUBERNETES_SERVICE_HOST"), std::string::npos);
  auto x = resolve_kube_api({"https://127.0.0.1:6443/", "/tmp/t", "/tmp/ca", "", ""}, none);
  ASSERT_TRUE(std::holds_alternative<kube_api_config>(x));
  EXPECT_EQ(std::get<kube_api_config>(x).server, "https://127.0.0.1:6443");
  EXPECT_EQ(std::get<kube_api_config>(x).ca_file, "/tmp/ca");
  EXPECT_TRUE(std::holds_alternative<std::string>(
      resolve_kube_api({"127.0.0.1:6443", "", "", "", ""}, none)));
}

} // namespace
} // namespace fa::labels
