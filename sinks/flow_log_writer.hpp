#pragma once

// The flow-log destination's work on its own thread: the batch's records that pass the
// filters, as Antrea's CSV lines, appended to the rotating file in one write (per
// rotation). After a failed write only the lines that did not go in are written again,
// so no line is lost or doubled.

#include "sinks/batch_backend.hpp"
#include "sinks/flow_log_line.hpp"
#include "sinks/rotating_file.hpp"
#include "sinks/template_cache.hpp"

#include <optional>
#include <string>
#include <vector>

namespace fa::sinks {

struct flow_log_options {
  rotating_file_options file;
  bool pretty_print = true;
  std::vector<flow_log_filter> filters;
};

class flow_log_writer final : public batch_backend {
 public:
  explicit flow_log_writer(flow_log_options o);

  /// Opens the file: call once before the destination starts; the error (a read-only
  /// directory, say) is a start-up error.
  std::optional<std::string> prepare() { return file_.open(); }

  write_report write(std::span<const payload_ptr> batch, bool again) override;
  std::span<const std::string_view> failure_reasons() const override;

 private:
  flow_log_options opt_;
  rotating_file file_;
  template_cache<flow_plan> plans_;
  flow_view view_;
  std::string lines_;
  std::size_t done_ = 0; ///< octets of `lines_` already in the file
  std::uint64_t rows_ = 0, skipped_ = 0;
};

} // namespace fa::sinks
