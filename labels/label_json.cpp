#include "labels/label_json.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace fa::labels {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

/// The length of the well-formed UTF-8 sequence at the start of `s` (2..4), or 0 if the
/// first byte does not begin one. Mirrors Go's utf8.DecodeRuneInString, which rejects
/// overlong forms, surrogates (ED A0..BF) and code points above U+10FFFF, and which
/// consumes a single byte on any error (Unicode 15, table 3-7).
std::size_t utf8_sequence_length(std::string_view s) {
  auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(s[i]); };
  auto cont = [&](std::size_t i) { return i < s.size() && (byte(i) & 0xc0) == 0x80; };
  auto b0 = byte(0);
  if (b0 >= 0xc2 && b0 <= 0xdf)
    return cont(1) ? 2 : 0;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    if (s.size() < 2)
      return 0;
    auto lo = b0 == 0xe0 ? 0xa0 : 0x80;
    auto hi = b0 == 0xed ? 0x9f : 0xbf;
    if (byte(1) < lo || byte(1) > hi)
      return 0;
    return cont(2) ? 3 : 0;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    if (s.size() < 2)
      return 0;
    auto lo = b0 == 0xf0 ? 0x90 : 0x80;
    auto hi = b0 == 0xf4 ? 0x8f : 0xbf;
    if (byte(1) < lo || byte(1) > hi)
      return 0;
    return cont(2) && cont(3) ? 4 : 0;
  }
  return 0; // 0x80..0xc1 and 0xf5..0xff never begin a sequence
}

/// Go's htmlSafeSet: printable ASCII except `"`, `\`, `<`, `>` and `&`.
bool html_safe(std::uint8_t b) {
  return b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&';
}

template <class Range>
std::string encode_sorted(const Range& sorted_unique) {
  std::string out = "{";
  bool first = true;
  for (const auto& [key, value] : sorted_unique) {
    if (!first)
      out += ',';
    first = false;
    append_json_string(out, key);
    out += ':';
    append_json_string(out, value);
  }
  out += '}';
  return out;
}

} // namespace

// Go encoding/json encodeState.string with escapeHTML = true, as of Go 1.21, which is
// what antrea-proxy-semantics.md 4 describes.
// TODO: newer Go short-escapes \b and \f (Go 1.22 release notes), and later sources
// append the replacement character as raw UTF-8 rather than `\ufffd`; pin these two
// rules to the Go that builds the Antrea release we interoperate with.
void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  std::size_t start = 0;
  std::size_t i = 0;
  auto flush = [&] { out.append(s.data() + start, i - start); };
  while (i < s.size()) {
    auto b = static_cast<std::uint8_t>(s[i]);
    if (b < 0x80) {
      if (html_safe(b)) {
        ++i;
        continue;
      }
      flush();
      out += '\\';
      switch (b) {
      case '"':
      case '\\':
        out += static_cast<char>(b);
        break;
      case '\n':
        out += 'n';
        break;
      case '\r':
        out += 'r';
        break;
      case '\t':
        out += 't';
        break;
      default: // other controls, and < > &
        out += "u00";
        out += hex_digits[b >> 4];
        out += hex_digits[b & 0xf];
      }
      start = ++i;
      continue;
    }
    auto n = utf8_sequence_length(s.substr(i));
    if (n == 0) {
      flush();
      out += "\\ufffd";
      start = ++i;
      continue;
    }
    // U+2028 is E2 80 A8 and U+2029 is E2 80 A9: line terminators in JavaScript.
    if (n == 3 && b == 0xe2 && static_cast<std::uint8_t>(s[i + 1]) == 0x80 &&
        (static_cast<std::uint8_t>(s[i + 2]) & 0xfe) == 0xa8) {
      flush();
      out += "\\u202";
      out += hex_digits[static_cast<std::uint8_t>(s[i + 2]) & 0xf];
      i += n;
      start = i;
      continue;
    }
    i += n;
  }
  flush();
  out += '"';
}

std::string encode_labels_json(const std::map<std::string, std::string>& labels) {
  return encode_sorted(labels);
}

std::string encode_labels_json(const label_list& labels) {
  // Sort pointers, not pairs: stable so that, among equal keys, the last given is last.
  std::vector<const std::pair<std::string, std::string>*> sorted;
  sorted.reserve(labels.size());
  for (const auto& l : labels)
    sorted.push_back(&l);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto* a, const auto* b) { return a->first < b->first; });
  // Keep the last of each run of equal keys (a Go map holds one value per key).
  std::vector<std::pair<std::string_view, std::string_view>> unique;
  unique.reserve(sorted.size());
  for (std::size_t k = 0; k < sorted.size(); ++k)
    if (k + 1 == sorted.size() || sorted[k + 1]->first != sorted[k]->first)
      unique.emplace_back(sorted[k]->first, sorted[k]->second);
  return encode_sorted(unique);
}

} // namespace fa::labels
