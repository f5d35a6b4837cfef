#include "sinks/clickhouse_writer.hpp"

#include <algorithm>
#include <cstring>
#include <sstream>

namespace fa::sinks {

clickhouse_writer::clickhouse_writer(clickhouse_writer_options o)
    : opt_(std::move(o))
    , client_(opt_.endpoint)
    , statement_(insert_statement(opt_.table, opt_.format))
    , view_(opt_.cluster_uuid) {}

std::optional<std::string> clickhouse_writer::prepare() {
  return client_.load_password();
}

std::uint64_t clickhouse_writer::format_set(const messages::enriched_payload& p,
                                            const messages::enriched_set& s, std::string& out,
                                            std::size_t& used) {
  auto make = [&](const ipfix::template_def& def) {
    plan pl{flow_plan{def}, std::nullopt};
    if (opt_.format == clickhouse_format::row_binary)
      pl.row_binary.emplace(pl.columns, opt_.cluster_uuid);
    return pl;
  };
  const auto& pl = plans_.get(s.tmpl, make);
  ipfix::bytes_view body{p.bytes.data() + s.offset, s.length};
  const auto varlen = p.varlen_of(s, pl.columns.layout().num_varlen());
  if (!pl.row_binary) {
    out.resize(used);
    auto n = view_.for_each(
        pl.columns, body, [&](const flow_view& v) { append_row(out, v, opt_.format); }, varlen);
    used = out.size();
    return n;
  }
  return view_.for_each(
      pl.columns, body,
      [&](const flow_view& v) {
        if (out.size() - used < pl.row_binary->room(v))
          out.resize(std::max(2 * out.size(), used + pl.row_binary->room(v)));
        used = static_cast<std::size_t>(pl.row_binary->write(out.data() + used, v) - out.data());
      },
      varlen);
}

std::uint64_t clickhouse_writer::format_rows(std::span<const payload_ptr> batch, std::string& out) {
  std::uint64_t n = 0;
  std::size_t used = out.size();
  for (const auto& p : batch)
    for (const auto& s : p->sets)
      n += format_set(*p, s, out, used);
  out.resize(used);
  return n;
}

std::optional<write_report> clickhouse_writer::check_types() {
  if (opt_.format != clickhouse_format::row_binary || types_checked_)
    return std::nullopt;
  auto r = client_.query("SELECT name, type FROM system.columns WHERE database = '" +
                         opt_.endpoint.database + "' AND table = '" + opt_.table +
                         "' FORMAT TabSeparated");
  if (r.outcome != request_outcome::ok) {
    write_report w;
    w.outcome =
        r.outcome == request_outcome::rejected ? write_outcome::rejected : write_outcome::retry;
    w.reason = r.reason;
    w.detail = r.detail;
    return w;
  }
  std::vector<std::pair<std::string, std::string>> columns;
  std::istringstream in{r.body};
  std::string line;
  while (std::getline(in, line)) {
    auto tab = line.find('\t');
    if (tab != std::string::npos)
      columns.emplace_back(line.substr(0, tab), line.substr(tab + 1));
  }
  // No columns: the table does not exist; the insert says so in the server's words.
  if (auto diff = check_column_types(columns)) {
    write_report w;
    w.outcome = write_outcome::rejected;
    w.reason = "schema";
    w.detail = "table " + opt_.endpoint.database + "." + opt_.table +
               " does not fit RowBinary inserts: " + *diff +
               " (change the table, or use format = \"JSONEachRow\")";
    return w;
  }
  types_checked_ = true;
  return std::nullopt;
}

write_report clickhouse_writer::write(std::span<const payload_ptr> batch, bool again) {
  if (opt_.gzip && !again) {
    rows_.clear();
    batch_rows_ = format_rows(batch, rows_);
    gzip_.compress(rows_, wire_);
  }
  // After an authentication failure the password file is read again before the next
  // attempt: a rotated Secret resumes the flow without a restart.
  if (reload_password_) {
    reload_password_ = false;
    client_.load_password();
  }
  if (auto failed = check_types()) {
    reload_password_ = failed->reason == "auth";
    return *failed;
  }
  // Uncompressed, each set's rows are written when libcurl asks for more of the body,
  // into a buffer that stays in the cache, instead of a whole batch's (tens of MB) that
  // libcurl would then copy out of memory again. A retry writes the same rows again.
  std::uint64_t sent = 0;
  auto streamed = [&] {
    batch_rows_ = 0;
    std::size_t payload = 0, set = 0, at = 0, used = 0;
    const clickhouse_client::body_reader read = [&](char* out, std::size_t max) {
      while (at == used) {
        while (payload < batch.size() && set == batch[payload]->sets.size()) {
          ++payload;
          set = 0;
        }
        if (payload == batch.size())
          return std::size_t{0};
        at = used = 0;
        batch_rows_ += format_set(*batch[payload], batch[payload]->sets[set++], rows_, used);
      }
      const auto n = std::min(max, used - at);
      std::memcpy(out, rows_.data() + at, n);
      at += n;
      sent += n;
      return n;
    };
    return client_.insert(statement_, read);
  };
  auto r = opt_.gzip ? client_.insert(statement_, wire_, true) : streamed();
  if (opt_.gzip)
    sent = wire_.size();
  write_report w;
  w.reason = r.reason;
  w.detail = r.detail;
  switch (r.outcome) {
  case request_outcome::ok:
    w.outcome = write_outcome::ok;
    w.rows = batch_rows_;
    w.bytes = sent;
    break;
  case request_outcome::rejected:
    w.outcome = write_outcome::rejected;
    types_checked_ = false; // the table may have changed
    break;
  case request_outcome::transient:
    w.outcome = write_outcome::retry;
    // After an outage the table may be another one (dropped and created again).
    types_checked_ = false;
    reload_password_ = r.reason == "auth";
    break;
  }
  return w;
}

} // namespace fa::sinks
