#include "monitoring/heap_trim.hpp"

#include <malloc.h>
#include <unistd.h>

#include <cstdio>

namespace fa::monitoring {

std::uint64_t resident_bytes() {
  // proc(5) statm: size resident shared text lib data dt, in pages.
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f)
    return 0;
  unsigned long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  if (n != 2)
    return 0;
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

std::uint64_t trim_heap() {
  const auto before = resident_bytes();
  malloc_trim(0);
  const auto after = resident_bytes();
  return before > after ? before - after : 0;
}

heap_trimmer::heap_trimmer(prometheus::Registry& registry,
                           heap_trim_schedule::clock::duration interval)
    : schedule_(interval, heap_trim_schedule::clock::now())
    , trims_(&prometheus::BuildCounter()
                  .Name("flow_aggregator_heap_trims_total")
                  .Help("Times the heap's free pages were handed back to the kernel "
                        "(runtime.memory_trim_interval)")
                  .Register(registry)
                  .Add({}))
    , trimmed_bytes_(&prometheus::BuildCounter()
                          .Name("flow_aggregator_heap_trimmed_bytes_total")
                          .Help("Resident octets the heap trims handed back to the kernel")
                          .Register(registry)
                          .Add({})) {}

void heap_trimmer::tick(heap_trim_schedule::clock::time_point now) {
  if (!schedule_.due(now))
    return;
  trimmed_bytes_->Increment(static_cast<double>(trim_heap()));
  trims_->Increment();
}

} // namespace fa::monitoring
