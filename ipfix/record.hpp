#pragma once

// Records of a data set (RFC 7011 3.3.1): a cursor that slices a set body into
// records, and the offsets of each field inside one record. Nothing is copied.

#include "ipfix/error.hpp"
#include "ipfix/template.hpp"

#include <algorithm>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace fa::ipfix {

/// Where one field's value lies inside a record.
struct field_slice {
  std::uint16_t offset = 0; ///< of the value, after any variable-length prefix
  std::uint16_t length = 0; ///< of the value
};

/// Precomputed walk of a template: for templates without variable-length fields every
/// offset is fixed, so finding a field costs nothing per record.
class record_layout {
 public:
  record_layout() = default;
  explicit record_layout(const template_def& def);

  bool fixed() const { return fixed_; }
  std::size_t min_length() const { return min_length_; }
  std::size_t num_fields() const { return lengths_.size(); }

  /// Which occurrence of its element field `index` is: 1 for the first field of the
  /// template with that (enterprise, id), 2 for the second, ...; 0 for no such field.
  /// Computed once per template, so per-record code (JSON keys) need not search.
  std::uint16_t occurrence(std::size_t index) const {
    return index < occurrences_.size() ? occurrences_[index] : 0;
  }

  /// Measures the record at the start of `bytes`: returns its length, or 0 with `err`
  /// set when it does not fit (`record_shorter_than_template` or `varlen_overruns_set`).
  std::size_t measure(bytes_view bytes, parse_error& err) const;

  /// Fills `out[i]` for each field of the record (`out.size() >= num_fields()`). The
  /// record must be one `measure` accepted.
  void slice(bytes_view record, std::span<field_slice> out) const;

  /// The slice of field `index` only; walks variable-length fields before it.
  field_slice field(bytes_view record, std::size_t index) const;

  /// The fast path for per-record work: one walk over the variable-length fields only
  /// (runs of fixed fields are skipped in one step). Fills `varlen_out[k]` with the k-th
  /// variable-length value (`varlen_out.size() >= num_varlen()`) and returns the record
  /// length, or 0 with `err` set like `measure`. `located` then gives any field in O(1).
  std::size_t walk_varlen(bytes_view record, std::span<field_slice> varlen_out,
                          parse_error& err) const;

  /// `walk_varlen` of N records side by side (N = 1 to 4; 1 is the lone walk), field by field, so
  /// that their chains of loads overlap: fills `lengths[i]` for `records[i]` (values into
  /// `outs[i]`), or returns false when any record does not fit (walk each alone then, for
  /// the error). Variable-length templates only.
  template <std::size_t N>
  bool walk_varlen_n(const bytes_view* records, field_slice* const* outs,
                     std::size_t* lengths) const;

  /// The slice of field `index` of a record `walk_varlen` accepted with `varlen_out`.
  field_slice located(std::size_t index, std::span<const field_slice> varlen_out) const {
    if (fixed_)
      return {fixed_offsets_[index], lengths_[index]};
    auto k = var_rank_[index];
    if (lengths_[index] == varlen)
      return varlen_out[k];
    // A fixed field starts a known distance after the end of the variable-length value
    // before it (or after the record start).
    std::size_t base =
        k == 0 ? 0 : std::size_t{varlen_out[k - 1].offset} + varlen_out[k - 1].length;
    return {static_cast<std::uint16_t>(base + rel_offset_[index]), lengths_[index]};
  }

  /// Number of variable-length fields.
  std::size_t num_varlen() const { return var_gap_.size(); }

  /// The length of a record `walk_varlen` accepted, from its variable-length values
  /// alone: the end of the last value plus the fixed fields after it.
  std::size_t record_length(std::span<const field_slice> varlen) const {
    if (fixed_)
      return fixed_length_;
    const auto& last = varlen[var_gap_.size() - 1];
    return std::size_t{last.offset} + last.length + tail_fixed_;
  }

  /// The rank of variable-length field `index` among the template's variable-length
  /// fields: its entry in `walk_varlen`'s output.
  std::size_t var_rank(std::size_t index) const { return var_rank_[index]; }

  /// The length of a record whose variable-length values are `varlen` (as `walk_varlen`
  /// gives them, handed over by whoever wrote the record), or 0 when they do not describe
  /// a record of this template within `available` octets: each value must follow its
  /// fixed gap and a 1- or 3-octet prefix (RFC 7011 7), in order. Reads no record octet,
  /// so a reader that takes the values instead of walking still never reads past its
  /// record; a record that does not fit is malformed, as with `walk_varlen`.
  std::size_t length_of(std::span<const field_slice> varlen, std::size_t available) const;

