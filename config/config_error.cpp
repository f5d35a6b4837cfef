#include "config/config_error.hpp"

namespace fa::config {

std::string_view to_string(error_kind x) {
  switch (x) {
  case error_kind::io:
    return "io";
  case error_kind::syntax:
    return "syntax";
  case error_kind::unknown_key:
    return "unknown_key";
  case error_kind::wrong_type:
    return "wrong_type";
  case error_kind::invalid_value:
    return "invalid_value";
  case error_kind::missing_key:
    return "missing_key";
  case error_kind::unsupported:
    return "unsupported";
  }
  return "?";
}

std::string to_string(const config_error& x) {
  std::string result = x.source.empty() ? std::string{"<config>"} : x.source;
  if (x.line != 0) {
    result += ':';
    result += std::to_string(x.line);
    if (x.column != 0) {
      result += ':';
      result += std::to_string(x.column);
    }
  }
  result += ": ";
  if (!x.key.empty()) {
    result += x.key;
    result += ": ";
  }
  // An unsupported feature is not invalid, and its message names the value already.
  if (!x.value.empty() && x.kind != error_kind::unsupported) {
    result += x.value;
    result += " is not valid; ";
  }
  result += x.message;
  return result;
}

std::string to_string(const std::vector<config_error>& xs) {
  std::string result;
  for (const auto& x : xs) {
    result += to_string(x);
    result += '\n';
  }
  return result;
}

} // namespace fa::config
