#include "ipfix/record.hpp"

#include "ipfix/record_room.hpp"

#include "base/read_ahead.hpp"

#include <algorithm>
#include <array>
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

template <std::size_t N>
[[gnu::always_inline]] inline bool record_layout::walk_varlen_n(const bytes_view* records,
                                                                field_slice* const* outs,
                                                                std::size_t* lengths) const {
  // The walk is N chains of dependent loads, one load per value (issue 15); what it costs
  // is the instructions around each load. So each lane's state is scalars (its base, its
  // position, where its values go), and a value's bounds check is one compare with the
  // last position where a 3-octet prefix still fits (`lim`, i.e. `pos + 3 > size`). A
  // record that comes that near its end, or runs past it, stops the walk at once (a
  // branch never taken in well-formed sets, so the chains still overlap); each record is
  // then walked alone, for the exact error. Inlined into the walk of whole sets: a call
  // per N records spilled and reloaded the lanes' state.
  std::array<const std::uint8_t*, N> data;
  std::array<std::size_t, N> lim;
  std::array<std::size_t, N> pos{};
  std::array<field_slice*, N> out;
  for (std::size_t i = 0; i < N; ++i) {
    if (records[i].size() < 3)
      return false;
    data[i] = records[i].data();
    lim[i] = records[i].size() - 3;
    out[i] = outs[i];
  }
  const std::uint16_t* gaps = var_gap_.data();
  for (std::size_t k = 0, n = var_gap_.size(); k < n; ++k) {
    const std::size_t gap = gaps[k];
    for (std::size_t i = 0; i < N; ++i) {
      std::size_t p = pos[i] + gap;
      if (p > lim[i]) [[unlikely]]
        return false;
      std::size_t len = data[i][p];
      ++p;
      // RFC 7011 7: 255 announces a 2-octet length (within `lim`, as checked above).
      if (len == 255) [[unlikely]] {
        len = read_u16(data[i] + p);
        p += 2;
      }
      out[i][k] = {static_cast<std::uint16_t>(p), static_cast<std::uint16_t>(len)};
      pos[i] = p + len;
    }
  }
  for (std::size_t i = 0; i < N; ++i) {
    if (pos[i] + tail_fixed_ > records[i].size())
      return false;
    lengths[i] = pos[i] + tail_fixed_;
  }
  return true;
}

std::size_t record_layout::walk_varlen(bytes_view record, std::span<field_slice> varlen_out,
                                       parse_error& err) const {
  err = parse_error::none;
  if (fixed_)
    return measure(record, err);
  // The lanes' walk of one record first (fewer instructions per value than the header's
  // `fast_segment_walk`, issue 15); a record it leaves is walked again for the error.
  std::size_t n = 0;
  field_slice* out = varlen_out.data();
  if (walk_varlen_n<1>(&record, &out, &n))
    return n;
  return segment_walk(record, err, [&](std::size_t k, field_slice s) { varlen_out[k] = s; });
}

template bool record_layout::walk_varlen_n<2>(const bytes_view*, field_slice* const*,
                                              std::size_t*) const;
template bool record_layout::walk_varlen_n<3>(const bytes_view*, field_slice* const*,
                                              std::size_t*) const;
template bool record_layout::walk_varlen_n<4>(const bytes_view*, field_slice* const*,
                                              std::size_t*) const;

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
  // Room for the values of as many records as the body could hold (every record is at
  // least `min_length` octets) in one resize, so that a record's values cost no vector
  // growth; what the records did not use is given back after the walk (issue 15).
  const std::size_t k = layout.num_varlen();
  const std::size_t base = varlen.size();
  varlen.resize(base + room_for(body.size(), layout));
  field_slice* values = varlen.data() + base;
  std::size_t pos = 0;
  base::read_ahead ahead{body.data(), body.size()};
  while (body.size() - pos >= min_length) {
    ahead.reached(pos);
    const std::size_t n = layout.walk_varlen(body.subspan(pos), {values, k}, out.error);
    if (n == 0) {
      out.records = 0;
      out.consumed = 0;
      varlen.resize(base);
      return out;
    }
    values += k;
    pos += n;
    ++out.records;
  }
  out.consumed = pos;
  varlen.resize(base + out.records * k);
  return out;
}

namespace {

/// One data set body being walked by `slice_records_in_place`.
struct lane {
  bytes_view body;
  std::size_t pos = 0;
  /// Room for the values of as many records as `body` could hold (`room_for`), sized
  /// before the walk, so that a record's values cost no vector growth (issue 15).
  field_slice* out = nullptr;
  sliced_records* found = nullptr;
  bool done = false;

