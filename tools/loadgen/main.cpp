// ipfix-loadgen: many concurrent IPFIX exporter sessions with deterministic content
// (tools/common/loadgen_content.hpp), for tests and benchmarks of the mediator. Over TCP
// by default (tools/loadgen/stream_session.hpp); with --tls-ca the sessions speak TLS
// (RFC 7011 11); --transport udp sends datagrams (tools/loadgen/udp_sender.hpp); --write
// saves the messages to a file instead of sending them.

#include "tools/loadgen/options.hpp"
#include "tools/loadgen/report.hpp"
#include "tools/loadgen/stream_session.hpp"
#include "tools/loadgen/udp_sender.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <openssl/ssl.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

namespace fa::tools {
namespace {

using asio::ip::tcp;

/// The TLS client context, or null after saying on stderr which file is unusable.
std::unique_ptr<asio::ssl::context> make_tls_context(const loadgen_config& cfg) {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  // RFC 7011 11.1: TLS 1.2 or later.
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  // TLS 1.3's default suites, AES-128-GCM first: with AES-NI the cheapest to encrypt.
  SSL_CTX_set_ciphersuites(
      ctx->native_handle(),
      "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
  ctx->set_verify_mode(asio::ssl::verify_peer);
  std::error_code ec;
  auto bad = [&ec](const char* opt, const std::string& file) {
    std::fprintf(stderr, "ipfix-loadgen: %s %s: %s\n", opt, file.c_str(), ec.message().c_str());
    return nullptr;
  };
  if (ctx->load_verify_file(cfg.tls_ca, ec); ec)
    return bad("--tls-ca", cfg.tls_ca);
  if (!cfg.tls_cert.empty()) {
    if (ctx->use_certificate_chain_file(cfg.tls_cert, ec); ec)
      return bad("--tls-cert", cfg.tls_cert);
    if (ctx->use_private_key_file(cfg.tls_key, asio::ssl::context::pem, ec); ec)
      return bad("--tls-key", cfg.tls_key);
  }
  return ctx;
}

/// --write: every session's messages, pre-generated, into one file (RFC 5655 format:
/// concatenated messages).
int write_sessions(const loadgen_config& cfg,
                   const std::vector<std::shared_ptr<stream_session>>& all) {
  std::FILE* out = std::fopen(cfg.write_file.c_str(), "wb");
  if (out == nullptr) {
    std::fprintf(stderr, "ipfix-loadgen: --write %s: %s\n", cfg.write_file.c_str(),
                 std::strerror(errno));
    return 1;
  }
  bool ok = true;
  for (auto& s : all) {
    s->pregenerate();
    auto& b = s->bytes();
    ok = ok && std::fwrite(b.data(), 1, b.size(), out) == b.size();
  }
  ok = std::fclose(out) == 0 && ok;
  if (!ok) {
    std::fprintf(stderr, "ipfix-loadgen: --write %s: write failed\n", cfg.write_file.c_str());
    return 1;
  }
  return 0;
}

} // namespace

int run(const loadgen_config& cfg) {
  std::signal(SIGPIPE, SIG_IGN);
  std::error_code ec;
  auto address = asio::ip::make_address(cfg.target.host, ec);
  if (ec) {
    std::fprintf(stderr, "ipfix-loadgen: --target host '%s' is not an IP address\n",
                 cfg.target.host.c_str());
    return 2;
  }
  if (cfg.udp)
    return run_udp(cfg, address);
  tcp::endpoint target(address, cfg.target.port);
  std::unique_ptr<asio::ssl::context> tls;
  if (cfg.tls && cfg.write_file.empty() && !(tls = make_tls_context(cfg)))
    return 2;

  asio::io_context ioc(static_cast<int>(cfg.io_threads));
  run_state run;
  run.tls = tls.get();
  std::vector<std::shared_ptr<stream_session>> sessions;
  sessions.reserve(cfg.sessions);
  for (std::uint32_t i = 0; i < cfg.sessions; ++i)
    sessions.push_back(
        std::make_shared<stream_session>(ioc, cfg, run, cfg.odid_base + i * cfg.odid_step, target));
  if (!cfg.write_file.empty())
    return write_sessions(cfg, sessions);

  // Pre-generating takes generation off the send path, which matters when the tool
  // shares the machine with the system under test.
  // Paced runs generate as they go: their generation cost is spread over the run.
  bool pregenerated = false;
  if (cfg.records && !cfg.stamp && cfg.rate == 0 && cfg.pregen_limit > 0) {
    std::vector<std::uint8_t> sample;
    for (std::uint64_t i = 0; i < 64; ++i)
      append_record(cfg.kind, cfg.seed, cfg.odid_base, i, sample);
    auto estimate = static_cast<double>(sample.size()) / 64.0 * 1.1 *
                    static_cast<double>(*cfg.records) * cfg.sessions;
    if (estimate <= static_cast<double>(cfg.pregen_limit)) {
      auto t = steady::now();
      for (auto& s : sessions)
        s->pregenerate();
      pregenerated = true;
      if (!cfg.quiet && estimate >= 1e6)
        std::fprintf(stderr, "ipfix-loadgen: pre-generated %.1f MB in %.3f s\n", estimate / 1e6,
                     std::chrono::duration<double>(steady::now() - t).count());
    }
  }

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](std::error_code e, int) {
    if (!e)
      run.stop = true;
  });
  run.start = steady::now();
  if (cfg.duration)
    run.deadline = run.start + std::chrono::duration_cast<steady::duration>(*cfg.duration);
  // The pending signal wait keeps run() going; the last session to end cancels it.
  run.active = cfg.sessions;
  if (run.tls && pregenerated)
    run.sealing = cfg.sessions;
  run.all_done = [&] { asio::post(ioc, [&] { signals.cancel(); }); };
  for (auto& s : sessions)
    s->start();

  std::vector<std::thread> threads;
  for (unsigned i = 1; i < cfg.io_threads; ++i)
    threads.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : threads)
    t.join();

  run_totals totals;
  for (auto& s : sessions)
    totals.add(s->stats());
  return report_run(cfg, totals, run.start, run.stop);
}

} // namespace fa::tools

int main(int argc, char** argv) {
  auto cfg = fa::tools::parse_args(argc, argv);
  return fa::tools::run(cfg);
}
