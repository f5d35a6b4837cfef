#include "sinks/flow_log_writer.hpp"

#include <array>

namespace fa::sinks {

namespace {

using namespace std::string_view_literals;

/// write: the file could not be written or rotated; compress: a rotated file could not
/// be gzipped or pruned (nothing lost; reported as a warning).
constexpr std::array failure_reasons_{"write"sv, "compress"sv};

} // namespace

flow_log_writer::flow_log_writer(flow_log_options o)
    : opt_(std::move(o))
    , file_(opt_.file) {}

std::span<const std::string_view> flow_log_writer::failure_reasons() const {
  return failure_reasons_;
}

write_report flow_log_writer::write(std::span<const payload_ptr> batch, bool again) {
  if (!again) {
    lines_.clear();
    done_ = 0;
    rows_ = skipped_ = 0;
    for (const auto& p : batch) {
      for (const auto& s : p->sets) {
        const auto& plan = plans_.get(s.tmpl, [](const auto& def) { return flow_plan{def}; });
        auto line = [&](const flow_view& v) {
          auto in = static_cast<std::uint8_t>(v.number(column::ingress_network_policy_rule_action));
          auto eg = static_cast<std::uint8_t>(v.number(column::egress_network_policy_rule_action));
          if (!passes(opt_.filters, in, eg)) {
            ++skipped_;
            return;
          }
          append_flow_log_line(lines_, v, opt_.pretty_print);
          ++rows_;
        };
        view_.for_each(plan, {p->bytes.data() + s.offset, s.length}, line,
                       p->varlen_of(s, plan.layout().num_varlen()));
      }
    }
  }
  auto rotations = file_.rotations();
  auto r = file_.append(std::string_view{lines_}.substr(done_));
  done_ += r.written;
  write_report w;
  w.rotations = file_.rotations() - rotations;
  if (auto err = file_.take_background_error())
    w.warning = *err;
  if (r.error) {
    w.outcome = write_outcome::retry;
    w.reason = "write";
    w.detail = *r.error;
    return w;
  }
  w.rows = rows_;
  w.skipped = skipped_;
  w.bytes = lines_.size();
  return w;
}

} // namespace fa::sinks