  bool has_record(std::size_t min_length) const { return body.size() - pos >= min_length; }
  /// Where the next record's values (`k` of them) go. In bounds: every record is at least
  /// `min_length` octets, so a lane with a record left has walked fewer than
  /// `body.size() / min_length`.
  field_slice* room(std::size_t k) const { return out + found->records * k; }
};

/// Walks lanes `ls[0..N)` side by side while each has a record. Returns true when it
/// stopped at records the side-by-side walk leaves (a value within 3 octets of the end,
/// or a malformed record), false when a lane ran out of records.
template <std::size_t N>
bool walk_lanes(const record_layout& layout, lane* const* ls) {
  const std::size_t k = layout.num_varlen();
  const std::size_t min_length = layout.min_length();
  for (;;) {
    std::array<bytes_view, N> records;
    std::array<field_slice*, N> outs;
    std::array<std::size_t, N> lengths;
    for (std::size_t i = 0; i < N; ++i) {
      if (!ls[i]->has_record(min_length))
        return false;
      records[i] = ls[i]->body.subspan(ls[i]->pos);
      outs[i] = ls[i]->room(k);
    }
    if (!layout.walk_varlen_n<N>(records.data(), outs.data(), lengths.data()))
      return true;
    for (std::size_t i = 0; i < N; ++i) {
      ls[i]->pos += lengths[i];
      ++ls[i]->found->records;
    }
  }
}

/// One record of a lane alone, as slice_records walks it; on a malformed record the lane
/// is done, with no records and the error.
void step_lane(const record_layout& layout, lane& l) {
  const std::size_t k = layout.num_varlen();
  auto& r = *l.found;
  const std::size_t n = layout.walk_varlen(l.body.subspan(l.pos), {l.room(k), k}, r.error);
  if (n == 0) {
    r.records = 0;
    l.done = true;
    return;
  }
  l.pos += n;
  ++r.records;
}

/// Walks `lanes[0..n)` of a variable-length template: side by side while two or more
/// have a record; a record that walk leaves is walked alone in each lane, and a lane that
/// runs out leaves the others to go on. Sets each lane's `found`.
void walk_side_by_side(const record_layout& layout, lane* lanes, std::size_t n) {
  const std::size_t min_length = layout.min_length();
  for (;;) {
    std::array<lane*, max_side_by_side> live;
    std::size_t m = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (!lanes[i].done && lanes[i].has_record(min_length))
        live[m++] = &lanes[i];
    bool stuck = false;
    switch (m) {
    case 4:
      stuck = walk_lanes<4>(layout, live.data());
      break;
    case 3:
      stuck = walk_lanes<3>(layout, live.data());
      break;
    case 2:
      stuck = walk_lanes<2>(layout, live.data());
      break;
    case 1:
      stuck = true;
      break;
    default:
      break;
    }
    if (m == 0)
      break;
    if (stuck)
      for (std::size_t i = 0; i < m; ++i)
        step_lane(layout, *live[i]);
  }
  // What is left of each set is padding (RFC 7011 3.3.1).
  for (std::size_t i = 0; i < n; ++i)
    if (!lanes[i].done)
      lanes[i].found->consumed = lanes[i].pos;
}

} // namespace

void slice_records_in_place(std::span<const bytes_view> bodies, const record_layout& layout,
                            std::vector<field_slice>& varlen, std::span<std::size_t> starts,
                            std::span<sliced_records> found) {
  const std::size_t n = std::min({bodies.size(), starts.size(), found.size(), max_side_by_side});
  if (n == 0)
    return;
  if (layout.fixed() || layout.min_length() == 0) {
    for (std::size_t i = 0; i < n; ++i) {
      starts[i] = varlen.size();
      found[i] = slice_records(bodies[i], layout, varlen);
    }
    return;
  }
  // One resize for every set's room: each record's values then cost no growth, and a set
  // walked ahead has its values where its slice will read them.
  std::size_t end = varlen.size();
  for (std::size_t i = 0; i < n; ++i) {
    starts[i] = end;
    end += room_for(bodies[i].size(), layout);
  }
  varlen.resize(end);
  std::array<lane, max_side_by_side> lanes;
  for (std::size_t i = 0; i < n; ++i) {
    found[i] = {};
    lanes[i] = {bodies[i], 0, varlen.data() + starts[i], &found[i]};
  }
  walk_side_by_side(layout, lanes.data(), n);
  // The room the last set did not use is given back; the others' stays, between sets.
  varlen.resize(starts[n - 1] + found[n - 1].records * layout.num_varlen());
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
