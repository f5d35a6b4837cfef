#pragma once

// The `jsonl:` destination: one JSON object per data record, element names from the
// registry (config/default.toml uses it so a first run shows records). File writes
// block, so it runs detached, on its own thread (DESIGN 4).

#include "actors/interfaces.hpp"
#include "monitoring/metrics.hpp"

#include <cstdio>
#include <string>

namespace fa::actors {

struct jsonl_sink_config {
  std::string name;
  std::string path; ///< "stdout" or a file path (appended to)
  monitoring::metrics* metrics = nullptr;
};

struct jsonl_sink_state {
  jsonl_sink_state() = default;
  ~jsonl_sink_state();
  std::FILE* out = nullptr;
  bool owns_file = false;
  std::string line; ///< reused buffer
  messages::destination_status status;
  monitoring::destination_metrics metrics;
  static inline const char* name = "jsonl_sink";
};

destination_actor::behavior_type
jsonl_sink(destination_actor::stateful_pointer<jsonl_sink_state> self, jsonl_sink_config cfg);

} // namespace fa::actors
