#pragma once

// Records of a data set (RFC 7011 3.3.1): a cursor that slices a set body into
// records, and the offsets of each field inside one record. Nothing is copied.

#include "ipfix/error.hpp"
#include "ipfix/template.hpp"

#include <algorithm>
#include <cstdint>

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

/// Counts the records of a data set body and validates each; returns the number, or
/// sets `err`. The enricher and the exporter rely on sets this accepted.
std::size_t count_records(bytes_view body, const record_layout& layout, parse_error& err);

/// Writes a variable-length prefix for a value of `len` octets: 1 octet below 255,
/// otherwise 255 and 2 octets (RFC 7011 7). Returns the octets written (1 or 3).
std::size_t write_varlen_prefix(std::uint8_t* out, std::size_t len);

} // namespace fa::ipfix