  /// Calls `f(std::size_t index, field_slice)` for each field of `record` in order, in
  /// one walk. Safe on any bytes: the walk stops at the first field that would run past
  /// `record`. Returns the number of fields visited (`num_fields()` for a record `measure`
  /// accepted).
  template <class F>
  std::size_t for_each_field(bytes_view record, F&& f) const {
    return walk(record, lengths_.size(), f);
  }

 private:
  /// The one walk over a record: visits fields [0, count), stopping at the first that
  /// would run past `record`; returns the number visited.
  template <class F>
  std::size_t walk(bytes_view record, std::size_t count, F&& f) const;

  /// Walks a record by segments: each run of fixed fields is skipped in one step, each
  /// variable-length value is read and passed to `f(rank, field_slice)`. Returns the
  /// record length, or 0 with `err` set.
  template <class F>
  std::size_t segment_walk(bytes_view record, parse_error& err, F&& f) const {
    // The walk is a chain of dependent loads, one per value (issue 15), so its cost is
    // the instructions between them: while the longest prefix (3 octets) fits, a field
    // costs one bounds check, and whether each value fits follows from the next check
    // (positions only grow). Anything else is walked again below, field by field, for
    // the exact error; `f` then sees the same fields again.
    if (std::size_t end = fast_segment_walk(record, f))
      return end;
    std::size_t pos = 0;
    for (std::size_t k = 0; k < var_gap_.size(); ++k) {
      if (record.size() - pos < var_gap_[k]) {
        err = parse_error::record_shorter_than_template;
        return 0;
      }
      pos += var_gap_[k];
      std::size_t len = 0;
      // RFC 7011 7: a variable-length prefix and value must both lie inside the set.
      if (!read_varlen(record, pos, len)) {
        err = parse_error::varlen_overruns_set;
        return 0;
      }
      f(k, field_slice{static_cast<std::uint16_t>(pos), static_cast<std::uint16_t>(len)});
      pos += len;
    }
    if (record.size() - pos < tail_fixed_) {
      err = parse_error::record_shorter_than_template;
      return 0;
    }
    return pos + tail_fixed_;
  }

  /// `segment_walk` of a record that fits with room to spare: its length, or 0 when a
  /// prefix comes within 3 octets of the end or a value or the tail would run past it.
  template <class F>
  std::size_t fast_segment_walk(bytes_view record, F&& f) const {
    const std::uint8_t* p = record.data();
    const std::size_t size = record.size();
    std::size_t pos = 0;
    for (std::size_t k = 0; k < var_gap_.size(); ++k) {
      pos += var_gap_[k];
      if (pos + 3 > size) // also when the value before ran past the end
        return 0;
      std::size_t len = p[pos];
      if (len == 255) { // RFC 7011 7: 255, then a 2-octet length
        len = read_u16(p + pos + 1);
        pos += 3;
      } else {
        pos += 1;
      }
      f(k, field_slice{static_cast<std::uint16_t>(pos), static_cast<std::uint16_t>(len)});
      pos += len;
    }
    return pos + tail_fixed_ <= size ? pos + tail_fixed_ : 0;
  }

  /// Reads a variable-length prefix at `record[pos]` (RFC 7011 7): advances `pos` past it
  /// and sets `len`; false when the prefix or the value runs past `record`.
  static bool read_varlen(bytes_view record, std::size_t& pos, std::size_t& len) {
    if (pos >= record.size())
      return false;
    len = record[pos++];
    if (len == 255) {
      if (record.size() - pos < 2)
        return false;
      len = read_u16(record.data() + pos);
      pos += 2;
    }
    return record.size() - pos >= len;
  }

  std::vector<std::uint16_t> lengths_;       ///< template lengths (65535 = variable)
  std::vector<std::uint16_t> fixed_offsets_; ///< valid when fixed_
  std::vector<std::uint16_t> occurrences_;
  /// Segment walk: for the k-th variable-length field, the fixed octets between the end
  /// of the previous variable-length value (or the record start) and its prefix.
  std::vector<std::uint16_t> var_gap_;
  /// Per field: variable-length fields before it (for a variable-length field: its rank).
  std::vector<std::uint16_t> var_rank_;
  /// Per fixed field: its offset from the end of the previous variable-length value.
  std::vector<std::uint16_t> rel_offset_;
  std::size_t tail_fixed_ = 0; ///< fixed octets after the last variable-length field
  std::size_t min_length_ = 0;
  std::size_t fixed_length_ = 0;
  bool fixed_ = true;
};

