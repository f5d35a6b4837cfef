#include "ipfix/error.hpp"

namespace fa::ipfix {

std::string_view to_string(parse_error e) {
  switch (e) {
  case parse_error::none:
    return "none";
  case parse_error::short_header:
    return "short_header";
  case parse_error::bad_version:
    return "bad_version";
  case parse_error::bad_message_length:
    return "bad_message_length";
  case parse_error::short_set_header:
    return "short_set_header";
  case parse_error::bad_set_length:
    return "bad_set_length";
  case parse_error::set_overruns_message:
    return "set_overruns_message";
  case parse_error::reserved_set_id:
    return "reserved_set_id";
  case parse_error::short_template_record:
    return "short_template_record";
  case parse_error::bad_template_id:
    return "bad_template_id";
  case parse_error::zero_scope_count:
    return "zero_scope_count";
  case parse_error::scope_count_too_large:
    return "scope_count_too_large";
  case parse_error::bad_field_length:
    return "bad_field_length";
  case parse_error::template_too_long:
    return "template_too_long";
  case parse_error::varlen_overruns_set:
    return "varlen_overruns_set";
  case parse_error::record_shorter_than_template:
    return "record_shorter_than_template";
  case parse_error::unknown_template:
    return "unknown_template";
  case parse_error::too_many_templates:
    return "too_many_templates";
  }
  return "unknown";
}

} // namespace fa::ipfix
