#include "ipfix/record_json.hpp"

#include "base/json_string.hpp"
#include "ipfix/elements.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>

namespace fa::ipfix {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

template <class T>
void append_number(std::string& out, T v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

template <class T>
void append_float(std::string& out, T v) {
  // JSON has no NaN or infinity.
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  append_number(out, v); // shortest text that reads back as the same value
}

void append_hex(std::string& out, bytes_view v) {
  out += '"';
  for (auto b : v) {
    out += hex_digits[b >> 4];
    out += hex_digits[b & 0xf];
  }
  out += '"';
}

void append_ipv4(std::string& out, const std::uint8_t* p) {
  for (int i = 0; i < 4; ++i) {
    if (i != 0)
      out += '.';
    append_number(out, unsigned{p[i]});
  }
}

/// RFC 5952: lowercase, no leading zeros, the longest run (first on a tie) of two or more
/// zero groups as "::", and IPv4-mapped addresses (::ffff:0:0/96) in dotted form.
void append_ipv6_text(std::string& out, const std::uint8_t* p) {
  std::uint16_t g[8];
  for (int i = 0; i < 8; ++i)
    g[i] = read_u16(p + 2 * i);
  if (g[0] == 0 && g[1] == 0 && g[2] == 0 && g[3] == 0 && g[4] == 0 && g[5] == 0xffff) {
    out += "::ffff:";
    append_ipv4(out, p + 12);
    return;
  }
  int best = -1, best_len = 0;
  for (int i = 0; i < 8;) {
    if (g[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0)
      ++j;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  if (best_len < 2)
    best = -1;
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (i != 0 && i != best + best_len)
      out += ':';
    char buf[8];
    auto res = std::to_chars(buf, buf + sizeof buf, unsigned{g[i]}, 16);
    out.append(buf, res.ptr);
  }
}

void append_ipv6(std::string& out, const std::uint8_t* p) {
  out += '"';
  append_ipv6_text(out, p);
  out += '"';
}

void append_mac(std::string& out, const std::uint8_t* p) {
  out += '"';
  for (int i = 0; i < 6; ++i) {
    if (i != 0)
      out += ':';
    out += hex_digits[p[i] >> 4];
    out += hex_digits[p[i] & 0xf];
  }
  out += '"';
}

/// Days since 1970-01-01 to a civil date (proleptic Gregorian; H. Hinnant's algorithm).
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
}

void put_digits(char*& p, std::uint64_t v, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  p += width;
}

constexpr std::int64_t min_rfc3339_seconds = -62167219200; // 0000-01-01T00:00:00Z
constexpr std::int64_t max_rfc3339_seconds = 253402300799; // 9999-12-31T23:59:59Z

/// RFC 3339 UTC text with `digits` fractional digits; false when the year is not 0..9999.
bool append_time(std::string& out, std::int64_t seconds, std::uint64_t fraction, int digits) {
  if (seconds < min_rfc3339_seconds || seconds > max_rfc3339_seconds)
    return false;
  std::int64_t days = seconds / 86400;
  std::int64_t rest = seconds % 86400;
  if (rest < 0) {
    rest += 86400;
    --days;
  }
  std::int64_t year;
  unsigned month, day;
  civil_from_days(days, year, month, day);
  char buf[40];
  char* p = buf;
  *p++ = '"';
  put_digits(p, static_cast<std::uint64_t>(year), 4);
  *p++ = '-';
  put_digits(p, month, 2);
  *p++ = '-';
  put_digits(p, day, 2);
  *p++ = 'T';
  put_digits(p, static_cast<std::uint64_t>(rest / 3600), 2);
  *p++ = ':';
  put_digits(p, static_cast<std::uint64_t>(rest / 60 % 60), 2);
  *p++ = ':';
  put_digits(p, static_cast<std::uint64_t>(rest % 60), 2);
  if (digits > 0) {
    *p++ = '.';
    put_digits(p, fraction, digits);
  }
  *p++ = 'Z';
  *p++ = '"';
  out.append(buf, p);
  return true;
}

/// RFC 7011 6.1.9, 6.1.10: NTP format, seconds since 1900-01-01 and a 2^-32 fraction.
void append_ntp_time(std::string& out, std::uint64_t v, bool micro) {
  constexpr std::int64_t ntp_to_unix = 2208988800; // 1900-01-01 to 1970-01-01
  constexpr std::uint64_t half = std::uint64_t{1} << 31;
  std::int64_t seconds = static_cast<std::int64_t>(v >> 32) - ntp_to_unix;
  std::uint64_t fraction = v & 0xffffffffu;
  const std::uint64_t scale = micro ? 1'000'000 : 1'000'000'000;
  // RFC 7011 6.1.9: for microseconds the lowest 11 bits of the fraction are ignored.
  if (micro)
    fraction &= ~std::uint64_t{0x7ff};
  // Round to the nearest unit, so that a value encoded from whole units reads back as it.
  std::uint64_t units = (fraction * scale + half) >> 32;
  if (units == scale) {
    units = 0;
    ++seconds;
  }
  append_time(out, seconds, units, micro ? 6 : 9);
}

void append_value(std::string& out, const element_info* info, bytes_view v) {
  const std::size_t len = v.size();
  const auto* p = v.data();
  if (info == nullptr) {
    append_hex(out, v);
    return;
  }
  const bool integer_size = len >= 1 && len <= 8;
  switch (info->type) {
  case data_type::unsigned8:
  case data_type::unsigned16:
  case data_type::unsigned32:
  case data_type::unsigned64:
    if (!integer_size)
      break;
    append_number(out, read_uint(p, len)); // RFC 7011 6.2: reduced size is fine
    return;
  case data_type::signed8:
  case data_type::signed16:
  case data_type::signed32:
  case data_type::signed64: {
    if (!integer_size)
      break;
    std::uint64_t u = read_uint(p, len);
    // Sign-extend a reduced-size value (RFC 7011 6.2).
    if (len < 8 && (u >> (8 * len - 1)) != 0)
      u |= ~std::uint64_t{0} << (8 * len);
    append_number(out, static_cast<std::int64_t>(u));
    return;
  }
  case data_type::float32:
  case data_type::float64:
    if (len == 8) {
      append_float(out, std::bit_cast<double>(read_u64(p)));
      return;
    }
    if (len == 4) { // float32, or float64 in reduced size (RFC 7011 6.2)
      append_float(out, std::bit_cast<float>(read_u32(p)));
      return;
    }
    break;
  case data_type::boolean:
    if (len != 1)
      break;
    // RFC 7011 6.1.5: 1 is true, 2 is false.
    if (p[0] == 1)
      out += "true";
    else if (p[0] == 2)
      out += "false";
    else
      append_number(out, unsigned{p[0]});
    return;
  case data_type::mac_address:
    if (len != 6)
      break;
    append_mac(out, p);
    return;
  case data_type::ipv4_address:
    if (len != 4)
      break;
    out += '"';
    append_ipv4(out, p);
    out += '"';
    return;
  case data_type::ipv6_address:
    if (len != 16)
      break;
    append_ipv6(out, p);
    return;
  case data_type::string:
    base::append_json_string(out, std::string_view(reinterpret_cast<const char*>(p), len));
    return;
  case data_type::date_time_seconds: {
    if (!integer_size)
      break;
    const auto s = read_uint(p, len);
    if (s > max_rfc3339_seconds || !append_time(out, static_cast<std::int64_t>(s), 0, 0))
      append_number(out, s);
    return;
  }
  case data_type::date_time_milliseconds: {
    if (!integer_size)
      break;
    const auto ms = read_uint(p, len);
    if (ms / 1000 > max_rfc3339_seconds ||
        !append_time(out, static_cast<std::int64_t>(ms / 1000), ms % 1000, 3))
      append_number(out, ms);
    return;
  }
  case data_type::date_time_microseconds:
  case data_type::date_time_nanoseconds:
    if (len != 8)
      break;
    append_ntp_time(out, read_u64(p), info->type == data_type::date_time_microseconds);
    return;
  case data_type::octet_array:
  case data_type::basic_list:
  case data_type::sub_template_list:
  case data_type::sub_template_multi_list:
    break;
  }
  append_hex(out, v);
}

/// One `"name":value` member for field `i` of `record`, whose value is at `s`.
void append_member(std::string& out, const template_def& def, const record_layout& layout,
                   bytes_view record, std::size_t i, field_slice s) {
  const auto& f = def.fields[i];
  if (i != 0)
    out += ',';
  out += '"';
  append_element_name(out, f.enterprise, f.id);
  // The same element twice in one template: "name", "name#2", "name#3", ...
  const auto occurrence = layout.occurrence(i);
  if (occurrence > 1) {
    out += '#';
    append_number(out, unsigned{occurrence});
  }
  out += "\":";
  append_value(out, find_element(f.enterprise, f.id), record.subspan(s.offset, s.length));
}

} // namespace

void append_record_json(std::string& out, const template_def& def, const record_layout& layout,
                        bytes_view record) {
  out += '{';
  layout.for_each_field(record, [&](std::size_t i, field_slice s) {
    if (i < def.fields.size())
      append_member(out, def, layout, record, i, s);
  });
  out += '}';
}

void append_record_json(std::string& out, const template_def& def, const record_layout& layout,
                        bytes_view record, std::span<const field_slice> varlen) {
  out += '{';
  const std::size_t n = std::min(def.fields.size(), layout.num_fields());
  for (std::size_t i = 0; i < n; ++i)
    append_member(out, def, layout, record, i, layout.located(i, varlen));
  out += '}';
}

void append_address_text(std::string& out, bytes_view address) {
  if (address.size() == 4)
    append_ipv4(out, address.data());
  else if (address.size() == 16)
    append_ipv6_text(out, address.data());
}

} // namespace fa::ipfix