template <class F>
std::size_t record_layout::walk(bytes_view record, std::size_t count, F&& f) const {
  const std::size_t n = std::min(count, lengths_.size());
  if (fixed_) {
    if (record.size() < fixed_length_)
      return 0;
    for (std::size_t i = 0; i < n; ++i)
      f(i, field_slice{fixed_offsets_[i], lengths_[i]});
    return n;
  }
  std::size_t pos = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t len = lengths_[i];
    if (len == varlen) {
      if (!read_varlen(record, pos, len))
        return i;
    } else if (record.size() - pos < len) {
      return i;
    }
    // Records lie inside one message, so offsets and lengths fit 16 bits.
    f(i, field_slice{static_cast<std::uint16_t>(pos), static_cast<std::uint16_t>(len)});
    pos += len;
  }
  return n;
}

/// Iterates the records of one data set body. `next` returns false at the end: either
/// no octets left, or fewer than the minimum record length (padding, RFC 7011 3.3.1),
/// or a malformed record, in which case `error()` says why.
class record_cursor {
 public:
  record_cursor(bytes_view body, const record_layout& layout)
      : body_(body)
      , layout_(&layout) {}

  bool next(bytes_view& record);
  parse_error error() const { return error_; }
  /// Octets consumed so far (records only, padding excluded).
  std::size_t consumed() const { return pos_; }

 private:
  bytes_view body_;
  const record_layout* layout_;
  std::size_t pos_ = 0;
  parse_error error_ = parse_error::none;
};

/// Calls `f(bytes_view record, std::span<const field_slice> values)` for each record of a
/// data set body whose variable-length values are given, `layout.num_varlen()` per record
/// in `varlen` (handed over by the writer of the records, so none is walked), in order;
/// stops at the first record they do not fit (`record_layout::length_of`). Returns the
/// number of records visited.
template <class F>
std::size_t for_each_given(bytes_view body, const record_layout& layout,
                           std::span<const field_slice> varlen, F&& f) {
  const std::size_t nv = layout.num_varlen();
  if (nv == 0)
    return 0;
  std::size_t pos = 0, n = 0;
  for (; (n + 1) * nv <= varlen.size(); ++n) {
    const auto values = varlen.subspan(n * nv, nv);
    const std::size_t len = layout.length_of(values, body.size() - pos);
    if (len == 0)
      break;
    f(body.subspan(pos, len), values);
    pos += len;
  }
  return n;
}

/// Counts the records of a data set body and validates each; returns the number, or
/// sets `err`. The enricher and the exporter rely on sets this accepted.
std::size_t count_records(bytes_view body, const record_layout& layout, parse_error& err);

/// What `slice_records` found in a data set body.
struct sliced_records {
  std::size_t records = 0;
  std::size_t consumed = 0; ///< octets of the records (padding excluded)
  parse_error error = parse_error::none;
};

/// Walks the records of a data set body once, validating each as `record_cursor` does
/// (RFC 7011 3.3.1: what is left shorter than the shortest record is padding), and
/// appends each record's variable-length values (`num_varlen()` per record, none for a
/// fixed template) to `varlen`, so later stages find any field without walking again.
/// On a malformed record `error` is set and `varlen` may hold entries of this set: the
/// caller truncates it. `varlen` grows only past its capacity: reserve it.
sliced_records slice_records(bytes_view body, const record_layout& layout,
                             std::vector<field_slice>& varlen);

/// Most data set bodies `slice_records_in_place` walks at once.
inline constexpr std::size_t max_side_by_side = 4;

/// `slice_records` over up to `max_side_by_side` data set bodies of one template at once:
/// the walk of a record is a chain of dependent loads (each value's prefix says where the
/// next one is), so sets walked field by field side by side overlap their chains (issue
/// 15). `found[i]` is what `slice_records(bodies[i], ...)` would find. Every set's values
/// go into one vector, `varlen`, so that the values of a set walked ahead lie where its
/// slice will read them and are never copied. From `varlen`'s size on, each set in order gets room
/// for as many records as its body could hold (`size / min_length()`), and `starts[i]` says where
/// `bodies[i]`'s values begin; `varlen` ends at the last set's values, and the room a set
/// before it did not use stays in between (a set found malformed leaves all of its room,
/// and has no records). The three spans have one size.
void slice_records_in_place(std::span<const bytes_view> bodies, const record_layout& layout,
                            std::vector<field_slice>& varlen, std::span<std::size_t> starts,
                            std::span<sliced_records> found);

/// Writes a variable-length prefix for a value of `len` octets: 1 octet below 255,
/// otherwise 255 and 2 octets (RFC 7011 7). Returns the octets written (1 or 3).
std::size_t write_varlen_prefix(std::uint8_t* out, std::size_t len);

} // namespace fa::ipfix
