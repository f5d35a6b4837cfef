// The admin API under hostile and odd clients (issue 16, defects 3 and 11): idle and
// slow connections must not starve the probes; methods other than GET get 405 with an
// Allow header; the bearer scheme is case-insensitive; a bad `ip` is a 400.

#include "test/integration/harness.hpp"

#include "app/admin_server.hpp"
#include "test/support/tls_pki.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>

using namespace std::chrono_literals;
using nlohmann::json;

namespace fa::test {
namespace {

/// Sends `request` verbatim on a fresh connection; the whole answer.
std::string raw_exchange(std::uint16_t port, const std::string& request) {
  tcp_peer p{port};
  EXPECT_TRUE(p.connected());
  p.send(request);
  return p.read_all();
}

int status_of(const std::string& response) {
  // "HTTP/1.1 200 OK"
  if (response.size() < 12 || response.rfind("HTTP/1.", 0) != 0)
    return 0;
  return std::stoi(response.substr(9, 3));
}

std::string body_of(const std::string& response) {
  auto at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

std::string get_request(const std::string& target, const std::string& headers = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + "\r\n";
}

config::config admin_config(std::uint16_t destination_port, const std::string& token_file = "") {
  auto cfg = test_config(tcp_destination(destination_port));
  cfg.admin.listen = config::host_port{"127.0.0.1", 0};
  cfg.admin.token_file = token_file;
  return cfg;
}

/// /healthz must answer 200 well inside a probe's timeout, `rounds` times in a row.
void expect_probes_answer(const std::function<long()>& probe, int rounds,
                          const std::function<void()>& between = {}) {
  for (int i = 0; i < rounds; ++i) {
    if (between)
      between();
    auto t0 = std::chrono::steady_clock::now();
    auto status = probe();
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(status, 200) << "round " << i;
    EXPECT_LT(took, 3s) << "round " << i << ": "
                        << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                        << " ms";
  }
}

// Defect 3: civetweb's two workers each waited 30 s for a request on a connection that
// sent nothing, so two idle connections took /healthz down (and the pod with it).
TEST(admin_hostile, idle_and_slow_clients_do_not_starve_the_probes) {
  auto dir = scratch_dir("admin_idle");
  collector col{dir, {}};
  running fa{admin_config(col.port())};
  auto port = fa.sup.admin_port();
  ASSERT_NE(port, 0);
  // More idle connections than the front keeps (it closes the oldest unfinished ones
  // first), and slowloris clients that send a request one header line at a time.
  std::vector<std::unique_ptr<tcp_peer>> idle, slow;
  for (int i = 0; i < 100; ++i)
    idle.push_back(std::make_unique<tcp_peer>(port));
  for (int i = 0; i < 16; ++i) {
    slow.push_back(std::make_unique<tcp_peer>(port));
    slow.back()->send("GET /healthz HTTP/1.1\r\nHost: x\r\n");
  }
  int line = 0;
  expect_probes_answer([&] { return http_get(port, "/healthz").status; }, 5,
                       [&] {
                         for (auto& s : slow)
                           s->send("X-Slow-" + std::to_string(line) + ": 1\r\n");
                         ++line;
                       });
  // The other probes and a scrape get through as well.
  EXPECT_EQ(http_get(port, "/metrics").status, 200);
  EXPECT_NE(http_get(port, "/readyz").status, 0);
  // The front counted what it closed.
  EXPECT_GT(
      metric(fa.sup, "flow_aggregator_admin_connections_closed_total", {{"reason", "evicted"}}), 0);
  col.stop();
}

// Over HTTPS the front does the handshake itself: clients that never start or finish it
// hold no worker either.
TEST(admin_hostile, idle_clients_do_not_starve_the_probes_over_https) {
  auto dir = scratch_dir("admin_idle_tls");
  std::filesystem::create_directories(dir + "/pki");
  tls_pki pki{dir + "/pki"};
  auto server = pki.server();
  app::admin_server_options o;
  o.listen = "127.0.0.1:0";
  o.tls_cert = server.cert;
  o.tls_key = server.key;
  std::map<std::string, app::http_handler> routes;
  routes["/healthz"] = [](const app::http_request&) {
    return app::http_response{200, "text/plain", "ok\n"};
  };
  app::admin_server s{o, routes};
  std::vector<std::unique_ptr<tcp_peer>> idle;
  for (int i = 0; i < 100; ++i) {
    idle.push_back(std::make_unique<tcp_peer>(s.port()));
    if (i % 2 == 0)
      idle.back()->send(std::string{"\x16\x03\x01\x02\x00\x01", 6}); // a ClientHello's start
  }
  expect_probes_answer([&] { return https_get(s.port(), "/healthz", pki.ca()).status; }, 3);
}

// Slow handlers (an actor that does not answer: up to 5 s each) may hold only some of
// the workers: the probes keep a lane of their own, and a busy API says so (503).
TEST(admin_hostile, slow_requests_leave_workers_for_the_probes) {
  std::mutex mtx;
  std::condition_variable cv;
  bool release = false;
  int waiting = 0;
  std::map<std::string, app::http_handler> routes;
  routes["/healthz"] = [](const app::http_request&) {
    return app::http_response{200, "text/plain", "ok\n"};
  };
  routes["/slow"] = [&](const app::http_request&) {
    std::unique_lock lock{mtx};
    ++waiting;
    cv.wait_for(lock, 20s, [&] { return release; });
    return app::http_response{200, "text/plain", "late\n"};
  };
  app::admin_server_options o;
  o.listen = "127.0.0.1:0";
  app::admin_server s{o, routes};
  auto port = s.port();
  constexpr int n = 12;
  std::vector<std::future<std::string>> slow;
  for (int i = 0; i < n; ++i)
    slow.push_back(std::async(std::launch::async,
                              [port] { return raw_exchange(port, get_request("/slow")); }));
  auto answered_early = [&] {
    int k = 0;
    for (auto& f : slow)
      k += f.wait_for(0s) == std::future_status::ready ? 1 : 0;
    return k;
  };
  // Some wait in the handler, the rest were told at once that the API is busy.
  EXPECT_TRUE(eventually(
      [&] {
        std::lock_guard lock{mtx};
        return waiting > 0 && waiting + answered_early() == n;
      },
      20s));
  expect_probes_answer([&] { return http_get(port, "/healthz").status; }, 3);
  {
    std::lock_guard lock{mtx};
    release = true;
  }
  cv.notify_all();
  int answered = 0, busy = 0;
  for (auto& f : slow) {
    auto r = f.get();
    answered += status_of(r) == 200 ? 1 : 0;
    busy += status_of(r) == 503 ? 1 : 0;
  }
  EXPECT_GT(answered, 0);
  EXPECT_GT(busy, 0);
  EXPECT_EQ(answered + busy, n);
}

// Defect 11: HEAD and OPTIONS got 404; RFC 9110 15.5.6: a 405 carries Allow.
TEST(admin_hostile, methods_other_than_get_get_405_with_allow) {
  auto dir = scratch_dir("admin_methods");
  collector col{dir, {}};
  running fa{admin_config(col.port())};
  auto port = fa.sup.admin_port();
  for (std::string method :
       {"HEAD", "OPTIONS", "POST", "PUT", "DELETE", "PATCH", "TRACE", "PROPFIND", "FOO"}) {
    auto r =
        raw_exchange(port, method + " /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(status_of(r), 405) << method << ":\n" << r;
    EXPECT_NE(r.find("\r\nAllow: GET\r\n"), std::string::npos) << method << ":\n" << r;
    if (method == "HEAD")
      EXPECT_EQ(body_of(r), "") << "a HEAD answer has no body";
  }
  for (std::string request : {"OPTIONS * HTTP/1.1", "CONNECT 127.0.0.1:1 HTTP/1.1"}) {
    auto r = raw_exchange(port, request + "\r\nHost: x\r\n\r\n");
    EXPECT_EQ(status_of(r), 405) << request << ":\n" << r;
  }
  auto garbage = raw_exchange(port, "garbage\r\n\r\n");
  EXPECT_EQ(status_of(garbage), 400) << garbage;
  EXPECT_EQ(status_of(raw_exchange(port, get_request("/healthz"))), 200);
  col.stop();
}

// Defect 11: RFC 7235 2.1: the auth-scheme is case-insensitive, followed by 1*SP.
TEST(admin_hostile, bearer_scheme_is_case_insensitive) {
  auto dir = scratch_dir("admin_bearer");
  std::ofstream{dir + "/token"} << "tok-1234\n";
  collector col{dir, {}};
  running fa{admin_config(col.port(), dir + "/token")};
  auto port = fa.sup.admin_port();
  for (std::string scheme : {"Bearer", "bearer", "BEARER", "bEaReR"}) {
    auto r =
        raw_exchange(port, get_request("/api/v1", "Authorization: " + scheme + " tok-1234\r\n"));
    EXPECT_EQ(status_of(r), 200) << scheme << ":\n" << r;
  }
  EXPECT_EQ(
      status_of(raw_exchange(port, get_request("/api/v1", "Authorization: Bearer   tok-1234\r\n"))),
      200);
  for (std::string value : {"Basic tok-1234", "Bearertok-1234", "Bearer tok-123", "bearer",
                            "Bearer tok-1234 x", "tok-1234"}) {
    auto r = raw_exchange(port, get_request("/api/v1", "Authorization: " + value + "\r\n"));
    EXPECT_EQ(status_of(r), 401) << value << ":\n" << r;
  }
  col.stop();
}

// Defect 11: `ip` that is not an address is the client's error, said clearly; bytes
// that are not UTF-8 gave a 500 with the JSON library's exception text.
TEST(admin_hostile, labels_ip_must_be_an_address) {
  auto dir = scratch_dir("admin_labels_ip");
  collector col{dir, {}};
  running fa{admin_config(col.port())};
  auto port = fa.sup.admin_port();
  for (std::string bad : {"%ff%fe", "garbage", "10.0.0.256", "10.0.0.1%00", "fd00::1::2", "%20"}) {
    auto r = http_get(port, "/api/v1/labels?ip=" + bad);
    EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
    ASSERT_TRUE(json::accept(r.body)) << r.body;
    EXPECT_NE(json::parse(r.body)["error"].get<std::string>().find("IPv4 or IPv6 address"),
              std::string::npos)
        << r.body;
    EXPECT_EQ(r.body.find("json.exception"), std::string::npos) << r.body;
  }
  for (std::string good : {"", "?ip=10.0.0.1", "?ip=fd00%3A%3A1", "?ip=fd00::1", "?ip="}) {
    auto r = http_get(port, "/api/v1/labels" + good);
    EXPECT_EQ(r.status, 200) << good << ": " << r.body;
  }
  col.stop();
}

} // namespace
} // namespace fa::test
