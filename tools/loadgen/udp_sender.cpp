#include "tools/loadgen/udp_sender.hpp"

#include "tools/loadgen/message_factory.hpp"
#include "tools/loadgen/report.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <thread>

namespace fa::tools {

using namespace std::chrono_literals;

namespace {

// -- UDP (RFC 7011 10.3) ---------------------------------------------------------------
//
// Each session is one connected UDP socket (its own source port, so the collector sees
// one exporter per session) sending one message per datagram, never larger than
// --max-datagram (RFC 7011 10.3.3). Datagrams leave in large sendmmsg batches. The
// template goes first and again every --template-refresh (RFC 7011 8.4). A blocking send
// is fine here: each io thread runs its share of the sessions in a loop.
//
// The sender shares the machine with what it measures, so its CPU per datagram matters:
// a session's datagrams are encoded once (a ring: all of --records, or --udp-ring
// records sent round and round) and sending one only patches its header's export time
// and sequence number (RFC 7011 3.1). --stamp, which writes every record, encodes each
// datagram as it is sent.

std::atomic<bool> udp_stop{false};

extern "C" void udp_on_signal(int) {
  udp_stop.store(true);
}

/// Datagrams per sendmmsg call (the kernel takes at most UIO_MAXIOV = 1024).
constexpr std::size_t udp_max_batch = 512;

/// A session's datagrams, encoded once.
struct udp_ring {
  struct datagram {
    std::uint32_t offset = 0;
    std::uint32_t length = 0;
    std::uint32_t records = 0;
    std::uint64_t first = 0; ///< index of its first record
  };
  byte_buffer bytes;
  std::vector<datagram> datagrams;
};

struct udp_exporter {
  udp_exporter(const loadgen_config& cfg, std::uint32_t odid)
      : odid(odid)
      , factory(cfg, odid) {}
  int fd = -1;
  std::uint32_t odid;
  message_factory factory;
  byte_buffer buf;
  std::vector<std::size_t> stamps;
  std::vector<mmsghdr> hdrs;
  std::vector<iovec> iovs;
  session_stats stats;
  bool done = false;
  bool template_sent = false;
  steady::time_point last_template{};
  double forgiven = 0;            ///< paced: records of debt older than 50 ms, forgotten
  std::unique_ptr<udp_ring> ring; ///< null: datagrams are encoded as they are sent
  std::size_t ring_pos = 0;       ///< the ring's next datagram
  byte_buffer tail;               ///< ring: a last datagram holding fewer records
};

/// Encodes `records` records (indexes 0..records-1) into datagrams, once.
std::unique_ptr<udp_ring> build_ring(const loadgen_config& cfg, std::uint32_t odid,
                                     std::uint64_t records) {
  auto r = std::make_unique<udp_ring>();
  message_factory f(cfg, odid);
  f.append_records(r->bytes, records, nullptr, cfg.max_datagram);
  // Each message's sequence number counts the records before it (RFC 7011 3.1): from
  // 0, so it is the index of the message's first record (records < 2^32 here).
  for (std::size_t off = 0; off + ipfix::message_header_size <= r->bytes.size();) {
    const auto* p = r->bytes.data() + off;
    auto len = ipfix::read_u16(p + 2);
    r->datagrams.push_back({static_cast<std::uint32_t>(off), len, 0, ipfix::read_u32(p + 8)});
    off += len;
  }
  for (std::size_t i = 0; i < r->datagrams.size(); ++i) {
    auto next = i + 1 < r->datagrams.size() ? r->datagrams[i + 1].first : records;
    r->datagrams[i].records = static_cast<std::uint32_t>(next - r->datagrams[i].first);
  }
  return r;
}

/// Sends the datagrams described by `e.iovs` (one iovec each) with sendmmsg, in batches.
/// Returns an error text, or "" when all were sent.
std::string udp_send_iovs(udp_exporter& e) {
  e.hdrs.resize(e.iovs.size());
  for (std::size_t i = 0; i < e.iovs.size(); ++i) {
    e.hdrs[i] = mmsghdr{};
    e.hdrs[i].msg_hdr.msg_iov = &e.iovs[i];
    e.hdrs[i].msg_hdr.msg_iovlen = 1;
  }
  std::size_t sent = 0;
  int retries = 0;
  while (sent < e.hdrs.size()) {
    auto want = static_cast<unsigned>(std::min(udp_max_batch, e.hdrs.size() - sent));
    int n = ::sendmmsg(e.fd, e.hdrs.data() + sent, want, 0);
    if (n < 0) {
      // ENOBUFS/EAGAIN: the local queue is full for a moment; retry, bounded.
      if (errno == EINTR || ((errno == ENOBUFS || errno == EAGAIN) && ++retries < 1000)) {
        std::this_thread::sleep_for(100us);
        continue;
      }
      return std::string("send failed: ") + std::strerror(errno);
    }
    for (int i = 0; i < n; ++i)
      e.stats.bytes += e.iovs[sent + static_cast<std::size_t>(i)].iov_len;
    e.stats.messages += static_cast<std::uint64_t>(n);
    sent += static_cast<std::size_t>(n);
  }
  return {};
}

/// Sends the whole messages in `e.buf` (each one datagram).
std::string udp_send_messages(udp_exporter& e) {
  e.iovs.clear();
  for (std::size_t off = 0; off + ipfix::message_header_size <= e.buf.size();) {
    auto len = ipfix::read_u16(e.buf.data() + off + 2);
    e.iovs.push_back({e.buf.data() + off, len});
    off += len;
  }
  return udp_send_iovs(e);
}

std::uint32_t export_time_now() {
  return static_cast<std::uint32_t>(std::time(nullptr));
}

/// Ring: sends whole datagrams holding at most `budget` records, and no more than
/// `left` (the session's records still to send): when fewer than the next datagram's
/// records are left, a shorter copy of it ends the session. Returns the records sent.
std::uint64_t udp_send_ring(const loadgen_config& cfg, udp_exporter& e, std::uint64_t budget,
                            std::uint64_t left, std::string& err) {
  auto& r = *e.ring;
  const auto now = export_time_now();
  const auto seq0 = e.stats.records;
  std::uint64_t taken = 0;
  e.iovs.clear();
  while (e.iovs.size() < udp_max_batch) {
    const auto& d = r.datagrams[e.ring_pos];
    const auto can = std::min(budget, left) - taken;
    if (d.records <= can) {
      // RFC 7011 3.1: the export time, and the records sent before this message.
      auto* p = r.bytes.data() + d.offset;
      ipfix::write_u32(p + 4, now);
      ipfix::write_u32(p + 8, static_cast<std::uint32_t>(seq0 + taken));
      e.iovs.push_back({p, d.length});
      taken += d.records;
      if (++e.ring_pos == r.datagrams.size()) {
        e.ring_pos = 0;
        break; // a datagram is patched once per call: the next call sends it again
      }
      continue;
    }
    if (left - taken < d.records && left - taken <= budget - taken && left > taken) {
      // The session's last records: the first `k` of this datagram.
      auto k = left - taken;
      e.tail.clear();
      auto* p = e.tail.tail(ipfix::message_header_size + ipfix::set_header_size +
                            k * max_record_size(cfg.kind));
      std::size_t pos = ipfix::message_header_size + ipfix::set_header_size;
      for (std::uint64_t i = 0; i < k; ++i)
        pos += write_content(cfg, e.odid, d.first + i, p + pos);
      ipfix::write_u16(p, ipfix::ipfix_version);
      ipfix::write_u16(p + 2, static_cast<std::uint16_t>(pos));
      ipfix::write_u32(p + 4, now);
      ipfix::write_u32(p + 8, static_cast<std::uint32_t>(seq0 + taken));
      ipfix::write_u32(p + 12, e.odid);
      ipfix::write_u16(p + 16, cfg.template_id);
      ipfix::write_u16(p + 18, static_cast<std::uint16_t>(pos - ipfix::message_header_size));
      e.tail.commit(pos);
      e.iovs.push_back({p, pos});
      taken += k;
    }
    break;
  }
  if (e.iovs.empty())
    return 0;
  err = udp_send_iovs(e);
  return err.empty() ? taken : 0;
}

/// One io thread's sessions, until each has sent everything or the run ends.
void udp_run_sessions(const loadgen_config& cfg, std::vector<udp_exporter*> mine,
                      std::optional<steady::time_point> deadline, steady::time_point start) {
  const double rate = cfg.rate > 0 ? cfg.rate / cfg.sessions : 0; // records/s per session
  // Unpaced: a large batch of datagrams per call; paced: what is due.
  const std::uint64_t per_round = std::uint64_t{udp_max_batch} * cfg.records_per_message;
  for (;;) {
    bool active = false, progress = false;
    auto now = steady::now();
    for (auto* e : mine) {
      if (e->done)
        continue;
      auto& st = e->stats;
      if (udp_stop.load()) {
        e->done = true;
        continue;
      }
      if ((cfg.records && st.records >= *cfg.records) || (deadline && now >= *deadline)) {
        st.complete = true; // --duration ends a run normally too
        e->done = true;
        continue;
      }
      active = true;
      if (!e->template_sent || now - e->last_template >= cfg.template_refresh) {
        e->buf.clear();
        e->factory.append_template_message(e->buf);
        // RFC 7011 3.1: the records sent so far (a ring does not advance the factory).
        ipfix::write_u32(e->buf.data() + 8, static_cast<std::uint32_t>(st.records));
        if (auto err = udp_send_messages(*e); !err.empty()) {
          st.error = err;
          e->done = true;
          continue;
        }
        e->template_sent = true;
        e->last_template = now;
      }
      std::uint64_t n = per_round;
      if (cfg.records)
        n = std::min(n, *cfg.records - st.records);
      if (rate > 0) {
        double due = rate * std::chrono::duration<double>(now - start).count() - e->forgiven;
        // A session that fell behind forgets debts older than 50 ms instead of bursting.
        if (due - static_cast<double>(st.records) > rate * 0.05 + cfg.records_per_message) {
          e->forgiven += due - static_cast<double>(st.records) - rate * 0.05;
          due = static_cast<double>(st.records) + rate * 0.05;
        }
        auto owed = due > static_cast<double>(st.records)
                        ? static_cast<std::uint64_t>(due - static_cast<double>(st.records))
                        : 0;
        // Wait until a full message (or 5 ms of records, if fewer) is due: paced
        // datagrams then carry as many records as unpaced ones, not one or two.
        auto least = std::clamp<std::uint64_t>(static_cast<std::uint64_t>(rate * 0.005), 1,
                                               cfg.records_per_message);
        n = owed >= std::min(least, n) ? std::min(n, owed) : 0;
      }
      if (n == 0)
        continue;
      std::string err;
      std::uint64_t sent = 0;
      if (e->ring) {
        auto left = cfg.records ? *cfg.records - st.records : UINT64_MAX;
        sent = udp_send_ring(cfg, *e, n, left, err);
      } else {
        e->buf.clear();
        e->stamps.clear();
        auto c = e->factory.append_records(e->buf, n, cfg.stamp ? &e->stamps : nullptr,
                                           cfg.max_datagram);
        if (cfg.stamp) {
          auto ns = monotonic_ns();
          for (auto off : e->stamps)
            ipfix::write_u64(e->buf.data() + off, ns);
        }
        err = udp_send_messages(*e);
        sent = err.empty() ? c.records : 0;
      }
      if (!err.empty()) {
        st.error = "send to the target (ODID " + std::to_string(e->odid) + ") failed after " +
                   std::to_string(st.records) + " records: " + err;
        e->done = true;
        continue;
      }
      if (sent == 0)
        continue; // paced: less than the ring's next datagram is due
      st.records += sent;
      st.last_write = steady::now();
      progress = true;
    }
    if (!active)
      return;
    if (!progress)
      std::this_thread::sleep_for(1ms); // paced and nothing due yet
  }
}

} // namespace

int run_udp(const loadgen_config& cfg, const asio::ip::address& address) {
  // RFC 7011 10.3.3: every message must fit one datagram, the template message too.
  auto def = make_template(cfg.kind, cfg.template_id);
  std::size_t template_size = ipfix::message_header_size + ipfix::set_header_size + 4;
  for (auto& f : def.fields)
    template_size += f.encoded_size();
  auto need = std::max(template_size, ipfix::message_header_size + ipfix::set_header_size +
                                          max_record_size(cfg.kind));
  if (cfg.max_datagram < need) {
    std::fprintf(stderr,
                 "ipfix-loadgen: --max-datagram %u is too small for template %s: at least %zu "
                 "octets are needed\n",
                 cfg.max_datagram, std::string(to_string(cfg.kind)).c_str(), need);
    return 2;
  }
  sockaddr_storage target{};
  socklen_t target_len = 0;
  if (address.is_v4()) {
    auto& a = reinterpret_cast<sockaddr_in&>(target);
    a.sin_family = AF_INET;
    a.sin_port = htons(cfg.target.port);
    auto b = address.to_v4().to_bytes();
    std::memcpy(&a.sin_addr, b.data(), 4);
    target_len = sizeof(sockaddr_in);
  } else {
    auto& a = reinterpret_cast<sockaddr_in6&>(target);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(cfg.target.port);
    auto b = address.to_v6().to_bytes();
    std::memcpy(&a.sin6_addr, b.data(), 16);
    a.sin6_scope_id = address.to_v6().scope_id();
    target_len = sizeof(sockaddr_in6);
  }
  // Records per session encoded once (see above): --udp-ring, or all of --records when
  // they fit --pregen-limit; none with --stamp (every record carries its send time).
  std::uint64_t ring_records = 0;
  if (!cfg.stamp) {
    if (cfg.udp_ring > 0)
      ring_records = cfg.records ? std::min(*cfg.records, cfg.udp_ring) : cfg.udp_ring;
    else if (cfg.records && static_cast<double>(*cfg.records) * cfg.sessions *
                                    static_cast<double>(max_record_size(cfg.kind)) <=
                                static_cast<double>(cfg.pregen_limit))
      ring_records = *cfg.records;
    // The ring's sequence numbers are its record indexes.
    ring_records = std::min<std::uint64_t>(ring_records, UINT32_MAX);
  }
  std::vector<std::unique_ptr<udp_exporter>> exporters;
  for (std::uint32_t i = 0; i < cfg.sessions; ++i) {
    auto e = std::make_unique<udp_exporter>(cfg, cfg.odid_base + i * cfg.odid_step);
    if (ring_records > 0)
      e->ring = build_ring(cfg, e->odid, ring_records);
    e->fd = ::socket(target.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (e->fd < 0 || ::connect(e->fd, reinterpret_cast<sockaddr*>(&target), target_len) != 0) {
      std::fprintf(stderr, "ipfix-loadgen: UDP socket to %s:%u: %s\n", cfg.target.host.c_str(),
                   cfg.target.port, std::strerror(errno));
      return 1;
    }
    exporters.push_back(std::move(e));
  }
  std::signal(SIGINT, udp_on_signal);
  std::signal(SIGTERM, udp_on_signal);
  auto start = steady::now();
  std::optional<steady::time_point> deadline;
  if (cfg.duration)
    deadline = start + std::chrono::duration_cast<steady::duration>(*cfg.duration);
  auto threads_n = std::min<std::size_t>(cfg.io_threads, exporters.size());
  std::vector<std::vector<udp_exporter*>> shares(threads_n);
  for (std::size_t i = 0; i < exporters.size(); ++i)
    shares[i % threads_n].push_back(exporters[i].get());
  std::vector<std::thread> threads;
  for (std::size_t t = 1; t < threads_n; ++t)
    threads.emplace_back(udp_run_sessions, std::cref(cfg), shares[t], deadline, start);
  udp_run_sessions(cfg, shares[0], deadline, start);
  for (auto& t : threads)
    t.join();

  run_totals totals;
  for (auto& e : exporters) {
    ::close(e->fd);
    totals.add(e->stats);
  }
  return report_run(cfg, totals, start, udp_stop.load());
}

} // namespace fa::tools
