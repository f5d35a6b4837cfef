// IPFIX over TLS (RFC 7011 10.4.2, 11), in-process flow-aggregator over loopback:
// exporters connect with TLS (ipfix-loadgen --tls-ca, openssl s_client, raw sockets),
// flow-aggregator exports to a TLS collector (a second flow-aggregator with a tls://
// listener). Certificates come from a PKI made with the openssl command per run.

#include "net/tls_context.hpp"
#include "test/integration/harness.hpp"
#include "test/integration/relay.hpp"
#include "test/support/tls_pki.hpp"

#include <gtest/gtest.h>

#include <asio.hpp>

#include <openssl/pem.h>

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace std::chrono_literals;
using fa::test::collector;
using fa::test::eventually;
using fa::test::metric;
using fa::test::running;

namespace {

namespace fs = std::filesystem;

/// One PKI for the whole process: making it costs a dozen openssl runs. ctest runs each
/// test in a process of its own, possibly side by side: each gets its own directory.
const fa::test::tls_pki& pki() {
  static fa::test::tls_pki p{fa::test::scratch_dir("tls-pki-" + std::to_string(::getpid()))};
  return p;
}

std::string toml_string(const std::string& s) {
  return "\"" + s + "\"";
}

/// A config with one tls:// listener on 127.0.0.1:0; `tls` adds keys to [collector.tls],
/// `collector` to [collector], `extra` top-level keys and tables.
fa::config::config tls_config(const std::string& destinations, const std::string& tls = "",
                              const std::string& extra = "", const std::string& collector = "",
                              const std::string& listen = "tls://127.0.0.1:0") {
  auto s = pki().server();
  std::string text = "cluster_id = \"0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11\"\n" + extra +
                     "\n[collector]\nlisten = [\"" + listen + "\"]\n" + collector +
                     "\n[collector.tls]\ncert = " + toml_string(s.cert) +
                     "\nkey = " + toml_string(s.key) + "\nclient_ca = " + toml_string(pki().ca()) +
                     "\n" + tls + "\n" + destinations + "\n[admin]\nlisten = \"\"\n";
  auto r = fa::config::load_string(text, "tls-test.toml");
  for (auto& e : r.errors)
    ADD_FAILURE() << fa::config::to_string(e);
  return r.cfg.value_or(fa::config::config{});
}

/// ipfix-loadgen arguments for a TLS exporter with client certificate `client`
/// ("" = none), verifying flow-aggregator with CA file `ca` (default: the test CA).
std::vector<std::string> tls_args(const std::string& client, std::string ca = "") {
  std::vector<std::string> a{"--tls-ca", ca.empty() ? pki().ca() : ca};
  if (!client.empty()) {
    auto f = pki().client(client);
    a.insert(a.end(), {"--tls-cert", f.cert, "--tls-key", f.key});
  }
  return a;
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

double failures(fa::app::supervisor& sup, const std::string& reason) {
  return metric(sup, "flow_aggregator_tls_handshake_failures_total", {{"reason", reason}});
}

/// A TCP connection that never says a word: a handshake that never completes.
using silent_peer = fa::test::tcp_peer;

/// Runs `openssl s_client` with `args` against 127.0.0.1:`port`, its stdin from `input`
/// (exec: the process is openssl itself, so a kill reaches it). Bounded.
int s_client(std::uint16_t port, const std::vector<std::string>& args, const std::string& input,
             std::string& output) {
  std::string cmd = "exec openssl s_client -connect 127.0.0.1:" + std::to_string(port);
  for (auto& a : args)
    cmd += " '" + a + "'";
  // -no_ign_eof after -quiet: end of input sends close_notify and ends the connection.
  cmd += " -quiet -no_ign_eof -nocommands < '" + input + "'";
  return fa::test::run_command({"sh", "-c", cmd}, output, 30s);
}

void replace_file(const std::string& from, const std::string& to) {
  fs::copy_file(from, to + ".new", fs::copy_options::overwrite_existing);
  fs::rename(to + ".new", to); // atomic: a reload never sees half a file
}

} // namespace

// ---------------------------------------------------------------------------------------
// Contexts and names (net/tls_context)

TEST(tls_context, errors_name_the_key_the_file_and_the_reason) {
  auto s = pki().server();
  fa::net::tls_server_options o;
  o.cert = pki().dir() + "/missing.crt";
  o.key = s.key;
  auto made = fa::net::make_server_context(o);
  ASSERT_TRUE(std::holds_alternative<std::string>(made));
  auto err = std::get<std::string>(made);
  EXPECT_NE(err.find("collector.tls.cert (" + o.cert + ")"), std::string::npos) << err;
  EXPECT_NE(err.find("No such file or directory"), std::string::npos) << err;

  o.cert = s.cert;
  o.key = pki().client("agent-a").key; // another certificate's key
  made = fa::net::make_server_context(o);
  ASSERT_TRUE(std::holds_alternative<std::string>(made));
  err = std::get<std::string>(made);
  EXPECT_NE(err.find("collector.tls.key (" + o.key + ") does not belong"), std::string::npos)
      << err;

  o.key = s.key;
  o.client_ca = pki().dir() + "/server.ext"; // a text file, no PEM certificate in it
  made = fa::net::make_server_context(o);
  ASSERT_TRUE(std::holds_alternative<std::string>(made));
  err = std::get<std::string>(made);
  EXPECT_NE(err.find("collector.tls.client_ca (" + o.client_ca + "): no usable PEM CA"),
            std::string::npos)
      << err;

  o.client_ca = pki().ca();
  o.min_version = "1.1";
  made = fa::net::make_server_context(o);
  ASSERT_TRUE(std::holds_alternative<std::string>(made));
  EXPECT_NE(std::get<std::string>(made).find("must be \"1.2\" or \"1.3\""), std::string::npos);

  o.min_version = "1.3";
  EXPECT_TRUE(std::holds_alternative<fa::net::ssl_context_ptr>(fa::net::make_server_context(o)));
}

TEST(tls_context, a_failed_reload_keeps_the_current_context) {
  auto dir = fa::test::scratch_dir("tls-reload-unit");
  auto s = pki().server();
  fa::net::tls_server_options o;
  o.cert = dir + "/tls.crt";
  o.key = dir + "/tls.key";
  replace_file(s.cert, o.cert);
  replace_file(s.key, o.key);
  auto made = fa::net::tls_server_context::make(o);
  ASSERT_TRUE(std::holds_alternative<fa::net::tls_server_context_ptr>(made));
  auto ctx = std::get<fa::net::tls_server_context_ptr>(made);
  auto before = ctx->current();
  std::ofstream{o.cert} << "not a certificate\n";
  auto err = ctx->reload();
  ASSERT_TRUE(err);
  EXPECT_NE(err->find(o.cert), std::string::npos) << *err;
  EXPECT_EQ(ctx->current(), before);
  replace_file(s.cert, o.cert);
  EXPECT_FALSE(ctx->reload());
  EXPECT_NE(ctx->current(), before);
}

TEST(tls_context, allowed_names_match_the_subject_cn_or_a_dns_san) {
  std::FILE* f = std::fopen(pki().client("agent-a").cert.c_str(), "r");
  ASSERT_NE(f, nullptr);
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(fa::net::certificate_names(cert),
            (std::vector<std::string>{"agent-a", "agent-a.nodes.test"}));
  EXPECT_TRUE(fa::net::name_allowed(cert, {}));
  EXPECT_TRUE(fa::net::name_allowed(cert, {"agent-b", "agent-a"}));
  EXPECT_TRUE(fa::net::name_allowed(cert, {"Agent-A.Nodes.Test"}));
  EXPECT_FALSE(fa::net::name_allowed(cert, {"agent-b", "agent"}));
  EXPECT_FALSE(fa::net::name_allowed(cert, {"nodes.test"}));
  X509_free(cert);
}

// ---------------------------------------------------------------------------------------
// Collecting over TLS

// A client whose certificate the configured CA signed, with a name in allowed_names, gets
// in; every record arrives unchanged, enriched with 403 = its address and 405 = its ODID.
TEST(tls_in, client_from_the_ca_gets_in_and_records_arrive_enriched) {
  auto dir = fa::test::scratch_dir("tls_in_ok");
  constexpr int sessions = 4, records = 2000;
  collector col{dir,
                {"--verify", "21", "--expect-odids", "1000:4", "--expect-records",
                 std::to_string(records), "--expect-exporter", "127.0.0.1", "--expect-total",
                 std::to_string(sessions * records)}};
  running fa{tls_config(fa::test::tcp_destination(col.port()),
                        "allowed_names = [\"agent-a\", \"someone-else\"]")};
  ASSERT_EQ(
      fa::test::run_loadgen(
          fa.port, tls_args("agent-a") +
                       std::vector<std::string>{"--sessions", std::to_string(sessions), "--records",
                                                std::to_string(records), "--template", "antrea-v4",
                                                "--seed", "21", "--records-per-message", "9"}),
      0);
  auto r = col.report();
  EXPECT_EQ(r.value("records", 0), sessions * records) << r.dump();
  EXPECT_EQ(r.value("verified", 0), sessions * records) << r.dump();
  EXPECT_EQ(r.value("mismatched", -1), 0) << r.dump();
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_sessions_accepted_total", {{"transport", "tls"}}),
            sessions);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_records_received_total", {{"transport", "tls"}}),
            sessions * records);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_tls_handshake_failures_total"), 0);
}

