#include "sinks/clickhouse_rows.hpp"

#include "base/json_string.hpp"
#include "ipfix/record_json.hpp"

#include <bit>
#include <charconv>
#include <cstring>

namespace fa::sinks {

namespace {

std::string_view type_name(column_type t) {
  switch (t) {
  case column_type::date_time:
    return "DateTime";
  case column_type::uint8:
    return "UInt8";
  case column_type::uint16:
    return "UInt16";
  case column_type::uint64:
    return "UInt64";
  case column_type::string:
    return "String";
  }
  return "String";
}

/// The JSONEachRow key of each insert column, with the separator before it:
/// `{"flowStartSeconds":`, `,"flowEndSeconds":`, ... Built once.
const std::vector<std::string>& json_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> out;
    for (auto c : clickhouse_columns())
      out.push_back((out.empty() ? "{\"" : ",\"") + std::string{info(c).name} + "\":");
    return out;
  }();
  return keys;
}

void put_le(std::string& out, std::uint64_t v, int octets) {
  char buf[8];
  for (int i = 0; i < octets; ++i)
    buf[i] = static_cast<char>(v >> (8 * i));
  out.append(buf, static_cast<std::size_t>(octets));
}

void put_leb128(std::string& out, std::uint64_t v) {
  do {
    auto b = static_cast<std::uint8_t>(v & 0x7f);
    v >>= 7;
    out.push_back(static_cast<char>(v != 0 ? b | 0x80 : b));
  } while (v != 0);
}

void put_leb128_string(std::string& out, std::string_view s) {
  put_leb128(out, s.size());
  out.append(s);
}

void append_row_binary(std::string& out, const flow_view& v) {
  for (auto c : clickhouse_columns()) {
    switch (info(c).type) {
    case column_type::date_time:
      put_le(out, v.number(c), 4);
      break;
    case column_type::uint8:
      put_le(out, v.number(c), 1);
      break;
    case column_type::uint16:
      put_le(out, v.number(c), 2);
      break;
    case column_type::uint64:
      put_le(out, v.number(c), 8);
      break;
    case column_type::string: {
      auto t = v.text(c);
      put_leb128(out, t.size());
      out.append(t);
      break;
    }
    }
  }
}

void append_json_row(std::string& out, const flow_view& v) {
  const auto& keys = json_keys();
  std::size_t i = 0;
  for (auto c : clickhouse_columns()) {
    out += keys[i++];
    if (info(c).type == column_type::string) {
      // Labels are JSON text inside a JSON string: escaped a second time (reference 4.4).
      base::append_json_string(out, v.text(c));
    } else {
      // DateTime as a bare integer of Unix seconds: no time zone involved (reference 4.4).
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof buf, v.number(c));
      out.append(buf, r.ptr);
    }
  }
  out += "}\n";
}

std::size_t width(column_type t) {
  switch (t) {
  case column_type::date_time:
    return 4;
  case column_type::uint8:
    return 1;
  case column_type::uint16:
    return 2;
  case column_type::uint64:
    return 8;
  case column_type::string:
    return 0;
  }
  return 0;
}

/// Writes the `n` low octets of `v`, little-endian.
char* put_le(char* p, std::uint64_t v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    p[i] = static_cast<char>(v >> (8 * i));
  return p + n;
}

char* put_leb128(char* p, std::uint64_t v) {
  do {
    auto b = static_cast<std::uint8_t>(v & 0x7f);
    v >>= 7;
    *p++ = static_cast<char>(v != 0 ? b | 0x80 : b);
  } while (v != 0);
  return p;
}

char* put_decimal(char* p, unsigned v) {
  if (v >= 100)
    *p++ = static_cast<char>('0' + v / 100);
  if (v >= 10)
    *p++ = static_cast<char>('0' + v / 10 % 10);
  *p++ = static_cast<char>('0' + v % 10);
  return p;
}

/// Writes the big-endian unsigned `T` at `q` little-endian, as RowBinary wants.
template <class T>
char* put_swapped(char* p, const std::uint8_t* q) {
  static_assert(std::endian::native == std::endian::little, "a little-endian host writes as is");
  T x;
  std::memcpy(&x, q, sizeof x);
  if constexpr (sizeof x == 8)
    x = __builtin_bswap64(x);
  else if constexpr (sizeof x == 4)
    x = __builtin_bswap32(x);
  else
    x = __builtin_bswap16(x);
  std::memcpy(p, &x, sizeof x);
  return p + sizeof x;
}

