#include "tools/collector/server.hpp"

#include "ipfix/error.hpp"

#include <algorithm>
#include <ctime>

namespace fa::tools {

using namespace std::chrono_literals;

std::uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

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

} // namespace fa::tools
