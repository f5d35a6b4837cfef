#pragma once

// ipfix-collector's server: the listening socket (TCP, or UDP read with recvmmsg), the
// sessions, the stop conditions and the checks of --verify and --expect-*.

#include "tools/collector/connection.hpp"

#include "ipfix/record_json.hpp"

#include <sys/socket.h>

#include <array>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>

namespace fa::tools {

class collector {
 public:
  explicit collector(const collector_config& cfg)
      : cfg_(cfg)
      , acceptor_(ioc_)
      , signals_(ioc_, SIGINT, SIGTERM)
      , tick_(ioc_)
      , drain_timer_(ioc_) {}

  int run();

  const collector_config& cfg() const { return cfg_; }
  totals& stats() { return t_; }

  void count_malformed(std::string_view reason) { ++t_.malformed[std::string(reason)]; }

  void mismatch(std::string text) {
    ++t_.mismatched;
    if (t_.mismatch_examples.size() < max_mismatch_examples)
      t_.mismatch_examples.push_back(std::move(text));
  }

  odid_state& odid(std::uint32_t id) {
    if (last_odid_state_ == nullptr || last_odid_ != id) {
      last_odid_ = id;
      last_odid_state_ = &t_.odids[id];
    }
    return *last_odid_state_;
  }

  const std::optional<std::array<std::uint8_t, 4>>& expected_v4() const { return expect_v4_; }
  const std::optional<std::array<std::uint8_t, 16>>& expected_v6() const { return expect_v6_; }

  void save(const std::uint8_t* p, std::size_t len) {
    if (save_ != nullptr && std::fwrite(p, 1, len, save_) != len && !save_failed_) {
      save_failed_ = true;
      std::fprintf(stderr, "ipfix-collector: writing %s failed: %s\n", cfg_.save.c_str(),
                   std::strerror(errno));
    }
  }

  /// --print: one JSON line per data record, written in large blocks.
  void print(const ipfix::template_def& def, const ipfix::record_layout& layout,
             ipfix::bytes_view rec) {
    ipfix::append_record_json(out_, def, layout, rec);
    out_ += '\n';
    if (out_.size() >= (1 << 20))
      flush_print();
  }

  void flush_print() {
    if (!out_.empty() && std::fwrite(out_.data(), 1, out_.size(), stdout) != out_.size() &&
        !print_failed_) {
      print_failed_ = true;
      std::fprintf(stderr, "ipfix-collector: writing stdout failed: %s\n", std::strerror(errno));
    }
    out_.clear();
  }

  /// After a batch: stop once --expect-total is reached.
  bool total_reached() const { return cfg_.expect_total && t_.records >= *cfg_.expect_total; }

  bool stopping() const { return stopping_; }

  void connection_closed(connection* c) {
    conns_.erase(c);
    if (draining_ && conns_.empty())
      stop_now();
  }

  void stop_now();

 private:
  void accept();
  void receive_udp();
  /// One recvmmsg batch: false when the socket is drained or the run ends.
  bool receive_udp_batch();
  void on_udp_datagram(const sockaddr_storage& from, socklen_t from_len, const std::uint8_t* p,
                       std::size_t n);
  void tick();
  void start_drain();
  void wait_signal();
  std::string report_json(double seconds) const;
  std::uint64_t count_missing() const;
  void summary(double seconds) const;

  const collector_config& cfg_;
  asio::io_context ioc_{1};
  tcp::acceptor acceptor_;
  asio::signal_set signals_;
  asio::steady_timer tick_;
  asio::steady_timer drain_timer_;
  std::unordered_map<connection*, std::shared_ptr<connection>> conns_;
  udp::socket udp_{ioc_};
  /// Datagrams per recvmmsg call: one system call for many datagrams keeps the
  /// collector from being what limits a UDP benchmark.
  static constexpr std::size_t udp_batch = 64;
  static constexpr std::size_t udp_slot = 65536; // > 65535: no datagram is truncated
  std::vector<std::uint8_t> udp_buf_ = std::vector<std::uint8_t>(udp_batch * udp_slot);
  std::vector<mmsghdr> udp_hdrs_ = std::vector<mmsghdr>(udp_batch);
  std::vector<iovec> udp_iovs_ = std::vector<iovec>(udp_batch);
  std::vector<sockaddr_storage> udp_addrs_ = std::vector<sockaddr_storage>(udp_batch);
  /// UDP transport sessions by exporter address and port (RFC 7011 10.3.1).
  std::map<udp::endpoint, std::shared_ptr<connection>> udp_sessions_;
  /// The last datagram's sender and session: exporters send runs of datagrams.
  sockaddr_storage udp_last_from_{};
  socklen_t udp_last_len_ = 0;
  connection* udp_last_ = nullptr;
  totals t_;
  std::uint32_t last_odid_ = 0;
  odid_state* last_odid_state_ = nullptr;
  std::optional<std::array<std::uint8_t, 4>> expect_v4_;
  std::optional<std::array<std::uint8_t, 16>> expect_v6_;
  std::optional<steady::time_point> deadline_;
  std::FILE* save_ = nullptr;
  bool save_failed_ = false;
  std::string out_; ///< --print output not yet written
  bool print_failed_ = false;
  bool draining_ = false;
  bool stopping_ = false;
  bool signalled_ = false;
  std::uint64_t missing_ = 0;
};

} // namespace fa::tools
