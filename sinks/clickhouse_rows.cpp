#include "sinks/clickhouse_rows.hpp"

#include "ipfix/record_json.hpp"

#include <charconv>

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
      ipfix::append_json_string(out, v.text(c));
    } else {
      // DateTime as a bare integer of Unix seconds: no time zone involved (reference 4.4).
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof buf, v.number(c));
      out.append(buf, r.ptr);
    }
  }
  out += "}\n";
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
