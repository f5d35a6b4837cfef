// monitoring/heap_trim: the schedule with time passed in, and that a trim really hands
// free heap pages back to the kernel. Built without sanitizers (test/monitoring/
// CMakeLists.txt): AddressSanitizer replaces malloc, and glibc's trim is what is tested.

#include "monitoring/heap_trim.hpp"

#include <gtest/gtest.h>
#include <malloc.h>
#include <prometheus/registry.h>

#include <cstring>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using fa::monitoring::heap_trim_schedule;

TEST(heap_trim_schedule, due_every_interval_and_never_at_zero) {
  const heap_trim_schedule::clock::time_point t0{};
  heap_trim_schedule s{10s, t0};
  EXPECT_FALSE(s.due(t0 + 9s));
  EXPECT_TRUE(s.due(t0 + 10s));
  EXPECT_FALSE(s.due(t0 + 19s)); // counts from the last trim
  EXPECT_TRUE(s.due(t0 + 21s));
  s.set_interval(0s);
  EXPECT_FALSE(s.due(t0 + 1h));
  s.set_interval(1s);
  EXPECT_TRUE(s.due(t0 + 1h));
}

/// What main does: chunks are cached on the heap rather than trimmed at each free.
void cache_like_main() {
  mallopt(M_MMAP_THRESHOLD, 16 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

/// Takes `total` octets in 64 KiB blocks on another thread (its own arena, as a CAF
/// worker's), each followed by a small block that stays taken, touches every page, and
/// frees the big ones here: free chunks between taken ones, as long-lived flow state
/// leaves them between freed payloads, which no free() hands back.
std::vector<void*> leave_free_pages_on_the_heap(std::size_t total) {
  std::vector<char*> blocks(total / (64 << 10));
  std::vector<void*> pins(blocks.size());
  std::thread{[&] {
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      blocks[i] = static_cast<char*>(std::malloc(64 << 10));
      std::memset(blocks[i], 1, 64 << 10);
      pins[i] = std::malloc(64);
    }
  }}.join();
  for (auto* b : blocks)
    std::free(b);
  return pins;
}

void free_all(const std::vector<void*>& pins) {
  for (auto* p : pins)
    std::free(p);
}

TEST(heap_trim, hands_free_pages_back_to_the_kernel) {
  cache_like_main();
  auto pins = leave_free_pages_on_the_heap(128 << 20);
  const auto before = fa::monitoring::resident_bytes();
  ASSERT_GT(before, 128u << 20) << "the freed blocks should still be resident";
  const auto returned = fa::monitoring::trim_heap();
  EXPECT_GT(returned, 100u << 20);
  EXPECT_LT(fa::monitoring::resident_bytes(), before - (100u << 20));
  free_all(pins);
}

TEST(heap_trimmer, trims_when_due_and_counts_what_it_returned) {
  cache_like_main();
  prometheus::Registry registry;
  fa::monitoring::heap_trimmer trimmer{registry, 1ms};
  auto pins = leave_free_pages_on_the_heap(64 << 20);
  std::this_thread::sleep_for(2ms); // the interval, not a synchronisation
  trimmer.tick(heap_trim_schedule::clock::now());
  double trims = -1, bytes = -1;
  for (const auto& f : registry.Collect()) {
    if (f.name == "flow_aggregator_heap_trims_total")
      trims = f.metric.at(0).counter.value;
    if (f.name == "flow_aggregator_heap_trimmed_bytes_total")
      bytes = f.metric.at(0).counter.value;
  }
  EXPECT_EQ(trims, 1);
  EXPECT_GT(bytes, 48 << 20);
  free_all(pins);
}

} // namespace
