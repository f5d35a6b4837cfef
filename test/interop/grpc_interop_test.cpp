// gRPC interop (issue 13): an independent gRPC stack (Debian's python3-grpcio, stubs made
// from our .proto by Debian's protoc; test/interop/grpc_agent.py) plays the Antrea Agent
// and a flow stream subscriber against the real flow-aggregator binary:
//
//   grpc_agent.py export --(gRPC, mTLS)--> flow-aggregator --IPFIX--> ipfix-collector --save
//   ipfix-loadgen       --(IPFIX/TCP)---->                 --jsonl--> out.jsonl
//   grpc_agent.py subscribe <--(FlowStreamService)--------
//
// Every Flow sent must come out of the IPFIX destination with the right elements (decoded
// by libfixbuf's ipfixDump) and out of JSON lines with the right values (grpc_agent.py
// check regenerates what it sent). Every wait is bounded. The last tests put the Agent's
// own library in front: tools/grpc-go-agent (grpc-go) sends grpc-loadgen's requests, one
// Flow each, as an Agent's stream.Send does.

#include "test/support/process.hpp"
#include "test/support/tls_pki.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fa::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr const char* python = "/usr/bin/python3"; // python3-grpcio is the system's
constexpr const char* cluster_id = "0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11";

bool contains(const std::string& text, std::string_view needle) {
  return text.find(needle) != std::string::npos;
}

std::size_t count_lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

/// The value of `key=` on the first line of `log` that contains `event`.
std::string log_value(const std::string& log, std::string_view event, std::string_view key) {
  std::istringstream in{log};
  for (std::string line; std::getline(in, line);) {
    if (!contains(line, event))
      continue;
    auto pos = line.find(" " + std::string{key} + "=");
    if (pos == std::string::npos)
      continue;
    auto start = pos + key.size() + 2;
    return line.substr(start, line.find(' ', start) - start);
  }
  return "";
}

/// The value of the sample `series` (name and labels as printed) in Prometheus text, or -1.
double sample(const std::string& text, const std::string& series) {
  auto pos = text.find("\n" + series + " ");
  if (pos == std::string::npos)
    return -1;
  return std::stod(text.substr(pos + series.size() + 2));
}

class grpc_interop : public testing::Test {
 protected:
  void SetUp() override {
    ::setenv("FA_SOURCE_DIR", FA_INTEROP_SOURCE_DIR, 0);
    ::setenv("FA_BINARY_DIR", FA_INTEROP_BINARY_DIR, 0);
    auto* info = testing::UnitTest::GetInstance()->current_test_info();
    dir_ = scratch_dir(std::string{"grpc-interop-"} + info->name());
    fs::create_directories(file("state"));
    for (auto tool :
         {python, "/usr/bin/protoc", "/usr/bin/grpc_python_plugin", "/usr/bin/ipfixDump"})
      ASSERT_TRUE(fs::exists(tool)) << tool << " is missing: run scripts/install-deps.sh";
    fs::create_directories(dir_ + "/pki");
    pki_ = std::make_unique<tls_pki>(dir_ + "/pki");
    pki_->issue("rogue-agent", "agent-a", {"DNS:agent-a.nodes.test"}, tls_pki::usage::client,
                "other-ca");
  }

  void TearDown() override {
    if (HasFailure())
      for (auto name : {"fa.err", "collector.err"})
        if (fs::exists(file(name)))
          std::fprintf(stderr, "--- %s (in %s)\n%s\n", name, dir_.c_str(),
                       read_file(file(name)).c_str());
  }

  std::string file(std::string_view name) const { return dir_ + "/" + std::string{name}; }