// Every way in that RFC 7011 11 closes is refused during the handshake, counted by
// reason, and delivers nothing: no certificate, a certificate from another CA, a name
// outside allowed_names, TLS 1.2 when 1.3 is the minimum, a peer that never finishes
// the handshake, and a plain IPFIX/TCP exporter.
TEST(tls_in, refusals_are_counted_by_reason) {
  auto dir = fa::test::scratch_dir("tls_in_refused");
  auto file = dir + "/records.ipfix";
  std::string out;
  ASSERT_EQ(fa::test::run_command(
                {fa::test::binary("tools/ipfix-loadgen"), "--write", file, "--records", "50"}, out),
            0)
      << out;
  running fa{tls_config("[[destination]]\nname = \"j\"\nurl = \"jsonl:" + dir + "/out.jsonl\"\n",
                        "allowed_names = [\"agent-a\"]\nmin_version = \"1.3\"\n"
                        "handshake_timeout = \"1s\"")};
  auto refused = [&](const std::string& reason, double n) {
    return eventually([&] { return failures(fa.sup, reason) == n; }, 20s);
  };
  // ipfix-loadgen's exit status cannot tell: under TLS 1.3 a client finishes its side
  // of the handshake before the server judges its certificate.
  fa::test::run_loadgen(fa.port, tls_args("") + std::vector<std::string>{"--records", "10"});
  EXPECT_TRUE(refused("no_certificate", 1));
  fa::test::run_loadgen(fa.port, tls_args("rogue") + std::vector<std::string>{"--records", "10"});
  EXPECT_TRUE(refused("untrusted_certificate", 1));
  fa::test::run_loadgen(fa.port, tls_args("agent-b") + std::vector<std::string>{"--records", "10"});
  EXPECT_TRUE(refused("name_not_allowed", 1));
  auto a = pki().client("agent-a");
  EXPECT_NE(s_client(fa.port, {"-tls1_2", "-cert", a.cert, "-key", a.key, "-CAfile", pki().ca()},
                     file, out),
            0)
      << out;
  EXPECT_TRUE(refused("protocol_version", 1)) << out;
  {
    silent_peer p{fa.port};
    ASSERT_TRUE(p.connected());
    EXPECT_TRUE(refused("timeout", 1));
  }
  fa::test::run_loadgen(fa.port, {"--records", "10"});
  EXPECT_TRUE(refused("not_tls", 1));
  // The same client with TLS 1.3 gets in: the refusals were about what each one lacked.
  ASSERT_EQ(s_client(fa.port, {"-cert", a.cert, "-key", a.key, "-CAfile", pki().ca()}, file, out),
            0)
      << out;
  EXPECT_TRUE(eventually([&] {
    return metric(fa.sup, "flow_aggregator_records_received_total", {{"transport", "tls"}}) == 50;
  }));
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_sessions_accepted_total", {{"transport", "tls"}}), 1);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_tls_handshake_failures_total"), 6);
}