/// What a row may write past its end, then cut (`copy_text`).
constexpr std::size_t copy_slack = 64;

/// Copies the `n` octets at `src` (inside a record ending at `end`) to `p`. Most strings
/// are short (names, namespaces, labels): they go as one or two fixed 32-octet moves,
/// which the compiler inlines, instead of a call to memcpy that sizes them first. The
/// moves may read past the string but not past the record, and may write up to
/// `copy_slack` octets past the row, which the row then cuts off.
char* copy_text(char* p, const std::uint8_t* src, std::size_t n, const std::uint8_t* end) {
  const auto room = static_cast<std::size_t>(end - src);
  if (n <= 32 && room >= 32) {
    std::memcpy(p, src, 32);
  } else if (n <= 64 && room >= 64) {
    std::memcpy(p, src, 32);
    std::memcpy(p + 32, src + 32, 32);
  } else if (n != 0) {
    std::memcpy(p, src, n);
  }
  return p + n;
}

/// `type` has the binary form of `want` in RowBinary.
bool binary_compatible(std::string_view type, column_type want) {
  if (type.starts_with("LowCardinality(") && type.ends_with(")"))
    type = type.substr(15, type.size() - 16);
  if (type == type_name(want))
    return true;
  // DateTime('Europe/Berlin') is the same UInt32 (not DateTime64).
  return want == column_type::date_time && type.starts_with("DateTime(");
}

} // namespace

row_binary_program::row_binary_program(const flow_plan& plan, std::string_view cluster_uuid) {
  auto literal = [&](std::string_view octets) {
    if (!steps_.empty() && steps_.back().what == op::literal) {
      steps_.back().length += static_cast<std::uint32_t>(octets.size());
    } else {
      step st;
      st.offset = static_cast<std::uint32_t>(literals_.size());
      st.length = static_cast<std::uint32_t>(octets.size());
      steps_.push_back(st);
    }
    literals_ += octets;
    bound_ += octets.size();
  };
  for (auto c : clickhouse_columns()) {
    const auto& src = plan.at(c);
    auto type = info(c).type;
    if (c == column::cluster_uuid) {
      std::string octets;
      put_leb128_string(octets, cluster_uuid);
      literal(octets);
      continue;
    }
    if (src.how == flow_plan::read::absent) {
      // A number 0, or an empty string (its length 0).
      literal(std::string(type == column_type::string ? 1 : width(type), '\0'));
      continue;
    }
    step st;
    st.type = type;
    st.col = c;
    st.src = src;
    switch (src.how) {
    case flow_plan::read::text:
      st.what = op::text;
      bound_ += 3; // LEB128 of a length below 65536
      break;
    case flow_plan::read::address:
      st.what = op::address;
      st.zero_empty = c == column::destination_cluster_ip;
      bound_ += 1 + 64;
      break;
    case flow_plan::read::address_text:
      st.what = op::address_text;
      bound_ += 1 + 64;
      break;
    default:
      st.what = op::number;
      if (src.how == flow_plan::read::uint && src.length == width(type))
        st.what = src.length == 1   ? op::swap1
                  : src.length == 2 ? op::swap2
                  : src.length == 4 ? op::swap4
                                    : op::swap8;
      bound_ += width(type);
      break;
    }
    // 64-bit counters lie side by side in both the record and the row (Antrea's four
    // counters and their four reverses): one step swaps them all.
    if (st.what == op::swap8 && !steps_.empty()) {
      auto& prev = steps_.back();
      if (prev.what == op::swap8 && !src.variable && prev.src.var == src.var &&
          prev.src.offset + 8 * prev.length == src.offset) {
        ++prev.length;
        continue;
      }
    }
    if (st.what == op::swap8)
      st.length = 1;
    steps_.push_back(st);
  }
}

void row_binary_program::append(std::string& out, const flow_view& v) const {
  const auto old = out.size();
  // One growth per row: every string's content lies in the record.
  out.resize(old + room(v));
  out.resize(static_cast<std::size_t>(write(out.data() + old, v) - out.data()));
}

