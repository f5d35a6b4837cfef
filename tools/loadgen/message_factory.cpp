#include "tools/loadgen/message_factory.hpp"

#include <ctime>

namespace fa::tools {

std::size_t write_content(const loadgen_config& cfg, std::uint32_t odid, std::uint64_t index,
                          std::uint8_t* dst) {
  if (cfg.pair_flows > 0)
    return write_pair_record(cfg.kind, {cfg.pair_flows, cfg.pair_base.value_or(cfg.odid_base)},
                             cfg.seed, odid, index, dst);
  return write_record(cfg.kind, cfg.seed, odid, index, dst);
}

std::uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

} // namespace fa::tools
