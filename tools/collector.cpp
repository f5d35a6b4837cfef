#include "tools/collector.hpp"

#include "tools/latency_histogram.hpp"
#include "tools/loadgen_content.hpp"

#include "base/json_string.hpp"
#include "ipfix/error.hpp"
#include "ipfix/message.hpp"
#include "ipfix/record.hpp"
#include "ipfix/record_json.hpp"
#include "ipfix/template.hpp"
#include "ipfix/template_store.hpp"

#include <asio.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <bit>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace fa::tools {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using asio::ip::tcp;
using asio::ip::udp;

std::uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

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

void connection::close() {
  if (closed_)
    return;
  closed_ = true;
  std::error_code ignored;
  socket_.close(ignored);
  // RFC 7011 8: the end of a TCP session withdraws all its templates.
  store_.clear();
  owner_.connection_closed(this);
}

void connection::on_read(std::error_code ec, std::size_t n) {
  if (closed_)
    return;
  if (ec) {
    if (end_ > begin_)
      owner_.count_malformed("truncated_at_close");
    return close();
  }
  auto& t = owner_.stats();
  t.bytes += n;
  end_ += n;
  now_ = steady::now();
  if (owner_.cfg().stamp)
    now_ns_ = monotonic_ns();
  while (end_ - begin_ >= ipfix::message_header_size) {
    const auto* p = buf_.get() + begin_;
    auto version = ipfix::read_u16(p);
    auto len = ipfix::read_u16(p + 2);
    // A TCP stream cannot be re-framed after a bad header: close it (RFC 7011 10.4).
    if (version != ipfix::ipfix_version) {
      owner_.count_malformed(ipfix::to_string(ipfix::parse_error::bad_version));
      return close();
    }
    if (len < ipfix::message_header_size) {
      owner_.count_malformed(ipfix::to_string(ipfix::parse_error::bad_message_length));
      return close();
    }
    if (end_ - begin_ < len)
      break;
    process_message(p, len);
    begin_ += len;
  }
  if (begin_ == end_) {
    begin_ = end_ = 0;
  } else if (cap_ - end_ < ipfix::max_message_size + 1) {
    std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (owner_.total_reached())
    return owner_.stop_now();
  read();
}

void connection::on_datagram(const std::uint8_t* p, std::size_t len) {
  auto& t = owner_.stats();
  t.bytes += len;
  ++t.datagrams;
  t.max_datagram = std::max<std::uint64_t>(t.max_datagram, len);
  now_ = steady::now();
  if (owner_.cfg().stamp)
    now_ns_ = monotonic_ns();
  if (owner_.cfg().max_datagram > 0 && len > owner_.cfg().max_datagram)
    owner_.count_malformed("datagram_too_large");
  // RFC 7011 10.3.3: a datagram is one whole message, never part of one or several.
  if (len < ipfix::message_header_size || ipfix::read_u16(p + 2) != len) {
    owner_.count_malformed("datagram_not_one_message");
    return;
  }
  if (ipfix::read_u16(p) != ipfix::ipfix_version) {
    owner_.count_malformed(ipfix::to_string(ipfix::parse_error::bad_version));
    return;
  }
  process_message(p, len);
}

const connection::plan* connection::find_plan(std::uint32_t odid, std::uint16_t id) {
  const auto* def = store_.find(odid, id, now_);
  if (def == nullptr)
    return nullptr;
  auto key = (std::uint64_t{odid} << 16) | id;
  auto& pl = plans_[key];
  if (pl.def != *def) { // new, or redefined since
    pl.def = *def;
    pl.layout = ipfix::record_layout(**def);
    pl.vplan = make_verify_plan(**def);
    pl.original_odid = pl.octet_delta = -1;
    for (std::size_t i = 0; i < (*def)->fields.size(); ++i) {
      auto& f = (*def)->fields[i];
      if (f.enterprise != 0)
        continue;
      if (f.id == 405 && f.length <= 4 && pl.original_odid < 0)
        pl.original_odid = static_cast<int>(i);
      if (f.id == 1 && f.length <= 8 && pl.octet_delta < 0)
        pl.octet_delta = static_cast<int>(i);
    }
    auto& cfg = owner_.cfg();
    pl.per_record =
        cfg.verify_seed || cfg.stamp || cfg.print || pl.original_odid >= 0 || (*def)->is_options();
  }
  return &pl;
}

void connection::process_message(const std::uint8_t* p, std::size_t len) {
  auto& t = owner_.stats();
  ipfix::message_view msg;
  if (auto err = ipfix::message_view::parse({p, len}, msg); err != ipfix::parse_error::none) {
    owner_.count_malformed(ipfix::to_string(err));
    return;
  }
  ++t.messages;
  owner_.save(p, len);
  auto odid = msg.header().observation_domain_id;
  std::uint64_t records = 0;
  msg.for_each_set([&](const ipfix::set_view& set) {
    if (set.kind() != ipfix::set_kind::data_set) {
      auto err = ipfix::parse_template_set(set.id, set.body, [&](ipfix::template_record&& rec) {
        ++t.template_records;
        if (!rec.withdrawal)
          t.template_ids.insert(rec.def.id);
        auto ev = store_.apply(odid, set.id, rec, now_);
        // Exporter errors a strict collector reports (RFC 7011 8).
        // RFC 7011 8.4: withdrawals must not be sent over UDP.
        if (ev == ipfix::template_event::redefined ||
            ev == ipfix::template_event::unknown_withdrawal ||
            ev == ipfix::template_event::ignored_withdrawal ||
            ev == ipfix::template_event::limit_reached)
          owner_.count_malformed(std::string("template_") + std::string(ipfix::to_string(ev)));
      });
      if (err != ipfix::parse_error::none)
        owner_.count_malformed(ipfix::to_string(err));
      return;
    }
    const auto* pl = find_plan(odid, set.id);
    if (pl == nullptr) {
      // RFC 7011 11.4: without its template a set cannot be split into records.
      ++t.unknown_template_records;
      return;
    }
    ipfix::record_cursor cursor(set.body, pl->layout);
    ipfix::bytes_view rec;
    if (pl->per_record) {
      while (cursor.next(rec)) {
        ++records;
        on_record(*pl, rec, odid);
      }
    } else {
      // Counting only: nothing to look at per record but its validity.
      std::uint64_t n = 0;
      while (cursor.next(rec))
        ++n;
      records += n;
      owner_.odid(odid).records += n;
    }
    if (cursor.error() != ipfix::parse_error::none)
      owner_.count_malformed(ipfix::to_string(cursor.error()));
  });
  // RFC 7011 3.1: the sequence number counts the data records sent before this
  // message in this session and ODID, modulo 2^32.
  // After a gap the count resumes from the message's own number: one loss is one error,
  // not one per later message.
  auto& expected = expected_seq_[odid];
  if (msg.header().sequence != static_cast<std::uint32_t>(expected)) {
    ++t.sequence_errors;
    expected = msg.header().sequence;
  }
  expected += records;
  if (records > 0) {
    if (t.records == 0)
      t.first_data = now_;
    t.records += records;
    t.header_odids[odid] += records;
    t.last_data = now_;
  }
}

void connection::on_record(const plan& pl, ipfix::bytes_view rec, std::uint32_t header_odid) {
  auto& t = owner_.stats();
  auto& cfg = owner_.cfg();
  if (cfg.print)
    owner_.print(*pl.def, pl.layout, rec);
  if (pl.def->is_options()) {
    ++t.options_records; // never loadgen content: not verified, not per ODID
    return;
  }
  std::uint32_t original = header_odid;
  if (cfg.verify_seed) {
    auto r = verify_record(pl.vplan, rec, header_odid, *cfg.verify_seed, cfg.stamp);
    original = r.odid;
    if (cfg.stamp && r.matched)
      t.latency.add(now_ns_ > r.octet_delta ? now_ns_ - r.octet_delta : 0);
    auto& st = owner_.odid(original);
    ++st.records;
    if (!r.ok)
      return owner_.mismatch(std::move(r.mismatch));
    auto where = [&] {
      return "odid " + std::to_string(r.odid) + " index " + std::to_string(r.index) + ": ";
    };
    if (owner_.expected_v4() && (!r.exporter_v4 || *r.exporter_v4 != *owner_.expected_v4() ||
                                 !r.exporter_v6 || *r.exporter_v6 != *owner_.expected_v6()))
      return owner_.mismatch(where() +
                             "originalExporterIPv4/IPv6Address differ from "
                             "--expect-exporter " +
                             cfg.expect_exporter);
    if (cfg.expect_odid_base &&
        (r.odid < *cfg.expect_odid_base || r.odid - *cfg.expect_odid_base >= cfg.expect_odid_count))
      return owner_.mismatch(where() + "ODID outside --expect-odids");
    if ((cfg.expect_records && r.index >= *cfg.expect_records) || r.index >= max_tracked_index)
      return owner_.mismatch(where() + "index beyond --expect-records");
    ++t.verified;
    if (!st.mark(r.index))
      ++t.duplicates;
    return;
  }
  if (pl.original_odid >= 0) {
    auto f = pl.layout.field(rec, static_cast<std::size_t>(pl.original_odid));
    original = static_cast<std::uint32_t>(ipfix::read_uint(rec.data() + f.offset, f.length));
  }
  if (cfg.stamp && pl.octet_delta >= 0) {
    auto f = pl.layout.field(rec, static_cast<std::size_t>(pl.octet_delta));
    auto sent = ipfix::read_uint(rec.data() + f.offset, f.length);
    t.latency.add(now_ns_ > sent ? now_ns_ - sent : 0);
  }
  ++owner_.odid(original).records;
}

void collector::accept() {
  acceptor_.async_accept([this](std::error_code ec, tcp::socket socket) {
    if (stopping_ || draining_)
      return;
    if (!ec) {
      if (!t_.any_connection) {
        t_.any_connection = true;
        t_.first_connection = steady::now();
      }
      ++t_.connections;
      auto c = std::make_shared<connection>(*this, std::move(socket), cfg_.read_buffer);
      conns_.emplace(c.get(), c);
      c->start();
    } else if (ec == asio::error::operation_aborted) {
      return;
    } else {
      std::fprintf(stderr, "ipfix-collector: accept failed: %s\n", ec.message().c_str());
    }
    accept();
  });
}

void collector::receive_udp() {
  udp_.async_wait(udp::socket::wait_read, [this](std::error_code ec) {
    if (stopping_ || draining_ || ec == asio::error::operation_aborted)
      return;
    if (ec)
      std::fprintf(stderr, "ipfix-collector: UDP receive failed: %s\n", ec.message().c_str());
    // One reactor wake-up, then whatever else the socket holds (bounded): at high rates
    // a handler per datagram would make the collector the bottleneck.
    for (int i = 0; i < 64; ++i) {
      if (!receive_udp_batch())
        break;
    }
    if (!stopping_)
      receive_udp();
  });
}

bool collector::receive_udp_batch() {
  for (std::size_t i = 0; i < udp_batch; ++i) {
    udp_iovs_[i] = {udp_buf_.data() + i * udp_slot, udp_slot};
    auto& h = udp_hdrs_[i];
    h = mmsghdr{};
    h.msg_hdr.msg_name = &udp_addrs_[i];
    h.msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    h.msg_hdr.msg_iov = &udp_iovs_[i];
    h.msg_hdr.msg_iovlen = 1;
  }
  int n = -1;
  do {
    n = ::recvmmsg(udp_.native_handle(), udp_hdrs_.data(), udp_batch, MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) {
    // EAGAIN: drained; ECONNREFUSED (an ICMP error for something we never sent) and
    // other errors of an unconnected socket are transient.
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNREFUSED)
      std::fprintf(stderr, "ipfix-collector: UDP receive failed: %s\n", std::strerror(errno));
    return false;
  }
  for (int i = 0; i < n; ++i) {
    auto& h = udp_hdrs_[static_cast<std::size_t>(i)];
    on_udp_datagram(udp_addrs_[static_cast<std::size_t>(i)], h.msg_hdr.msg_namelen,
                    udp_buf_.data() + static_cast<std::size_t>(i) * udp_slot, h.msg_len);
    if (total_reached()) {
      stop_now();
      return false;
    }
  }
  return static_cast<std::size_t>(n) == udp_batch;
}

void collector::on_udp_datagram(const sockaddr_storage& from, socklen_t from_len,
                                const std::uint8_t* p, std::size_t n) {
  if (udp_last_ == nullptr || from_len != udp_last_len_ ||
      std::memcmp(&from, &udp_last_from_, from_len) != 0) {
    udp::endpoint sender;
    std::memcpy(sender.data(), &from, std::min<std::size_t>(from_len, sizeof from));
    sender.resize(from_len);
    auto& session = udp_sessions_[sender];
    if (!session) {
      if (!t_.any_connection) {
        t_.any_connection = true;
        t_.first_connection = steady::now();
      }
      ++t_.connections;
      session = std::make_shared<connection>(*this, ioc_);
    }
    udp_last_ = session.get();
    std::memcpy(&udp_last_from_, &from, std::min<std::size_t>(from_len, sizeof from));
    udp_last_len_ = from_len;
  }
  udp_last_->on_datagram(p, n);
}

void collector::tick() {
  tick_.expires_after(50ms);
  tick_.async_wait([this](std::error_code ec) {
    if (ec || stopping_)
      return;
    auto now = steady::now();
    if (cfg_.idle_exit && t_.records > 0 && now - t_.last_data >= *cfg_.idle_exit)
      return stop_now();
    if (deadline_ && now >= *deadline_ && !draining_)
      start_drain();
    tick();
  });
}

void collector::wait_signal() {
  signals_.async_wait([this](std::error_code ec, int) {
    if (ec)
      return;
    if (signalled_ || draining_) // a second signal: stop at once
      return stop_now();
    signalled_ = true;
    start_drain();
    if (!stopping_) // a second signal stops at once
      wait_signal();
  });
}

/// Graceful stop: stop accepting, shut down our sending side of every connection, and
/// keep reading until each peer closes (bounded by --drain-timeout).
void collector::start_drain() {
  draining_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
  if (conns_.empty()) // UDP: no connections, nothing in flight to wait for
    return stop_now();
  for (auto& [ptr, c] : conns_)
    c->shutdown_send();
  drain_timer_.expires_after(cfg_.drain_timeout);
  drain_timer_.async_wait([this](std::error_code ec) {
    if (ec)
      return;
    std::fprintf(stderr,
                 "ipfix-collector: %zu connections still open after the drain timeout; "
                 "closing them\n",
                 conns_.size());
    stop_now();
  });
}

void collector::stop_now() {
  if (stopping_)
    return;
  stopping_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
  udp_.close(ignored);
  signals_.cancel(ignored);
  tick_.cancel();
  drain_timer_.cancel();
  auto conns = conns_; // close() erases from conns_
  for (auto& [ptr, c] : conns)
    c->close();
}

std::uint64_t collector::count_missing() const {
  if (!cfg_.verify_seed)
    return 0;
  std::uint64_t missing = 0;
  auto expected_records = [&](const odid_state* st) -> std::uint64_t {
    if (cfg_.expect_records)
      return *cfg_.expect_records;
    return st != nullptr && st->distinct > 0 ? st->max_index + 1 : 0;
  };
  if (cfg_.expect_odid_base) {
    // Without --expect-records, an ODID that sent nothing is missing as many records as
    // the others sent at most.
    std::uint64_t widest = 0;
    for (auto& [id, st] : t_.odids)
      widest = std::max(widest, st.distinct > 0 ? st.max_index + 1 : 0);
    for (std::uint64_t i = 0; i < cfg_.expect_odid_count; ++i) {
      auto id = static_cast<std::uint32_t>(*cfg_.expect_odid_base + i);
      auto it = t_.odids.find(id);
      const odid_state* st = it == t_.odids.end() ? nullptr : &it->second;
      auto want = cfg_.expect_records ? *cfg_.expect_records : widest;
      missing += want - (st != nullptr ? st->distinct_below(want) : 0);
    }
    return missing;
  }
  for (auto& [id, st] : t_.odids) {
    auto want = expected_records(&st);
    missing += want - st.distinct_below(want);
  }
  return missing;
}

std::string collector::report_json(double seconds) const {
  std::string s = "{";
  auto put = [&s](std::string_view key, std::uint64_t v) {
    if (s.size() > 1)
      s += ',';
    s += '"';
    s += key;
    s += "\":";
    s += std::to_string(v);
  };
  put("connections", t_.connections);
  put("datagrams", t_.datagrams);
  put("max_datagram", t_.max_datagram);
  put("messages", t_.messages);
  put("records", t_.records);
  put("bytes", t_.bytes);
  put("template_records", t_.template_records);
  put("templates_distinct", t_.template_ids.size());
  s += ",\"malformed\":{";
  bool first = true;
  for (auto& [reason, n] : t_.malformed) {
    if (!first)
      s += ',';
    first = false;
    base::append_json_string(s, reason);
    s += ':';
    s += std::to_string(n);
  }
  s += '}';
  put("unknown_template_records", t_.unknown_template_records);
  put("sequence_errors", t_.sequence_errors);
  put("verified", t_.verified);
  put("mismatched", t_.mismatched);
  put("duplicates", t_.duplicates);
  put("missing", missing_);
  put("odids", t_.odids.size());
  // Data records per message-header ODID, sorted: tells traffic of different exporters
  // apart without --verify (the UDP benchmark's flush traffic, say).
  s += ",\"records_by_header_odid\":{";
  std::map<std::uint32_t, std::uint64_t> by_odid(t_.header_odids.begin(), t_.header_odids.end());
  for (auto it = by_odid.begin(); it != by_odid.end(); ++it) {
    if (it != by_odid.begin())
      s += ',';
    s += '"';
    s += std::to_string(it->first);
    s += "\":";
    s += std::to_string(it->second);
  }
  s += '}';
  char buf[256];
  std::snprintf(buf, sizeof buf, ",\"latency_us\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f}",
                static_cast<double>(t_.latency.quantile(0.5)) / 1e3,
                static_cast<double>(t_.latency.quantile(0.99)) / 1e3,
                static_cast<double>(t_.latency.max()) / 1e3);
  s += buf;
  std::snprintf(buf, sizeof buf, ",\"seconds\":%.6f,\"records_per_s\":%.1f", seconds,
                seconds > 0 ? static_cast<double>(t_.records) / seconds : 0.0);
  s += buf;
  s += ",\"mismatch_examples\":[";
  for (std::size_t i = 0; i < t_.mismatch_examples.size(); ++i) {
    if (i > 0)
      s += ',';
    base::append_json_string(s, t_.mismatch_examples[i]);
  }
  s += "]}\n";
  return s;
}

void collector::summary(double seconds) const {
  std::uint64_t min_records = UINT64_MAX, max_records = 0;
  for (auto& [id, st] : t_.odids) {
    min_records = std::min(min_records, st.records);
    max_records = std::max(max_records, st.records);
  }
  std::uint64_t malformed = 0;
  for (auto& [reason, n] : t_.malformed)
    malformed += n;
  std::fprintf(
      stderr,
      "ipfix-collector: %llu connections, %llu records, %llu messages, %llu bytes in "
      "%.3f s: %.0f records/s; %zu ODIDs (%llu..%llu records each), %zu header ODIDs; "
      "templates %llu (%zu ids); malformed %llu, unknown-template sets %llu, "
      "sequence errors %llu",
      static_cast<unsigned long long>(t_.connections), static_cast<unsigned long long>(t_.records),
      static_cast<unsigned long long>(t_.messages), static_cast<unsigned long long>(t_.bytes),
      seconds, seconds > 0 ? static_cast<double>(t_.records) / seconds : 0.0, t_.odids.size(),
      static_cast<unsigned long long>(t_.odids.empty() ? 0 : min_records),
      static_cast<unsigned long long>(max_records), t_.header_odids.size(),
      static_cast<unsigned long long>(t_.template_records), t_.template_ids.size(),
      static_cast<unsigned long long>(malformed),
      static_cast<unsigned long long>(t_.unknown_template_records),
      static_cast<unsigned long long>(t_.sequence_errors));
  if (t_.options_records > 0)
    std::fprintf(stderr, "; options records %llu",
                 static_cast<unsigned long long>(t_.options_records));
  if (cfg_.verify_seed)
    std::fprintf(stderr, "; verified %llu, mismatched %llu, duplicates %llu, missing %llu",
                 static_cast<unsigned long long>(t_.verified),
                 static_cast<unsigned long long>(t_.mismatched),
                 static_cast<unsigned long long>(t_.duplicates),
                 static_cast<unsigned long long>(missing_));
  if (cfg_.stamp)
    std::fprintf(stderr, "; latency p50 %.1f us, p99 %.1f us, max %.1f us",
                 static_cast<double>(t_.latency.quantile(0.5)) / 1e3,
                 static_cast<double>(t_.latency.quantile(0.99)) / 1e3,
                 static_cast<double>(t_.latency.max()) / 1e3);
  std::fprintf(stderr, "\n");
  for (auto& reason : t_.malformed)
    std::fprintf(stderr, "ipfix-collector: malformed %s: %llu\n", reason.first.c_str(),
                 static_cast<unsigned long long>(reason.second));
  for (auto& example : t_.mismatch_examples)
    std::fprintf(stderr, "ipfix-collector: mismatch: %s\n", example.c_str());
}

int collector::run() {
  std::signal(SIGPIPE, SIG_IGN);
  std::error_code ec;
  auto address = asio::ip::make_address(cfg_.listen.host, ec);
  if (ec) {
    std::fprintf(stderr, "ipfix-collector: --listen host '%s' is not an IP address\n",
                 cfg_.listen.host.c_str());
    return 2;
  }
  if (!cfg_.expect_exporter.empty()) {
    auto exp = asio::ip::make_address(cfg_.expect_exporter, ec);
    if (ec) {
      std::fprintf(stderr, "ipfix-collector: --expect-exporter '%s' is not an IP address\n",
                   cfg_.expect_exporter.c_str());
      return 2;
    }
    // RFC 7119 / the proxy mode: the unused family's field is all zeros.
    expect_v4_.emplace();
    expect_v6_.emplace();
    expect_v4_->fill(0);
    expect_v6_->fill(0);
    if (exp.is_v4())
      *expect_v4_ = exp.to_v4().to_bytes();
    else
      *expect_v6_ = exp.to_v6().to_bytes();
  }
  std::uint16_t port = 0;
  if (cfg_.udp) {
    udp::endpoint endpoint(address, cfg_.listen.port);
    udp_.open(endpoint.protocol(), ec);
    if (!ec)
      udp_.set_option(udp::socket::reuse_address(true), ec);
    if (!ec) {
      // Bursts beyond the socket buffer are lost in the kernel; ask for plenty (the
      // kernel caps it at net.core.rmem_max).
      std::error_code ignore;
      udp_.set_option(asio::socket_base::receive_buffer_size(16 << 20), ignore);
      // As root, past net.core.rmem_max too.
      int force = 16 << 20;
      ::setsockopt(udp_.native_handle(), SOL_SOCKET, SO_RCVBUFFORCE, &force, sizeof force);
      udp_.non_blocking(true, ignore);
      udp_.bind(endpoint, ec);
    }
    if (!ec)
      port = udp_.local_endpoint().port();
  } else {
    tcp::endpoint endpoint(address, cfg_.listen.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec)
      acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec)
      acceptor_.bind(endpoint, ec);
    if (!ec)
      acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec)
      port = acceptor_.local_endpoint().port();
  }
  if (ec) {
    std::fprintf(stderr, "ipfix-collector: cannot listen on %s:%u: %s\n", cfg_.listen.host.c_str(),
                 cfg_.listen.port, ec.message().c_str());
    return 1;
  }
  if (!cfg_.save.empty()) {
    save_ = std::fopen(cfg_.save.c_str(), "wb");
    if (save_ == nullptr) {
      std::fprintf(stderr, "ipfix-collector: cannot write --save file %s: %s\n", cfg_.save.c_str(),
                   std::strerror(errno));
      return 1;
    }
    std::setvbuf(save_, nullptr, _IOFBF, 1 << 20);
  }
  if (!cfg_.port_file.empty()) {
    if (auto err = write_file_atomically(cfg_.port_file, std::to_string(port) + "\n");
        !err.empty()) {
      std::fprintf(stderr, "ipfix-collector: %s\n", err.c_str());
      return 1;
    }
  }
  if (!cfg_.quiet)
    std::fprintf(stderr, "ipfix-collector: listening on %s %s port %u\n", cfg_.udp ? "UDP" : "TCP",
                 cfg_.listen.host.c_str(), port);
  if (cfg_.duration)
    deadline_ = steady::now() + std::chrono::duration_cast<steady::duration>(*cfg_.duration);
  if (cfg_.udp)
    receive_udp();
  else
    accept();
  wait_signal();
  tick();
  ioc_.run();

  if (save_ != nullptr && std::fclose(save_) != 0 && !save_failed_) {
    std::fprintf(stderr, "ipfix-collector: writing %s failed: %s\n", cfg_.save.c_str(),
                 std::strerror(errno));
    save_failed_ = true;
  }
  flush_print();
  std::fflush(stdout);
  missing_ = count_missing();
  double seconds = t_.any_connection && t_.records > 0
                       ? std::chrono::duration<double>(t_.last_data - t_.first_data).count()
                       : 0.0;
  if (!cfg_.report.empty()) {
    if (auto err = write_file_atomically(cfg_.report, report_json(seconds)); !err.empty())
      std::fprintf(stderr, "ipfix-collector: %s\n", err.c_str());
  }
  if (!cfg_.quiet)
    summary(seconds);
  bool bad = !t_.malformed.empty() || t_.sequence_errors > 0 || t_.mismatched > 0 ||
             t_.duplicates > 0 || missing_ > 0 || save_failed_;
  return bad ? 1 : 0;
}

} // namespace

int run_collector(const collector_config& cfg) {
  collector c(cfg);
  return c.run();
}

} // namespace fa::tools