  /// ipfix-collector, then flow-aggregator with `listen`, forwarding to the collector, to
  /// out.jsonl and serving a flow stream; waits for every listener and the stream.
  void start(const std::vector<std::string>& listen, const std::string& extra = "") {
    collector_ = std::make_unique<process>(
        std::vector<std::string>{binary("tools/ipfix-collector"), "--listen", "127.0.0.1:0",
                                 "--port-file", file("collector.port"), "--save", file("out.ipfix"),
                                 "--duration", "110s"},
        file("collector.out"), file("collector.err"));
    auto port = wait_for_file(file("collector.port"), 20s);
    ASSERT_TRUE(port) << "ipfix-collector did not start";
    auto server = pki_->server();
    std::ofstream cfg{file("fa.toml")};
    cfg << "cluster_id = \"" << cluster_id << "\"\n[collector]\nlisten = [";
    for (std::size_t i = 0; i < listen.size(); ++i)
      cfg << (i > 0 ? ", " : "") << '"' << listen[i] << '"';
    cfg << "]\n[collector.tls]\ncert = \"" << server.cert << "\"\nkey = \"" << server.key
        << "\"\nclient_ca = \"" << pki_->ca()
        << "\"\nallowed_names = [\"agent-a\"]\n"
        // The checks compare the Flows' UIDs too (off by default, as in Antrea).
        << "[collector.grpc]\ninclude_k8s_uids = true\n"
        << "[[destination]]\nname = \"col\"\nurl = \"ipfix+tcp://127.0.0.1:" << *port
        << "\"\nflush_interval = \"5ms\"\n"
        << "[[destination]]\nname = \"json\"\nurl = \"jsonl:" << file("out.jsonl") << "\"\n"
        << "[[destination]]\nname = \"stream\"\nurl = \"grpc-stream://127.0.0.1:0\"\n"
        << "stream_buffer = 100000\n"
        << extra << "[admin]\nlisten = \"127.0.0.1:0\"\n";
    cfg.close();
    ::setenv("FA_STATE_DIR", file("state").c_str(), 1);
    fa_ = std::make_unique<process>(
        std::vector<std::string>{binary("app/flow-aggregator"), "run", "-c", file("fa.toml")},
        file("fa.out"), file("fa.err"));
    auto deadline = std::chrono::steady_clock::now() + 30s;
    for (;;) {
      auto log = read_file(file("fa.err"));
      if (contains(log, "event=started")) {
        std::istringstream in{log};
        for (std::string line; std::getline(in, line);)
          if (contains(line, "event=listening"))
            ports_.push_back(log_value(line, "event=listening", "port"));
        stream_port_ = log_value(log, "flow stream listening", "port");
        admin_port_ = log_value(log, "event=started", "admin_port");
        break;
      }
      ASSERT_TRUE(fa_->running()) << "flow-aggregator exited at startup";
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "flow-aggregator did not start";
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_EQ(ports_.size(), listen.size());
    ASSERT_FALSE(stream_port_.empty());
  }

  /// grpc_agent.py with `args` (the stubs are generated once per test into gen/).
  std::unique_ptr<process> agent(const std::string& name, std::vector<std::string> args) {
    std::vector<std::string> argv = {python, source("test/interop/grpc_agent.py")};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--gen-dir", file("gen")});
    return std::make_unique<process>(argv, file(name + ".out"), file(name + ".err"));
  }

  /// Runs grpc_agent.py to completion; returns its exit code (-2: killed at the deadline).
  int run_agent(const std::string& name, std::vector<std::string> args,
                std::chrono::milliseconds timeout = 90s) {
    auto p = agent(name, std::move(args));
    return p->wait(timeout).value_or(-2);
  }

  std::vector<std::string> mtls(const std::string& client) {
    auto c = pki_->client(client);
    return {"--ca", pki_->ca(), "--cert", c.cert, "--key", c.key, "--server-name", "localhost"};
  }

  /// SIGTERM (drains everything), then stops the collector; returns its record count.
  std::uint64_t stop() {
    fa_->signal(SIGTERM);
    auto rc = fa_->wait(60s);
    EXPECT_TRUE(rc) << "flow-aggregator did not stop within 60 s of SIGTERM";
    auto log = read_file(file("fa.err"));
    EXPECT_EQ(rc.value_or(-1), 0);
    EXPECT_TRUE(contains(log, "event=stopped undelivered_bytes=0")) << "not drained";
    collector_->signal(SIGTERM);
    EXPECT_TRUE(collector_->wait(60s)) << "ipfix-collector did not stop";
    auto clog = read_file(file("collector.err"));
    EXPECT_TRUE(contains(clog, "malformed 0, unknown-template sets 0, sequence errors 0")) << clog;
    auto pos = clog.find(" records, ");
    auto begin = clog.rfind(' ', pos - 1);
    return pos == std::string::npos ? 0 : std::stoull(clog.substr(begin + 1, pos - begin - 1));
  }

  /// grpc_agent.py check over ipfixDump's decoding of out.ipfix and over out.jsonl.
  void check_outputs(const std::vector<std::string>& runs) {
    auto xml = file("antrea-elements.xml");
    std::string out;
    ASSERT_EQ(run_command({python, source("test/interop/antrea_xml.py"),
                           source("ipfix/elements/antrea-elements.csv"), xml},
                          out),
              0)
        << out;
    {
      process dump{{"/usr/bin/ipfixDump", "--in", file("out.ipfix"), "--element-file", xml},
                   file("dump.txt"),
                   file("dump.err")};
      ASSERT_EQ(dump.wait(60s).value_or(-2), 0);
    }
    EXPECT_EQ(read_file(file("dump.err")), "") << "ipfixDump complained";
    for (auto [name, flag, path] : {std::tuple{"check-dump", "--dump", file("dump.txt")},
                                    std::tuple{"check-jsonl", "--jsonl", file("out.jsonl")}}) {
      std::vector<std::string> args = {"check", flag, path, "--runs"};
      args.insert(args.end(), runs.begin(), runs.end());
      EXPECT_EQ(run_agent(name, args), 0) << name << ":\n"
                                          << read_file(file(std::string{name} + ".out"));
    }
  }

  /// An admin API page (read with python's urllib: no curl needed).
  std::string admin(const std::string& path) {
    std::string out;
    run_command({python, "-c",
                 "import sys,urllib.request;"
                 "sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())",
                 "http://127.0.0.1:" + admin_port_ + path},
                out, 30s);
    return out;
  }
  std::string metrics() { return admin("/metrics"); }

  /// grpc-go-agent sends 2 streams x 10,000 one-Flow requests to `target` (with `extra`
  /// arguments, e.g. mTLS) and must end each stream with the server's OK reply; every
  /// Flow must then come out of the IPFIX destination and the JSON lines.
  void go_agent_delivers_every_flow(const std::string& target,
                                    const std::vector<std::string>& extra = {}) {
#ifndef FA_GRPC_GO_AGENT
    GTEST_SKIP() << "tools/grpc-go-agent was not built: `go` or Debian's grpc-go was missing "
                    "at configure time (scripts/install-deps.sh installs them)";
#endif
    constexpr std::uint64_t streams = 2, per_stream = 10000;
    // The requests a C++ client would send, one file per stream (each its own
    // observation domain, as separate Agents).
    std::string out;
    ASSERT_EQ(run_command({binary("tools/grpc-loadgen/grpc-loadgen"), "--streams",
                           std::to_string(streams), "--records", std::to_string(per_stream),
                           "--flows-per-request", "1", "--dump", file("requests")},
                          out, 60s),
              0)
        << out;
    std::vector<std::string> args = {binary("tools/grpc-go-agent/grpc-go-agent"),
                                     "--target",
                                     target,
                                     "--streams",
                                     std::to_string(streams),
                                     "--records",
                                     std::to_string(per_stream),
                                     "--requests",
                                     file("requests.0"),
                                     "--requests",
                                     file("requests.1")};
    args.insert(args.end(), extra.begin(), extra.end());
    process go{args, file("go-agent.out"), file("go-agent.err")};
    EXPECT_EQ(go.wait(120s).value_or(-2), 0) << read_file(file("go-agent.err"));
    EXPECT_TRUE(contains(read_file(file("go-agent.out")), R"("records": 20000, )"))
        << read_file(file("go-agent.out"));
    EXPECT_TRUE(contains(metrics(), "flow_aggregator_grpc_flows_total 20000"));
    EXPECT_EQ(stop(), streams * per_stream) << "the IPFIX destination";
    EXPECT_EQ(count_lines(read_file(file("out.jsonl"))), streams * per_stream) << "the JSON lines";
  }

  std::string dir_;
  std::unique_ptr<tls_pki> pki_;
  std::unique_ptr<process> collector_;
  std::unique_ptr<process> fa_;
  std::vector<std::string> ports_;
  std::string stream_port_;
  std::string admin_port_;
};

// An Agent over plain gRPC (IPv4, one Flow per request as Antrea sends) and one over
// mTLS (IPv6, 25 Flows per request), with IPFIX over TCP in the same run: every Flow comes
// out of the IPFIX destination and the JSON lines with each element's value; clients with
// a certificate from another CA, or a name not allowed, are refused.
TEST_F(grpc_interop, agents_over_grpc_and_mtls_v4_v6_alongside_ipfix) {
  ASSERT_NO_FATAL_FAILURE(start({"grpc://127.0.0.1:0", "grpcs://[::1]:0", "tcp://127.0.0.1:0"}));
  auto plain = agent("export-v4", {"export", "--target", "127.0.0.1:" + ports_[0], "--count", "300",
                                   "--per-request", "1"});
  auto args =
      std::vector<std::string>{"export",  "--target", "[::1]:" + ports_[1], "--first", "1000",
                               "--count", "200",      "--per-request",      "25",      "--ipv6"};
  auto m = mtls("agent-a");
  args.insert(args.end(), m.begin(), m.end());
  auto secure = agent("export-v6", args);
  process loadgen{{binary("tools/ipfix-loadgen"), "--target", "127.0.0.1:" + ports_[2],
                   "--sessions", "2", "--records", "500", "--template", "antrea-v4"},
                  file("loadgen.out"),
                  file("loadgen.err")};
  EXPECT_EQ(plain->wait(90s).value_or(-2), 0) << read_file(file("export-v4.out"));
  EXPECT_EQ(secure->wait(90s).value_or(-2), 0) << read_file(file("export-v6.out"));
  EXPECT_EQ(loadgen.wait(90s).value_or(-2), 0) << read_file(file("loadgen.err"));
  EXPECT_TRUE(contains(read_file(file("export-v4.out")), "reply: ExportResponse"));

  // A certificate from another CA fails the handshake; agent-b is signed by our CA but
  // not in allowed_names.
  for (auto [name, client] : {std::pair{"rogue", "rogue-agent"}, std::pair{"agent-b", "agent-b"}}) {
    auto a = std::vector<std::string>{"export",  "--target", "[::1]:" + ports_[1], "--count", "5",
                                      "--first", "5000",     "--timeout",          "20"};
    auto c = mtls(client);
    a.insert(a.end(), c.begin(), c.end());
    EXPECT_EQ(run_agent(name, a), 3) << name << " was not refused";
  }
  EXPECT_TRUE(contains(read_file(file("agent-b.out")), "PERMISSION_DENIED"));
  // A client that does not offer ALPN "h2" (RFC 7301 3.2) is refused in the handshake.
  std::string s_client;
  EXPECT_NE(run_command({"/usr/bin/openssl", "s_client", "-connect", "[::1]:" + ports_[1], "-alpn",
                         "http/1.1", "-CAfile", pki_->ca(), "-brief"},
                        s_client, 30s),
            0)
      << s_client;
  auto text = metrics();
  // Failed grpcs:// handshakes are counted as on tls:// listeners (the rogue's client
  // may retry, so at least once).
  EXPECT_GE(
      sample(text,
             "flow_aggregator_tls_handshake_failures_total{reason=\"untrusted_certificate\"}"),
      1)
      << text;
  EXPECT_EQ(
      sample(text,
             "flow_aggregator_tls_handshake_failures_total{reason=\"no_application_protocol\"}"),
      1)
      << text;
  EXPECT_TRUE(
      contains(text, "flow_aggregator_grpc_streams_refused_total{reason=\"name_not_allowed\"} 1"))
      << text;
  EXPECT_TRUE(contains(text, "flow_aggregator_grpc_flows_total 500")) << text;

  EXPECT_EQ(stop(), 300u + 200u + 1000u);
  check_outputs({"0:300:0:127.0.0.1", "1000:200:1:::1"});
}

// The flow stream service: history first, filters as the reference describes, follow
// with max_count, invalid filters refused with InvalidArgument.
TEST_F(grpc_interop, flow_stream_serves_what_the_filters_select) {
  ASSERT_NO_FATAL_FAILURE(start({"grpc://127.0.0.1:0"}));
  auto target = "127.0.0.1:" + stream_port_;
  // A follower subscribed before any Flow arrives gets the next 50, then its stream ends.
  auto follower = agent("follow", {"subscribe", "--target", target, "--follow", "--max-count", "50",
                                   "--timeout", "60"});
  std::this_thread::sleep_for(500ms); // let it subscribe (it would otherwise get history)
  ASSERT_EQ(run_agent("export", {"export", "--target", "127.0.0.1:" + ports_[0], "--count", "400",
                                 "--per-request", "10"}),
            0)
      << read_file(file("export.out"));
  EXPECT_EQ(follower->wait(60s).value_or(-2), 0) << read_file(file("follow.err"));
  EXPECT_EQ(count_lines(read_file(file("follow.out"))), 50u);

  struct query {
    const char* name;
    const char* filters;
    std::size_t want;
  };
  // make_flow: source namespace NAMESPACES[i % 4], flowType 1 + i % 4, source
  // 10.244.1.(i % 250 + 1), service "svc-(i % 2)", end_ts 1700000060 + i.
  const query queries[] = {
      {"all", "[]", 400},
      {"from-payments", R"([{"namespaces":["payments"],"direction":"FLOW_FILTER_DIRECTION_FROM"}])",
       100},
      {"payments-either-side", R"([{"namespaces":["payments"]}])", 200},
      {"inter-node", R"([{"flowTypes":["FLOW_TYPE_INTER_NODE"]}])", 100},
      {"service-and-prefix",
       R"([{"serviceNames":["svc-1"]},{"ips":["10.244.1.0/25"],"direction":"FLOW_FILTER_DIRECTION_FROM"}])",
       // i odd and i % 250 + 1 < 128: 0..126 odd -> 63, 250..376 odd -> 63
       126},
      {"no-labels", R"([{"podLabelSelector":"!app"}])", 400},
  };
  for (const auto& q : queries) {
    EXPECT_EQ(run_agent(q.name, {"subscribe", "--target", target, "--filters", q.filters}), 0)
        << q.name << ": " << read_file(file(std::string{q.name} + ".err"));
    EXPECT_EQ(count_lines(read_file(file(std::string{q.name} + ".out"))), q.want) << q.name;
  }
  EXPECT_EQ(run_agent("since", {"subscribe", "--target", target, "--since", "1700000360"}), 0);
  EXPECT_EQ(count_lines(read_file(file("since.out"))), 100u); // i >= 300
  EXPECT_EQ(run_agent("max", {"subscribe", "--target", target, "--max-count", "33"}), 0);
  EXPECT_EQ(count_lines(read_file(file("max.out"))), 33u);
  EXPECT_EQ(
      run_agent("bad", {"subscribe", "--target", target, "--filters",
                        R"([{"serviceNames":["x"],"direction":"FLOW_FILTER_DIRECTION_FROM"}])"}),
      4)
      << read_file(file("bad.err"));
  // The Flows come back whole: the first of "all" is Flow 0 with its enrichment.
  auto all = read_file(file("all.out"));
  EXPECT_TRUE(contains(all.substr(0, all.find('\n')), R"("sourcePodName": "client-0")"));
  EXPECT_TRUE(contains(all.substr(0, all.find('\n')), R"("exporterIp": "127.0.0.1")"));
  EXPECT_EQ(stop(), 400u);
}

// Bad input is refused per Flow, counted by reason and logged; the stream and a good
// stream beside it go on; a request over the size limit ends only its own stream.
TEST_F(grpc_interop, bad_input_is_refused_counted_and_isolated) {
  ASSERT_NO_FATAL_FAILURE(start({"grpc://127.0.0.1:0"}));
  auto to = "127.0.0.1:" + ports_[0];
  auto good = agent("good", {"export", "--target", to, "--count", "2000", "--first", "10000"});
  EXPECT_EQ(run_agent("enum", {"export", "--target", to, "--count", "100", "--bad", "unknown_enum",
                               "--bad-every", "10"}),
            0);
  EXPECT_EQ(run_agent("times", {"export", "--target", to, "--first", "100", "--count", "100",
                                "--bad", "no_timestamps", "--bad-every", "5"}),
            0);
  EXPECT_EQ(run_agent("addr", {"export", "--target", to, "--first", "200", "--count", "100",
                               "--bad", "bad_address", "--bad-every", "4"}),
            0);
  EXPECT_EQ(run_agent("big", {"export", "--target", to, "--first", "300", "--count", "10",
                              "--oversized", "5000000"}),
            3);
  EXPECT_TRUE(contains(read_file(file("big.out")), "RESOURCE_EXHAUSTED"));
  // A request that is not an ExportRequest (a Pod name that is not UTF-8): none of its
  // Flows is taken, its stream ends, what came before it is delivered.
  EXPECT_EQ(run_agent("malformed",
                      {"export", "--target", to, "--first", "400", "--count", "20", "--malformed"}),
            3);
  EXPECT_TRUE(contains(read_file(file("malformed.out")), "INTERNAL"));
  // One request of 700 Flows: more than the server reads ahead before converting.
  EXPECT_EQ(run_agent("many", {"export", "--target", to, "--first", "500", "--count", "700",
                               "--per-request", "700"}),
            0);
  EXPECT_EQ(good->wait(90s).value_or(-2), 0) << read_file(file("good.out"));
  auto text = metrics();
  for (auto [reason, n] : {std::pair{"unknown_enum", 10}, std::pair{"no_timestamps", 20},
                           std::pair{"bad_address", 25}})
    EXPECT_TRUE(contains(text, "flow_aggregator_grpc_flows_rejected_total{reason=\"" +
                                   std::string{reason} + "\"} " + std::to_string(n)))
        << reason << "\n"
        << text;
  EXPECT_TRUE(
      contains(read_file(file("fa.err")), "event=\"grpc flows refused\" reason=unknown_enum"));
  EXPECT_TRUE(
      contains(text, "flow_aggregator_grpc_streams_refused_total{reason=\"bad_request\"} 1"))
      << text;
  // 2000 good + 90 + 80 + 75 + the 10 before the oversized request + the 20 before the
  // malformed one + 700.
  EXPECT_EQ(stop(), 2000u + 90u + 80u + 75u + 10u + 20u + 700u);
}

// SIGTERM while Agents stream (and never half-close): every Flow flow-aggregator read is
// delivered before it exits.
TEST_F(grpc_interop, sigterm_with_open_streams_loses_nothing_accepted) {
  ASSERT_NO_FATAL_FAILURE(start({"grpc://127.0.0.1:0", "grpc://[::1]:0"}));
  auto a = agent("a", {"export", "--target", "127.0.0.1:" + ports_[0], "--count", "40000",
                       "--per-request", "1", "--timeout", "120"});
  auto b = agent("b", {"export", "--target", "[::1]:" + ports_[1], "--first", "50000", "--count",
                       "40000", "--per-request", "20", "--ipv6", "--timeout", "120"});
  auto c = agent("c", {"export", "--target", "127.0.0.1:" + ports_[0], "--first", "100000",
                       "--count", "10", "--hold"});
  // Mid-stream: once a few thousand Flows have gone through.
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (count_lines(read_file(file("out.jsonl"))) < 3000 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  // Each stream is a session like any other, with its peer as the exporter address.
  auto sessions = admin("/api/v1/sessions");
  // The API may indent its JSON; compare without the white space between tokens.
  std::erase_if(sessions, [](char ch) { return ch == ' ' || ch == '\n'; });
  EXPECT_TRUE(contains(sessions, R"("transport":"grpc")")) << sessions;
  EXPECT_TRUE(contains(sessions, R"("peer":"[::1]:)")) << sessions;
  EXPECT_TRUE(contains(sessions, R"("peer":"127.0.0.1:)")) << sessions;
  auto records = stop();
  auto log = read_file(file("fa.err"));
  std::uint64_t accepted = 0;
  std::istringstream in{log};
  for (std::string line; std::getline(in, line);)
    if (contains(line, "grpc listener stopped"))
      accepted += std::stoull(log_value(line, "grpc listener stopped", "flows_accepted"));
  EXPECT_GE(accepted, 3000u);
  EXPECT_EQ(records, accepted) << "the IPFIX destination";
  EXPECT_EQ(count_lines(read_file(file("out.jsonl"))), accepted) << "the JSON lines";
  for (auto* p : {a.get(), b.get(), c.get()})
    p->wait(30s); // cut off by the shutdown: an RPC error
}

// The Antrea Agent's own gRPC library (grpc-go, which coalesces queued frames into one
// write where libgrpc writes each request) as the peer, over plain HTTP/2 on IPv4 and
// IPv6 and over mTLS: every Flow arrives and each stream ends with the server's reply.
TEST_F(grpc_interop, grpc_go_agent_over_ipv4) {
  ASSERT_NO_FATAL_FAILURE(start({"grpc://127.0.0.1:0"}));
  go_agent_delivers_every_flow("127.0.0.1:" + ports_[0]);
}

TEST_F(grpc_interop, grpc_go_agent_over_ipv6) {
  ASSERT_NO_FATAL_FAILURE(start({"grpc://[::1]:0"}));
  go_agent_delivers_every_flow("[::1]:" + ports_[0]);
}

TEST_F(grpc_interop, grpc_go_agent_over_mtls) {
  ASSERT_NO_FATAL_FAILURE(start({"grpcs://127.0.0.1:0"}));
  go_agent_delivers_every_flow("127.0.0.1:" + ports_[0], mtls("agent-a"));
}

} // namespace
} // namespace fa::test
