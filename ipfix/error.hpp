#pragma once

#include <cstdint>
#include <string_view>

namespace fa::ipfix {

/// Why a message, set, template or record was rejected. Errors are values on the data
/// path: nothing in the codec throws or asserts on bytes from the network.
enum class parse_error : std::uint8_t {
  none = 0,
  short_header,                 ///< fewer than 16 octets for a message header (RFC 7011 3.1)
  bad_version,                  ///< version is not 0x000a (RFC 7011 3.1)
  bad_message_length,           ///< header length < 16 or > the bytes available
  short_set_header,             ///< fewer than 4 octets left for a set header (RFC 7011 3.3.2)
  bad_set_length,               ///< set length < 4
  set_overruns_message,         ///< set length runs past the end of the message
  reserved_set_id,              ///< set id 0, 1 or 4..255 (RFC 7011 3.3.2)
  short_template_record,        ///< template record header or field specifier cut off
  bad_template_id,              ///< template id < 256 and not a withdraw-all id (RFC 7011 3.4.1)
  zero_scope_count,             ///< options template with scope count 0 (RFC 7011 3.4.2.2)
  scope_count_too_large,        ///< scope count > field count
  bad_field_length,             ///< length 0, or a length no record could have
  template_too_long,            ///< minimum record length exceeds the maximum message size
  varlen_overruns_set,          ///< a variable-length value runs past its set (RFC 7011 7)
  record_shorter_than_template, ///< a record is cut off inside a fixed field
  unknown_template,             ///< data set for a template the session does not know
  too_many_templates,           ///< the session's template limit is reached
};

/// A short, stable, snake_case reason; used as a metric label and in logs.
std::string_view to_string(parse_error e);

} // namespace fa::ipfix