char* row_binary_program::write(char* p, const flow_view& v) const {
  static_assert(copy_slack == 64, "room() counts it");
  const auto* end = v.record().data() + v.record().size();
  for (const auto& st : steps_) {
    switch (st.what) {
    case op::literal:
      std::memcpy(p, literals_.data() + st.offset, st.length);
      p += st.length;
      break;
    case op::swap1:
      *p++ = static_cast<char>(v.value(st.src)[0]);
      break;
    case op::swap2:
      p = put_swapped<std::uint16_t>(p, v.value(st.src).data());
      break;
    case op::swap4:
      p = put_swapped<std::uint32_t>(p, v.value(st.src).data());
      break;
    case op::swap8: {
      const auto* q = v.value(st.src).data();
      for (std::uint32_t i = 0; i < st.length; ++i)
        p = put_swapped<std::uint64_t>(p, q + 8 * i);
      break;
    }
    case op::number:
      p = put_le(p, truncate(st.type, convert(st.src.how, v.value(st.src))), width(st.type));
      break;
    case op::text: {
      auto t = v.value(st.src);
      p = put_leb128(p, t.size());
      p = copy_text(p, t.data(), t.size(), end);
      break;
    }
    case op::address: {
      auto a = v.value(st.src);
      if (a.size() == 4) {
        // The common case, without the general printer: dotted IPv4.
        if (st.zero_empty && (a[0] | a[1] | a[2] | a[3]) == 0) {
          *p++ = 0; // no Service (reference 2.2, column 25)
          break;
        }
        char* len = p++;
        char* start = p;
        for (int i = 0; i < 4; ++i) {
          if (i != 0)
            *p++ = '.';
          p = put_decimal(p, a[i]);
        }
        *len = static_cast<char>(p - start);
        break;
      }
      [[fallthrough]];
    }
    case op::address_text: {
      auto t = v.text(st.col);
      p = put_leb128(p, t.size());
      if (!t.empty()) // "" may have no data (memcpy from null is undefined)
        std::memcpy(p, t.data(), t.size());
      p += t.size();
      break;
    }
    }
  }
  return p;
}

std::string_view to_string(clickhouse_format f) {
  return f == clickhouse_format::row_binary ? "RowBinary" : "JSONEachRow";
}

std::string insert_statement(std::string_view table, clickhouse_format f) {
  std::string q = "INSERT INTO ";
  q += table;
  q += " (";
  bool first = true;
  for (auto c : clickhouse_columns()) {
    if (!first)
      q += ", ";
    first = false;
    q += info(c).name;
  }
  q += ") FORMAT ";
  q += to_string(f);
  return q;
}

std::string create_table_statement(std::string_view database, std::string_view table) {
  std::string q = "CREATE TABLE IF NOT EXISTS ";
  q += database;
  q += '.';
  q += table;
  q += "\n(\n    timeInserted DateTime DEFAULT now(),\n";
  for (auto c : clickhouse_columns()) {
    q += "    ";
    q += info(c).name;
    q += ' ';
    q += type_name(info(c).type);
    q += ",\n";
    // Theia's and Antrea's e2e tables keep `trusted` after clusterUUID (reference 2.5).
    if (c == column::cluster_uuid)
      q += "    trusted UInt8 DEFAULT 0,\n";
  }
  q.erase(q.size() - 2, 1); // the last comma
  // One node, no TTL (19.6+) or SETTINGS changes (19.14+); partitions by day so that
  // retention can be DROP PARTITION (reference 4.3).
  q += ")\nENGINE = MergeTree()\nPARTITION BY toYYYYMMDD(timeInserted)\n"
       "ORDER BY (timeInserted, flowEndSeconds)\n";
  return q;
}

bool plain_identifier(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9'))
    return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  return true;
}

void append_row(std::string& out, const flow_view& v, clickhouse_format f) {
  if (f == clickhouse_format::row_binary)
    append_row_binary(out, v);
  else
    append_json_row(out, v);
}

std::optional<std::string>
check_column_types(const std::vector<std::pair<std::string, std::string>>& table_columns) {
  std::string diff;
  for (auto c : clickhouse_columns()) {
    for (const auto& [name, type] : table_columns) {
      if (name != info(c).name || binary_compatible(type, info(c).type))
        continue;
      if (!diff.empty())
        diff += "; ";
      diff += name + " is " + type + ", expected " + std::string{type_name(info(c).type)};
    }
  }
  if (diff.empty())
    return std::nullopt;
  return diff;
}

} // namespace fa::sinks
