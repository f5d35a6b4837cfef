#pragma once

// Rows of Antrea's ClickHouse `flows` table (reference antrea-clickhouse-export.md 2, 4.4):
// the INSERT statement, one row per record in RowBinary or JSONEachRow, the CREATE TABLE
// that works on 18.16 (Debian 12) and on current servers, and the column type check
// RowBinary needs. Plain library: no HTTP here (sinks/clickhouse_client.hpp).

#include "sinks/flow_record.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fa::sinks {

/// The body format of an insert. Both exist in 18.16 (reference 4.2).
enum class clickhouse_format : std::uint8_t {
  /// Columns in list order, little-endian integers, DateTime as UInt32, String as a
  /// LEB128 length and the bytes. About a third of JSONEachRow's size and cheaper to
  /// write; the table's column types must match exactly (`check_column_types`).
  row_binary,
  /// One JSON object per row, keys = column names; the server converts values to the
  /// table's types.
  json_each_row,
};

std::string_view to_string(clickhouse_format f); ///< "RowBinary", "JSONEachRow"

/// `INSERT INTO table (51 columns) FORMAT f`, as Antrea inserts (reference 2.1);
/// `timeInserted` and `trusted` are left to their DEFAULTs.
std::string insert_statement(std::string_view table, clickhouse_format f);

/// `CREATE TABLE IF NOT EXISTS database.table (...)`: Antrea's e2e schema (Theia's columns
/// and types plus egressNodeName), one MergeTree with no TTL, so it runs on 18.16 and on
/// current servers (reference 4.3). `database` and `table` must be plain identifiers.
std::string create_table_statement(std::string_view database, std::string_view table);

/// True for a name that needs no quoting in ClickHouse SQL: [A-Za-z_][A-Za-z0-9_]*.
bool plain_identifier(std::string_view name);

/// Appends the row of `v`'s record: RowBinary octets, or one JSON object and "\n".
/// The simple form; `row_binary_program` writes the same RowBinary faster.
void append_row(std::string& out, const flow_view& v, clickhouse_format f);

/// RowBinary rows of one template, compiled once: the columns the template lacks (and
/// clusterUUID) become constant octets merged into runs, the others one step each, so
/// that a row costs a walk of the steps and one growth of the output.
class row_binary_program {
 public:
  row_binary_program(const flow_plan& plan, std::string_view cluster_uuid);

  /// Appends the row of `v`'s record (`v` bound to a record of this program's plan).
  void append(std::string& out, const flow_view& v) const;

  /// The octets `write` may touch for `v`'s row: its longest form, and what the string
  /// copies write past its end.
  std::size_t room(const flow_view& v) const { return bound_ + v.record().size() + 64; }

  /// Writes the row of `v`'s record at `p`, which has `room(v)` octets; returns its end.
  /// For a caller that keeps its buffer's size and so does not zero-fill it per row.
  char* write(char* p, const flow_view& v) const;

 private:
  /// `swap1`..`swap8`: an unsigned field as wide as its column (the usual case), its
  /// octets reversed, network order to little-endian (`swap8`: a run of adjacent ones);
  /// `number` converts any other.
  enum class op : std::uint8_t {
    literal,
    swap1,
    swap2,
    swap4,
    swap8,
    number,
    text,
    address,
    address_text
  };
  struct step {
    op what = op::literal;
    column_type type = column_type::string;
    column col = column::flow_start_seconds;
    flow_plan::source src;
    bool zero_empty = false;  ///< an all-zero address is "" (a cluster or Service IP)
    std::uint32_t offset = 0; ///< literal: into `literals_`
    std::uint32_t length = 0; ///< literal: octets; swap8: adjacent fields
  };
  std::vector<step> steps_;
  std::string literals_;
  std::size_t bound_ = 0; ///< octets a row takes at most, besides its strings' contents
};

/// RowBinary has no names and no conversions: every inserted column must exist with a
/// type whose binary form is the one we write (DateTime with or without a time zone,
/// LowCardinality(T) as T). Given the table's (name, type) pairs from system.columns,
/// returns what differs ("sourceTransportPort is UInt32, expected UInt16"), or nullopt.
/// Missing columns are not reported here: the server names them when the insert fails.
std::optional<std::string>
check_column_types(const std::vector<std::pair<std::string, std::string>>& table_columns);

} // namespace fa::sinks
