#include "ipfix/record.hpp"

#include "base/read_ahead.hpp"

#include <algorithm>
#include <numeric>
#include <utility>

namespace fa::ipfix {

record_layout::record_layout(const template_def& def) {
  lengths_.reserve(def.fields.size());
  for (const auto& f : def.fields) {
    lengths_.push_back(f.length);
    if (f.is_varlen())
      fixed_ = false;
  }
  min_length_ = def.min_record_length();

  // Group equal elements (a stable sort keeps template order inside each group) and
  // number each group's fields 1, 2, 3, ...
  const auto& fields = def.fields;
  std::vector<std::size_t> order(fields.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return std::pair(fields[a].enterprise, fields[a].id) <
           std::pair(fields[b].enterprise, fields[b].id);
  });
  occurrences_.resize(fields.size());
  std::uint16_t n = 0;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const bool same = k != 0 && fields[order[k]].enterprise == fields[order[k - 1]].enterprise &&
                      fields[order[k]].id == fields[order[k - 1]].id;
    n = same ? static_cast<std::uint16_t>(n + 1) : std::uint16_t{1};
    occurrences_[order[k]] = n;
  }
  var_rank_.resize(lengths_.size());
  rel_offset_.resize(lengths_.size());
  std::size_t run = 0;
  for (std::size_t i = 0; i < lengths_.size(); ++i) {
    var_rank_[i] = static_cast<std::uint16_t>(var_gap_.size());
    rel_offset_[i] = static_cast<std::uint16_t>(run);
    if (lengths_[i] == varlen) {
      var_gap_.push_back(static_cast<std::uint16_t>(run));
      run = 0;
    } else {
      run += lengths_[i];
    }
  }
  tail_fixed_ = run;
  if (fixed_) {
    fixed_offsets_.reserve(lengths_.size());
    for (auto len : lengths_) {
      // Templates from the parser are at most 65515 octets long; offsets fit 16 bits.
      fixed_offsets_.push_back(static_cast<std::uint16_t>(fixed_length_));
      fixed_length_ += len;
    }
  }
}

std::size_t record_layout::measure(bytes_view bytes, parse_error& err) const {
  err = parse_error::none;
  if (fixed_) {
    if (bytes.size() < fixed_length_) {
      err = parse_error::record_shorter_than_template;
      return 0;
    }
    return fixed_length_;
  }
  return segment_walk(bytes, err, [](std::size_t, field_slice) {});
}

std::size_t record_layout::walk_varlen(bytes_view record, std::span<field_slice> varlen_out,
                                       parse_error& err) const {
  err = parse_error::none;
  if (fixed_)
    return measure(record, err);
  return segment_walk(record, err, [&](std::size_t k, field_slice s) { varlen_out[k] = s; });
}

std::pair<std::size_t, std::size_t> record_layout::walk_varlen_two(bytes_view a, field_slice* a_out,
                                                                   bytes_view b,
                                                                   field_slice* b_out) const {
  // One field of one record, as fast_segment_walk does it; false where that stops.
  auto step = [](bytes_view r, std::size_t& pos, std::size_t gap, field_slice& out) {
    pos += gap;
    if (pos + 3 > r.size())
      return false;
    std::size_t len = r[pos];
    if (len == 255) {
      len = read_u16(r.data() + pos + 1);
      pos += 3;
    } else {
      pos += 1;
    }
    out = {static_cast<std::uint16_t>(pos), static_cast<std::uint16_t>(len)};
    pos += len;
    return true;
  };
  std::size_t pa = 0, pb = 0;
  for (std::size_t k = 0; k < var_gap_.size(); ++k) {
    const std::size_t gap = var_gap_[k];
    // Both steps every time (no early exit between them): the two chains stay in flight
    // together.
    const bool ok_a = step(a, pa, gap, a_out[k]);
    const bool ok_b = step(b, pb, gap, b_out[k]);
    if (!(ok_a && ok_b))
      return {0, 0};
  }
  if (pa + tail_fixed_ > a.size() || pb + tail_fixed_ > b.size())
    return {0, 0};
  return {pa + tail_fixed_, pb + tail_fixed_};
}

std::size_t record_layout::length_of(std::span<const field_slice> varlen,
                                     std::size_t available) const {
  if (fixed_)
    return fixed_length_ <= available ? fixed_length_ : 0;
  if (varlen.size() < var_gap_.size())
    return 0;
  // Without a branch per value (the flow table checks every record's values, issue 11
  // profile): a value's offset less where its prefix starts is 1 or 3, i.e. (d | 2) == 3.
  std::size_t pos = 0;
  std::size_t bad = 0;
  const std::uint16_t* gap = var_gap_.data();
  const field_slice* v = varlen.data();
  for (std::size_t k = 0, n = var_gap_.size(); k < n; ++k) {
    const std::size_t d = std::size_t{v[k].offset} - (pos + gap[k]);
    bad |= (d | 2) ^ 3;
    pos = std::size_t{v[k].offset} + v[k].length;
  }
  pos += tail_fixed_;
  return bad == 0 && pos <= available ? pos : 0;
}

