#pragma once

// JSON string literals as every JSON writer of the product emits them (records as JSON
// lines, JSON logs): RFC 8259 7 escaping, with ill-formed UTF-8 replaced rather than
// passed on. Header-only, no dependencies. (Pod labels have their own encoder, which
// copies Go's encoding/json byte for byte: labels/label_json.hpp.)

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace fa::base {

namespace detail {

inline constexpr char hex_digits[] = "0123456789abcdef";

/// The length of the valid UTF-8 sequence at `s[0..n)` (RFC 3629 4), or, negated, the
/// length of its maximal invalid subpart (at least 1).
inline int utf8_sequence(const std::uint8_t* s, std::size_t n) {
  const std::uint8_t c = s[0];
  int need;
  std::uint8_t lo = 0x80, hi = 0xbf; // range of the second octet
  if (c >= 0xc2 && c <= 0xdf) {
    need = 1;
  } else if (c >= 0xe0 && c <= 0xef) {
    need = 2;
    if (c == 0xe0)
      lo = 0xa0; // no overlong forms
    else if (c == 0xed)
      hi = 0x9f; // no surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 3;
    if (c == 0xf0)
      lo = 0x90; // no overlong forms
    else if (c == 0xf4)
      hi = 0x8f; // nothing above U+10FFFF
  } else {
    return -1;
  }
  for (int i = 1; i <= need; ++i) {
    if (static_cast<std::size_t>(i) >= n)
      return -i;
    const std::uint8_t b = s[i];
    if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf))
      return -i;
  }
  return need + 1;
}

} // namespace detail

/// Appends `text` as a quoted JSON string: quotes, backslashes and control characters
/// escaped, and each maximal invalid UTF-8 subsequence replaced by U+FFFD (Unicode 15,
/// 3.9 "U+FFFD Substitution of Maximal Subparts").
inline void append_json_string(std::string& out, std::string_view text) {
  const auto* s = reinterpret_cast<const std::uint8_t*>(text.data());
  const std::size_t n = text.size();
  out += '"';
  std::size_t i = 0;
  while (i < n) {
    const std::uint8_t c = s[i];
    if (c >= 0x80) {
      const int len = detail::utf8_sequence(s + i, n - i);
      if (len > 0) {
        out.append(text.data() + i, static_cast<std::size_t>(len));
        i += static_cast<std::size_t>(len);
      } else {
        out += "\xef\xbf\xbd"; // U+FFFD
        i += static_cast<std::size_t>(-len);
      }
      continue;
    }
    ++i;
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (c < 0x20) {
        out += "\\u00";
        out += detail::hex_digits[c >> 4];
        out += detail::hex_digits[c & 0xf];
      } else {
        out += static_cast<char>(c);
      }
    }
  }
  out += '"';
}

} // namespace fa::base
