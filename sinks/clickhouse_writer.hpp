#pragma once

// The ClickHouse destination's work on its own thread: one batch -> one INSERT of all
// its rows (antrea-clickhouse-export.md 3, 4.4), retried with the very same bytes after
// an outage. Uncompressed, the rows are written a set at a time while the body is sent
// (and written again for a retry); gzipped, the whole body is compressed first. With RowBinary the
// table's column types are checked (system.columns) before the first insert and after every
// failure, since RowBinary carries no names or types to catch a mismatch.

#include "sinks/batch_backend.hpp"
#include "sinks/clickhouse_client.hpp"
#include "sinks/clickhouse_rows.hpp"
#include "sinks/gzip.hpp"
#include "sinks/template_cache.hpp"

#include <optional>
#include <string>

namespace fa::sinks {

struct clickhouse_writer_options {
  clickhouse_endpoint endpoint;
  std::string table = "flows";
  clickhouse_format format = clickhouse_format::row_binary;
  bool gzip = false;
  std::string cluster_uuid; ///< the clusterUUID column
};

class clickhouse_writer final : public batch_backend {
 public:
  explicit clickhouse_writer(clickhouse_writer_options o);

  /// Reads the password file: call once before the destination starts (a config error).
  std::optional<std::string> prepare();

  write_report write(std::span<const payload_ptr> batch, bool again) override;
  void cancel() override { client_.cancel(); }
  std::span<const std::string_view> failure_reasons() const override {
    return clickhouse_failure_reasons();
  }

  /// The rows of `batch` as the body of one insert (not compressed); for tests and the
  /// benchmark. Returns the number of rows.
  std::uint64_t format_rows(std::span<const payload_ptr> batch, std::string& out);

 private:
  /// Writes the rows of one set of `p` into `out` from `used` on, `used` then their end
  /// (`out` may be longer: it only grows, so that rows are not zero-filled first);
  /// returns their number.
  std::uint64_t format_set(const messages::enriched_payload& p, const messages::enriched_set& s,
                           std::string& out, std::size_t& used);

  /// RowBinary: the table's column types against ours; a report when they differ or
  /// the check could not run, nullopt when the insert may go ahead.
  std::optional<write_report> check_types();

  clickhouse_writer_options opt_;
  clickhouse_client client_;
  std::string statement_;
  /// What a template's records need: where the columns are, and their RowBinary steps.
  struct plan {
    flow_plan columns;
    std::optional<row_binary_program> row_binary;
  };
  template_cache<plan> plans_;
  flow_view view_;
  gzip_compressor gzip_;
  std::string rows_; ///< the batch's rows (gzip), or one set's (streamed), up to `used`
  std::string wire_; ///< what is sent: `rows_` gzipped, kept for a retry
  std::uint64_t batch_rows_ = 0;
  bool types_checked_ = false;
  bool reload_password_ = false;
};

} // namespace fa::sinks
