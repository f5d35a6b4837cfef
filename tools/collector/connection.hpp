#pragma once

// ipfix-collector's transport sessions (a TCP connection, or a UDP exporter address and
// port) and the totals they add to: each session keeps its own templates (RFC 7011 8)
// and sequence expectations (RFC 7011 3.1) per ODID.

#include "tools/collector/collector.hpp"
#include "tools/common/latency_histogram.hpp"
#include "tools/common/loadgen_content.hpp"

#include "ipfix/message.hpp"
#include "ipfix/record.hpp"
#include "ipfix/template.hpp"
#include "ipfix/template_store.hpp"

#include <asio.hpp>

#include <bit>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace fa::tools {

using steady = std::chrono::steady_clock;
using asio::ip::tcp;
using asio::ip::udp;

/// CLOCK_MONOTONIC in nanoseconds, as ipfix-loadgen --stamp writes it.
std::uint64_t monotonic_ns();

/// Record indices above this are not tracked (the bitmap would be too big); such a
/// record counts as a mismatch.
constexpr std::uint64_t max_tracked_index = std::uint64_t{1} << 30;
constexpr std::size_t max_mismatch_examples = 8;

/// What we know about one original observation domain.
struct odid_state {
  std::uint64_t records = 0;
  std::vector<std::uint64_t> seen; ///< bitmap of verified record indices
  std::uint64_t distinct = 0;
  std::uint64_t max_index = 0;

  /// Returns false when `index` was seen before.
  bool mark(std::uint64_t index) {
    auto word = index >> 6;
    if (word >= seen.size())
      seen.resize(std::max<std::size_t>(word + 1, seen.size() * 2));
    auto bit = std::uint64_t{1} << (index & 63);
    if (seen[word] & bit)
      return false;
    seen[word] |= bit;
    ++distinct;
    max_index = std::max(max_index, index);
    return true;
  }

  /// Distinct indices below `limit`.
  std::uint64_t distinct_below(std::uint64_t limit) const {
    std::uint64_t n = 0;
    for (std::size_t w = 0; w < seen.size() && (w << 6) < limit; ++w) {
      auto bits = seen[w];
      if (((w + 1) << 6) > limit)
        bits &= (std::uint64_t{1} << (limit & 63)) - 1;
      n += static_cast<std::uint64_t>(std::popcount(bits));
    }
    return n;
  }
};

struct totals {
  std::uint64_t connections = 0;
  std::uint64_t messages = 0;
  std::uint64_t records = 0;
  std::uint64_t bytes = 0;
  std::uint64_t template_records = 0;
  std::uint64_t unknown_template_records = 0;
  std::uint64_t sequence_errors = 0;
  std::uint64_t verified = 0;
  std::uint64_t mismatched = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t options_records = 0;
  std::uint64_t datagrams = 0;
  std::uint64_t max_datagram = 0;
  std::map<std::string, std::uint64_t> malformed;
  std::unordered_set<std::uint16_t> template_ids;
  std::unordered_map<std::uint32_t, std::uint64_t> header_odids;
  std::unordered_map<std::uint32_t, odid_state> odids;
  latency_histogram latency;
  std::vector<std::string> mismatch_examples;
  steady::time_point first_connection{};
  steady::time_point first_data{}; ///< first data record: rates exclude idle time before it
  steady::time_point last_data{};
  bool any_connection = false;
};

class collector;

/// One TCP transport session: frames messages by the header length (RFC 7011 10.4)
/// and keeps templates and sequence expectations per ODID.
class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(collector& owner, tcp::socket socket, std::size_t buffer_size)
      : owner_(owner)
      , socket_(std::move(socket))
      , buf_(new std::uint8_t[buffer_size])
      , cap_(buffer_size)
      , store_(ipfix::template_store_config{}) {}

  /// A UDP transport session (RFC 7011 10.3.1: one exporter address and port): no
  /// socket of its own; the collector hands it each datagram.
  connection(collector& owner, asio::io_context& ioc)
      : owner_(owner)
      , socket_(ioc)
      , cap_(0)
      , store_(ipfix::template_store_config{ipfix::transport_kind::udp}) {}

  void start() { read(); }

  /// UDP: one datagram, which must hold exactly one message (RFC 7011 10.3.3).
  void on_datagram(const std::uint8_t* p, std::size_t len);

  /// Graceful stop: the peer sees EOF and, if well behaved, stops and closes; we keep
  /// reading until it does.
  void shutdown_send() {
    std::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
  }

  void close();

 private:
  struct plan {
    ipfix::template_ptr def;
    ipfix::record_layout layout;
    verify_plan vplan;
    int original_odid = -1; ///< field index of 405
    int octet_delta = -1;   ///< field index of octetDeltaCount
    bool per_record = true; ///< false: records are only counted
  };

  void read() {
    socket_.async_read_some(
        asio::buffer(buf_.get() + end_, cap_ - end_),
        [self = shared_from_this()](std::error_code ec, std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(std::error_code ec, std::size_t n);
  void process_message(const std::uint8_t* p, std::size_t len);
  const plan* find_plan(std::uint32_t odid, std::uint16_t id);
  void on_record(const plan& pl, ipfix::bytes_view rec, std::uint32_t header_odid);

  collector& owner_;
  tcp::socket socket_;
  std::unique_ptr<std::uint8_t[]> buf_;
  std::size_t cap_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  ipfix::template_store store_;
  std::unordered_map<std::uint64_t, plan> plans_;
  std::unordered_map<std::uint32_t, std::uint64_t> expected_seq_;
  steady::time_point now_{};
  std::uint64_t now_ns_ = 0;
  bool closed_ = false;
};

} // namespace fa::tools