void record_layout::slice(bytes_view record, std::span<field_slice> out) const {
  walk(record, out.size(), [&](std::size_t i, field_slice s) { out[i] = s; });
}

field_slice record_layout::field(bytes_view record, std::size_t index) const {
  field_slice out;
  walk(record, index + 1, [&](std::size_t i, field_slice s) {
    if (i == index)
      out = s;
  });
  return out;
}

bool record_cursor::next(bytes_view& record) {
  if (error_ != parse_error::none)
    return false;
  const std::size_t left = body_.size() - pos_;
  // RFC 7011 3.3.1: fewer octets than the shortest record are padding. A template
  // without fields has no records at all (and must not loop forever).
  const std::size_t min_length = layout_->min_length();
  if (left == 0 || min_length == 0 || left < min_length)
    return false;
  const std::size_t n = layout_->measure(body_.subspan(pos_), error_);
  if (n == 0)
    return false;
  record = body_.subspan(pos_, n);
  pos_ += n;
  return true;
}

std::size_t count_records(bytes_view body, const record_layout& layout, parse_error& err) {
  record_cursor cursor(body, layout);
  std::size_t n = 0;
  bytes_view record;
  while (cursor.next(record))
    ++n;
  err = cursor.error();
  return err == parse_error::none ? n : 0;
}

sliced_records slice_records(bytes_view body, const record_layout& layout,
                             std::vector<field_slice>& varlen) {
  sliced_records out;
  const std::size_t min_length = layout.min_length();
  // A template without fields has no records at all (and must not loop forever).
  if (min_length == 0)
    return out;
  if (layout.fixed()) {
    // Every record has the template's length: what is left is padding.
    out.records = body.size() / min_length;
    out.consumed = out.records * min_length;
    return out;
  }
  const std::size_t k = layout.num_varlen();
  std::size_t pos = 0;
  base::read_ahead ahead{body.data(), body.size()};
  while (body.size() - pos >= min_length) {
    ahead.reached(pos);
    const std::size_t at = varlen.size();
    varlen.resize(at + k);
    const std::size_t n = layout.walk_varlen(body.subspan(pos), {varlen.data() + at, k}, out.error);
    if (n == 0) {
      out.records = 0;
      out.consumed = 0;
      return out;
    }
    pos += n;
    ++out.records;
  }
  out.consumed = pos;
  return out;
}

std::pair<sliced_records, sliced_records> slice_records_pair(bytes_view a, bytes_view b,
                                                             const record_layout& layout,
                                                             std::vector<field_slice>& varlen,
                                                             std::vector<field_slice>& scratch) {
  scratch.clear();
  const std::size_t min_length = layout.min_length();
  if (layout.fixed() || min_length == 0)
    return {slice_records(a, layout, varlen), slice_records(b, layout, scratch)};
  const std::size_t k = layout.num_varlen();
  const std::size_t at = varlen.size();
  // Room for one more record's values, grown as slice_records grows it.
  auto room = [k](std::vector<field_slice>& v, std::size_t base, std::size_t records) {
    v.resize(base + (records + 1) * k);
    return v.data() + base + records * k;
  };
  sliced_records ra, rb;
  std::size_t pa = 0, pb = 0;
  // Side by side while both have a record; a record either stops at is walked alone below.
  while (a.size() - pa >= min_length && b.size() - pb >= min_length) {
    field_slice* a_out = room(varlen, at, ra.records);
    field_slice* b_out = room(scratch, 0, rb.records);
    const auto [na, nb] = layout.walk_varlen_two(a.subspan(pa), a_out, b.subspan(pb), b_out);
    if (na == 0)
      break;
    pa += na;
    pb += nb;
    ++ra.records;
    ++rb.records;
  }
  // The rest of each alone, as slice_records walks it.
  auto finish = [&](bytes_view body, std::size_t& pos, std::vector<field_slice>& v,
                    std::size_t base, sliced_records& r) {
    while (body.size() - pos >= min_length) {
      const std::size_t n =
          layout.walk_varlen(body.subspan(pos), {room(v, base, r.records), k}, r.error);
      if (n == 0) {
        r.records = 0;
        v.resize(base);
        return;
      }
      pos += n;
      ++r.records;
    }
    r.consumed = pos;
    v.resize(base + r.records * k);
  };
  finish(a, pa, varlen, at, ra);
  finish(b, pb, scratch, 0, rb);
  return {ra, rb};
}

std::size_t write_varlen_prefix(std::uint8_t* out, std::size_t len) {
  // RFC 7011 7: one octet below 255, else 255 and a 2-octet length. No value longer than
  // 65535 octets fits a message, so the caller never asks for one.
  if (len < 255) {
    out[0] = static_cast<std::uint8_t>(len);
    return 1;
  }
  out[0] = 255;
  write_u16(out + 1, static_cast<std::uint16_t>(len));
  return 3;
}

} // namespace fa::ipfix
