#pragma once

// One data record as one compact JSON object, for the jsonl output and the admin API.

#include "ipfix/record.hpp"

#include <string>
#include <string_view>

namespace fa::ipfix {

/// Appends one compact JSON object for `record` (a record `layout` accepted; `layout`
/// built from `def`) to `out`, and allocates nothing else.
///
/// - Keys are the registry names (`find_element`). Elements the registry does not know
///   are named as `element_name` names them: "id<id>" for IANA, "e<pen>id<id>" for an
///   enterprise, so JSON keys and the admin API agree. A name that occurs again in the
///   same template gets a suffix: "octetDeltaCount#2", "#3", ...
/// - Values follow the element's type (RFC 7011 6.1), with the template's length
///   (reduced-size encoding, RFC 7011 6.2):
///   - unsigned and signed integers: JSON numbers;
///   - float32, float64 (also sent as 4 octets): numbers, `null` for NaN and infinities;
///   - boolean: 1 is true, 2 is false (RFC 7011 6.1.5); any other value is kept as its
///     number;
///   - ipv4Address, ipv6Address (RFC 5952 text), macAddress ("aa:bb:cc:dd:ee:ff"): text;
///   - dateTime*: RFC 3339 UTC text with the element's precision, e.g.
///     "2024-05-01T12:00:00Z", ".123Z", ".123456Z", ".123456789Z"; micro- and
///     nanoseconds are NTP timestamps (RFC 7011 6.1.9, 6.1.10); a time past year 9999
///     is kept as its number;
///   - string: a JSON string; invalid UTF-8 becomes U+FFFD;
///   - octetArray, lists, unknown elements, and any value whose length does not fit its
///     type: lowercase hex text.
void append_record_json(std::string& out, const template_def& def, const record_layout& layout,
                        bytes_view record);

/// The same for a record whose variable-length values are `varlen` (as `walk_varlen`
/// gives them, or handed over by the enricher; `layout.length_of` accepted them): every
/// field is found without a walk.
void append_record_json(std::string& out, const template_def& def, const record_layout& layout,
                        bytes_view record, std::span<const field_slice> varlen);

/// Appends the text of an address: dotted quad for 4 octets, RFC 5952 for 16 (IPv4-mapped
/// addresses as "::ffff:a.b.c.d"); nothing for any other length. No quotes.
void append_address_text(std::string& out, bytes_view address);

} // namespace fa::ipfix
