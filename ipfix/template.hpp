#pragma once

// Templates and options templates (RFC 7011 3.4): definitions, parsing from a
// template set, and encoding into one.

#include "ipfix/error.hpp"
#include "ipfix/wire.hpp"

#include <cstdint>
#include <vector>

namespace fa::ipfix {

constexpr std::uint16_t varlen = 65535; ///< RFC 7011 7: length 65535 marks variable length
constexpr std::uint32_t iana_pen = 0;
constexpr std::uint32_t reverse_pen = 29305; ///< RFC 5103 reverse information elements
constexpr std::uint32_t antrea_pen = 56506;

/// One field specifier (RFC 7011 3.2). `enterprise` is 0 for IANA elements.
struct field_spec {
  std::uint16_t id = 0; ///< element id without the enterprise bit
  std::uint16_t length = 0;
  std::uint32_t enterprise = 0;

  bool is_varlen() const { return length == varlen; }
  /// Octets this specifier takes in a template record: 4, or 8 with the enterprise bit.
  std::size_t encoded_size() const { return enterprise != 0 ? 8 : 4; }
  friend bool operator==(const field_spec&, const field_spec&) = default;
};

/// A template or options template. `scope_count` is 0 for a template and >= 1 for an
/// options template (RFC 7011 3.4.2.2).
struct template_def {
  std::uint16_t id = 0;
  std::uint16_t scope_count = 0;
  std::vector<field_spec> fields;

  bool is_options() const { return scope_count != 0; }
  /// Octets of the shortest possible record: fixed fields plus 1 octet per
  /// variable-length field (RFC 7011 3.3.1 uses it to recognise padding).
  std::size_t min_record_length() const;
  bool has_varlen() const;
  /// Octets of the template record itself (record header + field specifiers).
  std::size_t encoded_size() const;
  /// Same fields and scope; the id is not compared.
  bool same_layout(const template_def& other) const {
    return scope_count == other.scope_count && fields == other.fields;
  }
  friend bool operator==(const template_def&, const template_def&) = default;
};

/// One record of a template set or options template set: either a definition or a
/// withdrawal (field count 0, RFC 7011 8.1). A withdrawal with `id` equal to the set id
/// (2 or 3) withdraws all templates of that kind.
struct template_record {
  bool withdrawal = false;
  template_def def; ///< for a withdrawal only `def.id` is meaningful
};

/// Calls `f(template_record&&)` for each record of a template set (set id 2) or options
/// template set (set id 3) body. Stops at the first malformed record and returns why;
/// records before it have been delivered. Trailing padding shorter than a record
/// header is accepted (RFC 7011 3.3.1).
template <class F>
parse_error parse_template_set(std::uint16_t set_id, bytes_view body, F&& f);

/// The non-template form used by `parse_template_set`: parses one template record at
/// `body[pos]`, advances `pos`. Returns `none` and sets `done` when only padding is left.
parse_error parse_template_record(std::uint16_t set_id, bytes_view body, std::size_t& pos,
                                  template_record& out, bool& done);

/// Appends the template record (header and field specifiers) for `def` to `out`.
void encode_template_record(const template_def& def, std::vector<std::uint8_t>& out);

template <class F>
parse_error parse_template_set(std::uint16_t set_id, bytes_view body, F&& f) {
  std::size_t pos = 0;
  for (;;) {
    template_record rec;
    bool done = false;
    if (auto err = parse_template_record(set_id, body, pos, rec, done); err != parse_error::none)
      return err;
    if (done)
      return parse_error::none;
    f(std::move(rec));
  }
}

} // namespace fa::ipfix