// collector.tls.max_handshakes = 2: four peers that never finish their handshakes are
// served two at a time (the others wait in the accept queue), so the last two time out a
// whole handshake_timeout after the first two; unbounded, all four would time out
// together. Afterwards a real exporter still gets in.
TEST(tls_in, max_handshakes_bounds_handshakes_in_progress) {
  auto dir = fa::test::scratch_dir("tls_in_max_handshakes");
  constexpr auto timeout = 600ms;
  running fa{tls_config("[[destination]]\nname = \"j\"\nurl = \"jsonl:" + dir + "/out.jsonl\"\n",
                        "max_handshakes = 2\nhandshake_timeout = \"600ms\"")};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<silent_peer>> peers;
  for (int i = 0; i < 4; ++i) {
    peers.push_back(std::make_unique<silent_peer>(fa.port));
    ASSERT_TRUE(peers.back()->connected());
  }
  double most = 0;
  bool all_timed_out = eventually(
      [&] {
        most = std::max(most, metric(fa.sup, "flow_aggregator_tls_handshakes_in_progress"));
        return failures(fa.sup, "timeout") == 4;
      },
      20s);
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(all_timed_out) << failures(fa.sup, "timeout");
  EXPECT_EQ(most, 2);
  EXPECT_GE(elapsed, 2 * timeout - 100ms)
      << "the third and fourth handshakes started before the first two ended";
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_tls_handshakes_in_progress"), 0);
  ASSERT_EQ(fa::test::run_loadgen(fa.port, tls_args("agent-a") +
                                               std::vector<std::string>{"--records", "100"}),
            0);
  EXPECT_TRUE(eventually([&] {
    return metric(fa.sup, "flow_aggregator_records_received_total", {{"transport", "tls"}}) == 100;
  }));
}

