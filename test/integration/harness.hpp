#pragma once

// Loopback integration harness: flow-aggregator runs in-process (a real supervisor with
// real sockets on 127.0.0.1, port 0), the load generator and the collector run as child
// processes. Every wait is bounded.

#include "app/supervisor.hpp"
#include "config/load.hpp"
#include "test/support/process.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace fa::test {

/// A config for tests: one TCP listener on 127.0.0.1:0, no admin endpoint, the given
/// destination TOML appended. Fails the test on config errors.
config::config test_config(const std::string& destinations_toml,
                           const std::string& extra_toml = "");

/// A `[[destination]]` named "col" forwarding over TCP to 127.0.0.1:`port`, with quick
/// flushes and reconnects for tests; `extra` adds keys to it.
std::string tcp_destination(std::uint16_t port, const std::string& extra = "");

/// flow-aggregator in-process: started on construction, stopped on destruction.
struct running {
  explicit running(config::config cfg);
  ~running() { sup.stop(std::chrono::seconds{5}); }
  app::supervisor sup;
  std::uint16_t port = 0;
};

/// ipfix-collector as a child process, listening on 127.0.0.1:0 (or a given port).
class collector {
 public:
  collector(const std::string& dir, std::vector<std::string> args, std::uint16_t port = 0);
  std::uint16_t port() const { return port_; }
  /// The collector's standard output (records as JSON lines with --print).
  const std::string& out_file() const { return out_file_; }
  process& proc() { return *proc_; }
  /// Waits for the exit (bounded) and returns the JSON report.
  nlohmann::json report(std::chrono::milliseconds timeout = std::chrono::seconds{90});
  /// SIGTERM: the collector's graceful stop (half-close, read to the end).
  void stop() { proc_->signal(SIGTERM); }

 private:
  std::string report_file_;
  std::string err_file_;
  std::string out_file_;
  std::unique_ptr<process> proc_;
  std::uint16_t port_ = 0;
};

/// Runs ipfix-loadgen to completion against 127.0.0.1:`port`; returns its exit code.
int run_loadgen(std::uint16_t port, std::vector<std::string> args,
                std::chrono::milliseconds timeout = std::chrono::seconds{90});

/// Starts ipfix-loadgen without waiting.
std::unique_ptr<process> start_loadgen(std::uint16_t port, std::vector<std::string> args,
                                       const std::string& log_file = "");

/// The value of a metric with the given labels (0 when absent).
double metric(app::supervisor& sup, const std::string& name,
              const std::vector<std::pair<std::string, std::string>>& labels = {});

/// A record of template 256, the integration tests' plain (non-Antrea) template:
/// sourceIPv4Address, destinationIPv4Address, octetDeltaCount (16 octets).
struct flow_record {
  std::uint32_t src = 0x0a000001; ///< 10.0.0.1
  std::uint32_t dst = 0x0a000002; ///< 10.0.0.2
  std::uint64_t octets = 1500;
};

/// `n` records from 10.0.0.1 to 10.0.0.2 with octets `first`, `first` + 1, ...
std::vector<flow_record> flow_records(int n, std::uint64_t first = 0);

/// One IPFIX message (RFC 7011 3.1) with sequence number `seq` and ODID `odid`: template
/// 256 first when `with_template`, then `records` in one data set.
std::vector<std::uint8_t> flow_message(std::uint32_t seq, std::uint32_t odid,
                                       const std::vector<flow_record>& records,
                                       bool with_template = true, std::uint32_t export_time = 0);

/// Sends raw bytes over a fresh TCP connection to 127.0.0.1:`port`, then closes.
void send_raw(std::uint16_t port, const std::vector<std::uint8_t>& bytes);

/// A TCP connection to 127.0.0.1:`port`, closed on destruction: a raw client (an idle or
/// silent peer, a hand-written request). Every read is bounded (10 s without an octet).
class tcp_peer {
 public:
  explicit tcp_peer(std::uint16_t port);
  ~tcp_peer();
  tcp_peer(const tcp_peer&) = delete;
  tcp_peer& operator=(const tcp_peer&) = delete;

  bool connected() const { return fd_ >= 0; }
  /// Sends all of `bytes` (as far as the peer takes them).
  void send(std::string_view bytes);
  /// Half-closes: the peer reads the end of the stream.
  void shutdown_send();
  /// Everything until the peer closes (or 10 s without an octet).
  std::string read_all();

 private:
  int fd_ = -1;
};

struct http_result {
  long status = 0; ///< 0 = no answer
  std::string body;
};

/// GET http://127.0.0.1:`port``path` (libcurl, 10 s timeout), with a bearer token if given.
http_result http_get(std::uint16_t port, const std::string& path, const std::string& token = "");

/// GET https://127.0.0.1:`port``path`, verifying the server against `ca` (peer and host,
/// libcurl's defaults). status 0 = no HTTP answer (`error` says why).
http_result https_get(std::uint16_t port, const std::string& path, const std::string& ca,
                      std::string* error = nullptr);

/// Polls `pred` every 10 ms until it holds or `timeout` passes.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds{30}) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return pred();
}

} // namespace fa::test
