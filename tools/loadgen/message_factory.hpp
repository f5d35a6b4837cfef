#pragma once

// ipfix-loadgen's IPFIX writer: the messages of one exporter session, written straight
// into a buffer that is sent as it is.

#include "tools/loadgen/options.hpp"

#include "ipfix/message.hpp"
#include "ipfix/wire.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <memory>
#include <vector>

namespace fa::tools {

/// One record of the configured content: the pair content with --pairs, else the
/// template kind's.
std::size_t write_content(const loadgen_config& cfg, std::uint32_t odid, std::uint64_t index,
                          std::uint8_t* dst);

/// CLOCK_MONOTONIC in nanoseconds: what --stamp writes (ipfix-collector --stamp reads it).
std::uint64_t monotonic_ns();

/// A growable byte buffer that does not zero what it reserves: records are written
/// straight into it.
class byte_buffer {
 public:
  std::uint8_t* data() { return data_.get(); }
  const std::uint8_t* data() const { return data_.get(); }
  std::size_t size() const { return size_; }
  void clear() { size_ = 0; }
  /// Makes room for `n` more octets and returns where they start.
  std::uint8_t* tail(std::size_t n) {
    if (capacity_ - size_ < n) {
      auto cap = std::max(capacity_ * 2, size_ + n);
      std::unique_ptr<std::uint8_t[]> bigger(new std::uint8_t[cap]);
      if (size_ > 0)
        std::memcpy(bigger.get(), data_.get(), size_);
      data_ = std::move(bigger);
      capacity_ = cap;
    }
    return data_.get() + size_;
  }
  void commit(std::size_t n) { size_ += n; }

 private:
  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

/// Slices of a session's byte stream, each made of whole messages.
struct chunk {
  std::size_t begin = 0;
  std::size_t size = 0;
  std::uint64_t records = 0;
  std::uint64_t messages = 0;
};

/// Builds the messages of one session: sequence numbers count the data records sent
/// before each message (RFC 7011 3.1).
class message_factory {
 public:
  message_factory(const loadgen_config& cfg, std::uint32_t odid)
      : cfg_(cfg)
      , odid_(odid)
      , max_record_(max_record_size(cfg.kind))
      , octet_delta_(octet_delta_offset(cfg.kind))
      , next_index_(cfg.first_record) {}

  /// The template message (set id 2) that opens the session.
  void append_template_message(byte_buffer& buf) const {
    auto def = make_template(cfg_.kind, cfg_.template_id);
    std::size_t set_len = ipfix::set_header_size + 4;
    for (auto& f : def.fields)
      set_len += f.encoded_size();
    auto len = ipfix::message_header_size + set_len;
    auto* p = buf.tail(len);
    write_header(p, len, static_cast<std::uint32_t>(seq_));
    ipfix::write_u16(p + 16, ipfix::template_set_id);
    ipfix::write_u16(p + 18, static_cast<std::uint16_t>(set_len));
    ipfix::write_u16(p + 20, def.id);
    ipfix::write_u16(p + 22, static_cast<std::uint16_t>(def.fields.size()));
    auto* q = p + 24;
    for (auto& f : def.fields) {
      // RFC 7011 3.2: the enterprise bit, then the enterprise number.
      ipfix::write_u16(q, static_cast<std::uint16_t>(f.id | (f.enterprise != 0 ? 0x8000 : 0)));
      ipfix::write_u16(q + 2, f.length);
      q += 4;
      if (f.enterprise != 0) {
        ipfix::write_u32(q, f.enterprise);
        q += 4;
      }
    }
    buf.commit(len);
  }

  /// Appends messages holding the next `records` records. Returns the chunk; when
  /// `stamps` is not null it receives each record's octetDeltaCount offset in `buf`.
  /// `limit` bounds each message (UDP: the datagram size); a record that would not fit
  /// starts the next message.
  chunk append_records(byte_buffer& buf, std::uint64_t records, std::vector<std::size_t>* stamps,
                       std::size_t limit = ipfix::max_message_size) {
    chunk c;
    c.begin = buf.size();
    auto export_time = static_cast<std::uint32_t>(std::time(nullptr));
    while (records > 0) {
      auto want = std::min<std::uint64_t>(records, cfg_.records_per_message);
      auto* p = buf.tail(ipfix::message_header_size + ipfix::set_header_size + want * max_record_);
      std::size_t pos = ipfix::message_header_size + ipfix::set_header_size;
      std::uint64_t n = 0;
      // RFC 7011 10: a message never exceeds 65535 octets.
      while (n < want && pos + max_record_ <= ipfix::max_message_size) {
        auto len = write_content(cfg_, odid_, next_index_, p + pos);
        if (pos + len > limit)
          break; // not committed: the next message starts with this record
        if (stamps != nullptr)
          stamps->push_back(buf.size() + pos + octet_delta_);
        pos += len;
        ++next_index_;
        ++n;
      }
      if (n == 0)
        break; // a record larger than `limit`: the caller checked this cannot happen
      write_header(p, pos, export_time);
      ipfix::write_u16(p + 16, cfg_.template_id);
      ipfix::write_u16(p + 18, static_cast<std::uint16_t>(pos - ipfix::message_header_size));
      buf.commit(pos);
      seq_ += n;
      records -= n;
      c.records += n;
      ++c.messages;
    }
    c.size = buf.size() - c.begin;
    return c;
  }

  /// Records generated so far (not counting --first-record).
  std::uint64_t generated() const { return next_index_ - cfg_.first_record; }

 private:
  void write_header(std::uint8_t* p, std::size_t len, std::uint32_t export_time) const {
    ipfix::write_u16(p, ipfix::ipfix_version);
    ipfix::write_u16(p + 2, static_cast<std::uint16_t>(len));
    ipfix::write_u32(p + 4, export_time);
    ipfix::write_u32(p + 8, static_cast<std::uint32_t>(seq_)); // modulo 2^32
    ipfix::write_u32(p + 12, odid_);
  }

  const loadgen_config& cfg_;
  std::uint32_t odid_;
  std::size_t max_record_;
  std::size_t octet_delta_;
  std::uint64_t next_index_;
  std::uint64_t seq_ = 0;
};

} // namespace fa::tools