// Issue 16 defect 7: a TLS exporter that completed its handshake and then said nothing
// held its session slot forever. first_message_timeout runs from the end of the
// handshake (a slow handshake has handshake_timeout): openssl s_client, which sends
// nothing (-ign_eof, stdin empty) and exits when the session is closed, is cut off.
TEST(tls_in, a_silent_session_is_closed_after_first_message_timeout) {
  auto dir = fa::test::scratch_dir("tls_in_first_message");
  running fa{tls_config("[[destination]]\nname = \"j\"\nurl = \"jsonl:" + dir + "/out.jsonl\"\n",
                        "handshake_timeout = \"10s\"", "", "first_message_timeout = \"500ms\"\n")};
  auto a = pki().client("agent-a");
  std::string out;
  auto rc =
      fa::test::run_command({"sh", "-c",
                             "exec openssl s_client -connect 127.0.0.1:" + std::to_string(fa.port) +
                                 " -cert '" + a.cert + "' -key '" + a.key + "' -CAfile '" +
                                 pki().ca() + "' -quiet -ign_eof -nocommands < /dev/null"},
                            out, 30s);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(eventually([&] {
    return metric(fa.sup, "flow_aggregator_sessions_closed_total",
                  {{"transport", "tls"}, {"reason", "first_message_timeout"}}) == 1;
  })) << out;
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_tls_handshake_failures_total"), 0);
}

