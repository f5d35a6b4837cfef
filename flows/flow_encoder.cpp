#include "flows/flow_encoder.hpp"

#include "ipfix/wire.hpp"

#include <cstring>

namespace fa::flows {

namespace {

/// The value of aggregation element `id` (PEN 56506, reference d.1) of a flow.
std::uint64_t aggregation_value(const flow_state& st, std::uint16_t id) {
  if (id >= 120 && id <= 135) {
    const auto& side = id < 128 ? st.source : st.destination;
    return side.counters[(id - 120) % 8];
  }
  switch (id) {
  case 145:
    return st.throughput;
  case 146:
    return st.reverse_throughput;
  case 147:
    return st.source.throughput;
  case 148:
    return st.destination.throughput;
  case 149:
    return st.source.reverse_throughput;
  case 150:
    return st.destination.reverse_throughput;
  case 151:
    return st.source_end_seconds;
  case 152:
    return st.destination_end_seconds;
  default:
    return 0;
  }
}

} // namespace

flow_encoder::flow_encoder(std::size_t max_set_body)
    : max_body_(max_set_body) {}

std::uint8_t* flow_encoder::write(const flow_view& f, std::uint8_t* out) {
  std::size_t strings_at = 0;
  for (const auto& seg : f.layout->segments) {
    switch (seg.kind) {
    case aggregate_layout::segment::fixed:
      std::memcpy(out, f.fixed.data() + seg.offset, seg.count);
      out += seg.count;
      break;
    case aggregate_layout::segment::strings: {
      const auto rest = f.strings.subspan(strings_at);
      const std::size_t n = strings_length(rest, seg.count);
      if (n > 0)
        std::memcpy(out, rest.data(), n);
      out += n;
      strings_at += n;
      break;
    }
    case aggregate_layout::segment::tcp_state:
      out += ipfix::write_varlen_prefix(out, f.tcp_state.size());
      if (!f.tcp_state.empty())
        std::memcpy(out, f.tcp_state.data(), f.tcp_state.size());
      out += f.tcp_state.size();
      break;
    case aggregate_layout::segment::aggregation:
      // Each value goes where the template says its element is (never v2.4-v2.6's
      // order, reference f.3): the order comes from the list the template is built from.
      for (const auto& spec : aggregation_specs()) {
        const std::uint64_t v = aggregation_value(*f.state, spec.id);
        if (spec.length == 4) {
          ipfix::write_u32(out, static_cast<std::uint32_t>(v));
          out += 4;
        } else {
          ipfix::write_u64(out, v);
          out += 8;
        }
      }
      break;
    }
  }
  return out;
}

flow_encoder::stage& flow_encoder::stage_for(const aggregate_layout_ptr& layout) {
  if (last_ < stages_.size() && stages_[last_].layout == layout)
    return stages_[last_];
  std::size_t free_stage = stages_.size();
  for (std::size_t i = 0; i < stages_.size(); ++i) {
    if (stages_[i].layout == layout) {
      last_ = i;
      return stages_[i];
    }
    if (!stages_[i].layout && free_stage == stages_.size())
      free_stage = i;
  }
  if (free_stage == stages_.size())
    stages_.emplace_back();
  stages_[free_stage].layout = layout;
  last_ = free_stage;
  return stages_[free_stage];
}

void flow_encoder::add(const flow_view& f) {
  const std::size_t size = record_size(f);
  if (size > max_body_) {
    ++too_large_;
    return;
  }
  auto& s = stage_for(f.layout);
  if (s.bytes.size() - s.open_start + size > max_body_) {
    s.closed.push_back({nullptr, s.open_start,
                        static_cast<std::uint32_t>(s.bytes.size() - s.open_start), s.open_records});
    s.open_start = static_cast<std::uint32_t>(s.bytes.size());
    s.open_records = 0;
  }
  const std::size_t at = s.bytes.size();
  s.bytes.resize(at + size);
  write(f, s.bytes.data() + at);
  ++s.open_records;
  ++staged_;
  staged_bytes_ += size;
}

void flow_encoder::finish(base::byte_buffer& out, std::vector<encoded_set>& sets) {
  for (auto& s : stages_) {
    if (!s.layout)
      continue;
    if (s.open_records > 0)
      s.closed.push_back({nullptr, s.open_start,
                          static_cast<std::uint32_t>(s.bytes.size() - s.open_start),
                          s.open_records});
    const auto base = static_cast<std::uint32_t>(out.size());
    out.insert(out.end(), s.bytes.begin(), s.bytes.end());
    for (const auto& c : s.closed)
      sets.push_back({s.layout, base + c.offset, c.length, c.records});
    // The buffers stay for the next round; the layout is let go.
    s.bytes.clear();
    s.closed.clear();
    s.open_start = 0;
    s.open_records = 0;
    s.layout.reset();
  }
  staged_ = 0;
  staged_bytes_ = 0;
}

} // namespace fa::flows