// reload_tls (SIGHUP) swaps the server certificate for new handshakes: a client that
// trusts only the old CA is refused afterwards, one that trusts the new CA gets in, and
// the session established before the reload keeps delivering to the end. A reload with
// a broken file is refused with an error naming it and changes nothing.
TEST(tls_in, reload_swaps_the_certificate_for_new_connections_only) {
  auto dir = fa::test::scratch_dir("tls_in_reload");
  auto& p = const_cast<fa::test::tls_pki&>(pki());
  auto next = p.issue("server-next", "localhost", {"DNS:localhost", "IP:127.0.0.1"},
                      fa::test::tls_pki::usage::server, "other-ca");
  auto cert = dir + "/tls.crt", key = dir + "/tls.key";
  replace_file(p.server().cert, cert);
  replace_file(p.server().key, key);
  constexpr int long_records = 3000, short_records = 200;
  collector col{dir,
                {"--verify", "9", "--expect-exporter", "127.0.0.1", "--expect-total",
                 std::to_string(long_records + short_records)}};
  auto cfg = tls_config(fa::test::tcp_destination(col.port()));
  cfg.collector.tls.cert = cert;
  cfg.collector.tls.key = key;
  running fa{cfg};
  // 3000 records over 3 s: still sending while the certificate changes.
  auto long_run = fa::test::start_loadgen(
      fa.port, tls_args("agent-a") +
                   std::vector<std::string>{"--records", "3000", "--rate", "1000", "--seed", "9"});
  ASSERT_TRUE(eventually([&] {
    return metric(fa.sup, "flow_aggregator_records_received_total", {{"transport", "tls"}}) > 0;
  }));
  replace_file(next.cert, cert);
  replace_file(next.key, key);
  ASSERT_FALSE(fa.sup.reload_tls());
  auto at_reload = metric(fa.sup, "flow_aggregator_records_received_total");
  ASSERT_LT(at_reload, long_records) << "the long session ended before the reload";
  // The old CA no longer verifies the server: the client refuses the handshake.
  EXPECT_EQ(fa::test::run_loadgen(
                fa.port, tls_args("agent-a") +
                             std::vector<std::string>{"--records", "10", "--odid-base", "7"}),
            1);
  // A broken file: refused, named, and the new certificate stays in use.
  std::ofstream{cert} << "garbage\n";
  auto err = fa.sup.reload_tls();
  ASSERT_TRUE(err);
  EXPECT_NE(err->find(cert), std::string::npos) << *err;
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_tls_reloads_total", {{"result", "error"}}), 1);
  EXPECT_EQ(fa::test::run_loadgen(
                fa.port, tls_args("agent-a", p.other_ca()) +
                             std::vector<std::string>{"--records", std::to_string(short_records),
                                                      "--seed", "9", "--odid-base", "2000"}),
            0);
  EXPECT_EQ(long_run->wait(60s), 0);
  auto r = col.report();
  EXPECT_EQ(r.value("records", 0), long_records + short_records) << r.dump();
  EXPECT_EQ(r.value("verified", 0), long_records + short_records) << r.dump();
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_tls_reloads_total", {{"result", "ok"}}), 1);
}

// DESIGN 3 over TLS: with the destination down and on_full = "block", the reader stops
// once the budgets are spent (TCP flow control under TLS then holds the exporter back),
// so flow-aggregator takes in a bounded amount; when the collector appears, everything
// arrives, nothing lost.
TEST(tls_in, a_blocked_destination_pushes_back_on_the_exporter) {
  auto dir = fa::test::scratch_dir("tls_in_backpressure");
  constexpr int records = 100000; // about 25 MB of Antrea records
  auto col_port = [] {
    asio::io_context io;
    asio::ip::tcp::acceptor a{io, {asio::ip::make_address("127.0.0.1"), 0}};
    return a.local_endpoint().port();
  }();
  running fa{tls_config(fa::test::tcp_destination(col_port, "queue_size = \"256KiB\"\n"), "", "",
                        "session_budget = \"256KiB\"\nreceive_budget = \"1MiB\"\n")};
  auto exporter = fa::test::start_loadgen(
      fa.port, tls_args("agent-a") + std::vector<std::string>{"--records", std::to_string(records),
                                                              "--template", "antrea-v4", "--seed",
                                                              "12", "--close-timeout", "60s"});
  auto received = [&] { return metric(fa.sup, "flow_aggregator_received_bytes_total"); };
  ASSERT_TRUE(eventually([&] { return received() > 0; }));
  // Bounded: the process budget, one read beyond it, and what the queue holds.
  constexpr double bound = (1 << 20) + (256 << 10) + (256 << 10) + 65535;
  auto deadline = std::chrono::steady_clock::now() + 2s;
  while (std::chrono::steady_clock::now() < deadline) {
    ASSERT_LE(received(), bound);
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(exporter->running()) << "the exporter finished: nothing pushed back";
  collector col{dir,
                {"--verify", "12", "--expect-exporter", "127.0.0.1", "--expect-total",
                 std::to_string(records)},
                col_port};
  EXPECT_EQ(exporter->wait(120s), 0);
  auto r = col.report();
  EXPECT_EQ(r.value("records", 0), records) << r.dump();
  EXPECT_EQ(r.value("verified", 0), records) << r.dump();
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_records_dropped_total"), 0);
}

// The real binary: SIGHUP reloads the tls:// certificate (app/main.cpp), and a new
// client then needs the new CA.
TEST(tls_in, sighup_reloads_the_certificate_of_the_running_binary) {
  auto dir = fa::test::scratch_dir("tls_in_sighup");
  auto& p = const_cast<fa::test::tls_pki&>(pki());
  auto next = p.issue("server-hup", "localhost", {"DNS:localhost", "IP:127.0.0.1"},
                      fa::test::tls_pki::usage::server, "other-ca");
  auto cert = dir + "/tls.crt", key = dir + "/tls.key";
  replace_file(p.server().cert, cert);
  replace_file(p.server().key, key);
  {
    std::ofstream cfg{dir + "/fa.toml"};
    cfg << "cluster_id = \"0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11\"\n[collector]\nlisten = "
           "[\"tls://127.0.0.1:0\"]\n[collector.tls]\ncert = "
        << toml_string(cert) << "\nkey = " << toml_string(key)
        << "\nclient_ca = " << toml_string(p.ca())
        << "\n[[destination]]\nname = \"j\"\nurl = " << toml_string("jsonl:" + dir + "/out.jsonl")
        << "\n[admin]\nlisten = \"\"\n";
  }
  auto log = dir + "/fa.err";
  fa::test::process fa{{fa::test::binary("app/flow-aggregator"), "run", "-c", dir + "/fa.toml"},
                       dir + "/fa.out",
                       log};
  std::uint16_t port = 0;
  ASSERT_TRUE(eventually([&] {
    auto text = fa::test::read_file(log);
    auto at = text.find("event=listening transport=tls");
    auto p = text.find(" port=", at == std::string::npos ? text.size() : at);
    if (at == std::string::npos || p == std::string::npos)
      return false;
    port = static_cast<std::uint16_t>(std::stoi(text.substr(p + 6)));
    return true;
  })) << fa::test::read_file(log);
  auto send = [&](const std::string& ca, const std::string& odid) {
    return fa::test::run_loadgen(
        port, tls_args("agent-a", ca) +
                  std::vector<std::string>{"--records", "100", "--odid-base", odid});
  };
  ASSERT_EQ(send(p.ca(), "1"), 0);
  replace_file(next.cert, cert);
  replace_file(next.key, key);
  fa.signal(SIGHUP);
  ASSERT_TRUE(eventually([&] {
    return fa::test::read_file(log).find("event=\"tls reloaded\"") != std::string::npos;
  })) << fa::test::read_file(log);
  EXPECT_EQ(send(p.ca(), "2"), 1) << "the old certificate is still served";
  EXPECT_EQ(send(p.other_ca(), "3"), 0);
  fa.signal(SIGTERM);
  EXPECT_EQ(fa.wait(30s), 0) << fa::test::read_file(log);
  EXPECT_TRUE(eventually(
      [&] {
        return fa::test::read_file(dir + "/out.jsonl").find("\"originalObservationDomainId\":3") !=
               std::string::npos;
      },
      5s));
}

// ---------------------------------------------------------------------------------------
// Exporting over TLS

namespace {

/// The TLS collector for export tests: a second flow-aggregator with a tls:// listener
/// that requires client certificates named agent-a, forwarding to `col` unchanged (no
/// enrichment of its own, so the first one's 403/405 reach the collector).
fa::config::config tls_collector_config(std::uint16_t col_port,
                                        const std::string& listen = "tls://127.0.0.1:0") {
  return tls_config(fa::test::tcp_destination(col_port), "allowed_names = [\"agent-a\"]",
                    "[enrichment]\nprovenance = false\nantrea = false\n", "", listen);
}

std::string tls_destination(std::uint16_t port, const std::string& extra,
                            const std::string& host = "127.0.0.1") {
  auto a = pki().client("agent-a");
  return "[[destination]]\nname = \"tls\"\nurl = \"ipfix+tls://" + host + ":" +
         std::to_string(port) +
         "\"\nflush_interval = \"5ms\"\nreconnect_min = \"100ms\"\nreconnect_max = \"400ms\"\n"
         "tls_ca = " +
         toml_string(pki().ca()) + "\ntls_cert = " + toml_string(a.cert) +
         "\ntls_key = " + toml_string(a.key) + "\n" + extra;
}

} // namespace

// loadgen -TCP-> flow-aggregator -TLS, mutual-> flow-aggregator (tls://) -TCP-> collector:
// the exporter verifies the collector's certificate (IP SAN 127.0.0.1), presents its
// own, and every record arrives with 403 = the exporter's address.
TEST(tls_out, export_to_a_tls_collector_with_mutual_auth) {
  auto dir = fa::test::scratch_dir("tls_out_ok");
  constexpr int sessions = 3, records = 1500;
  collector col{dir,
                {"--verify", "4", "--expect-odids", "1000:3", "--expect-records",
                 std::to_string(records), "--expect-exporter", "127.0.0.1", "--expect-total",
                 std::to_string(sessions * records)}};
  running tls_col{tls_collector_config(col.port())};
  running fa{fa::test::test_config(tls_destination(tls_col.port, ""))};
  ASSERT_EQ(fa::test::run_loadgen(fa.port, {"--sessions", std::to_string(sessions), "--records",
                                            std::to_string(records), "--template", "antrea-v6",
                                            "--seed", "4"}),
            0);
  auto r = col.report();
  EXPECT_EQ(r.value("records", 0), sessions * records) << r.dump();
  EXPECT_EQ(r.value("verified", 0), sessions * records) << r.dump();
  EXPECT_EQ(metric(tls_col.sup, "flow_aggregator_sessions_accepted_total", {{"transport", "tls"}}),
            1);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_destination_tls_failures_total"), 0);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_destination_up", {{"destination", "tls"}}), 1);
}

// A collector whose certificate does not hold tls_server_name gets no data: every
// attempt fails the handshake, is counted, and is retried with growing backoff
// (100 ms doubling to 400 ms: in 2 s a handful of attempts, not hundreds).
TEST(tls_out, collector_with_another_name_is_refused_and_retried) {
  auto dir = fa::test::scratch_dir("tls_out_wrong_name");
  collector col{dir, {"--idle-exit", "60s"}};
  running tls_col{tls_collector_config(col.port())};
  running fa{fa::test::test_config(
      tls_destination(tls_col.port, "tls_server_name = \"collector.example\"\n"))};
  auto name_mismatch = [&] {
    return metric(fa.sup, "flow_aggregator_destination_tls_failures_total",
                  {{"destination", "tls"}, {"reason", "name_mismatch"}});
  };
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return name_mismatch() >= 3; }, 20s));
  auto elapsed = std::chrono::steady_clock::now() - t0;
  std::this_thread::sleep_for(1s); // the backoff is what this test looks at
  auto later = name_mismatch();
  auto span = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // At most one attempt per 100 ms even at the start; at most 2.5 per second once at the
  // 400 ms ceiling.
  EXPECT_LE(later, span / 0.1 + 1) << later << " attempts in " << span << " s";
  EXPECT_GE(later, 3);
  EXPECT_GE(elapsed, 250ms) << "three attempts need two backoff waits (100 + 200 ms)";
  EXPECT_GE(metric(fa.sup, "flow_aggregator_destination_reconnects_total"), later - 1);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_destination_up", {{"destination", "tls"}}), 0);
  EXPECT_EQ(metric(tls_col.sup, "flow_aggregator_sessions_accepted_total"), 0);
  col.stop();
  col.report();
}

// IPv6 end to end: an exporter connects over TLS to [::1] (404 = ::1), and the export
// goes to [::1] too, the collector's certificate verified by its IP subjectAltName ::1.
TEST(tls_out, ipv6_in_and_out_verified_by_ip_address) {
  auto dir = fa::test::scratch_dir("tls_v6");
  constexpr int records = 1000;
  collector col{
      dir,
      {"--verify", "6", "--expect-exporter", "::1", "--expect-total", std::to_string(records)}};
  running tls_col{tls_collector_config(col.port(), "tls://[::1]:0")};
  running fa{tls_config(tls_destination(tls_col.port, "", "[::1]"), "", "", "", "tls://[::1]:0")};
  fa::test::process exporter{
      std::vector<std::string>{fa::test::binary("tools/ipfix-loadgen"), "--target",
                               "[::1]:" + std::to_string(fa.port), "--quiet", "--records",
                               std::to_string(records), "--template", "antrea-v6", "--seed", "6"} +
          tls_args("agent-a"),
      "", dir + "/loadgen.err"};
  EXPECT_EQ(exporter.wait(60s), 0) << fa::test::read_file(dir + "/loadgen.err");
  auto r = col.report();
  EXPECT_EQ(r.value("records", 0), records) << r.dump();
  EXPECT_EQ(r.value("verified", 0), records) << r.dump();
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_destination_tls_failures_total"), 0);
}

// At least once over TLS too (issue 16): the TLS collector's connection dies mid-stream
// (a relay in front of it stops reading, is SIGKILLed with data unread, and comes back
// on the same port). What the collector may not have read is sent again on the new TLS
// connection: every record arrives, duplicates only as counted replays.
TEST(tls_out, a_collector_killed_mid_stream_loses_nothing) {
  auto dir = fa::test::scratch_dir("tls_out_killed");
  constexpr int sessions = 2, records = 10000;
  collector col{dir,
                {"--verify", "7", "--expect-odids", "1000:2", "--expect-records",
                 std::to_string(records), "--drain-timeout", "20s"}};
  running tls_col{tls_collector_config(col.port())};
  fa::test::dying_relay dying{dir, tls_col.port, 200000};
  running fa{fa::test::test_config(tls_destination(dying.port(), ""))};
  ASSERT_EQ(fa::test::run_loadgen(fa.port, {"--sessions", std::to_string(sessions), "--records",
                                            std::to_string(records), "--template", "antrea-v4",
                                            "--seed", "7"}),
            0);
  ASSERT_TRUE(dying.die_and_return(fa.sup)) << metric(fa.sup, "flow_aggregator_sent_bytes_total");
  // Everything written (again); then the chain stops in order, each stage reading what
  // the one before wrote: flow-aggregator, the TLS collector, the collector.
  ASSERT_TRUE(eventually(
      [&] {
        auto d = fa.sup.destinations();
        return d.size() == 1 && d[0].queued_records == 0 && d[0].sent_records >= sessions * records;
      },
      90s));
  auto replayed =
      metric(fa.sup, "flow_aggregator_records_replayed_total", {{"destination", "tls"}});
  fa.sup.stop();
  ASSERT_TRUE(eventually([&] {
    return metric(tls_col.sup, "flow_aggregator_sessions_open", {{"transport", "tls"}}) == 0;
  }));
  tls_col.sup.stop();
  col.stop();
  auto r = col.report();
  EXPECT_EQ(r.value("missing", -1), 0) << r.dump();
  EXPECT_EQ(r.value("mismatched", -1), 0) << r.dump();
  EXPECT_GT(replayed, 0);
  EXPECT_LE(r.value("duplicates", 0), replayed) << r.dump();
}
