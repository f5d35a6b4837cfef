#include "config/units.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace std::chrono_literals;
using fa::config::duration;
using fa::config::format_duration;
using fa::config::format_size;
using fa::config::parse_duration;
using fa::config::parse_size;

namespace {

TEST(units, durations_with_every_unit) {
  EXPECT_EQ(parse_duration("100ns"), duration{100ns});
  EXPECT_EQ(parse_duration("250us"), duration{250us});
  EXPECT_EQ(parse_duration("10ms"), duration{10ms});
  EXPECT_EQ(parse_duration("2s"), duration{2s});
  EXPECT_EQ(parse_duration("5m"), duration{5min});
  EXPECT_EQ(parse_duration("1h"), duration{1h});
  EXPECT_EQ(parse_duration("1800s"), duration{30min});
  EXPECT_EQ(parse_duration("0s"), duration{0s});
}

TEST(units, durations_compound_and_fractional) {
  EXPECT_EQ(parse_duration("1h30m"), duration{90min});
  EXPECT_EQ(parse_duration("1m30s500ms"), duration{90500ms});
  EXPECT_EQ(parse_duration("1.5s"), duration{1500ms});
  EXPECT_EQ(parse_duration("0.25ms"), duration{250us});
  EXPECT_EQ(parse_duration("2.000000001s"), duration{2s + 1ns});
}

TEST(units, invalid_durations) {
  for (const char* text :
       {"", "10", "ms", "10 ms", " 10ms", "-1s", "+1s", "1d", "1w", "1.s", ".5s", "1msx", "10MS",
        "1e3ms", "3000000h", "99999999999999999999h", "1h ", "1,5s"})
    EXPECT_EQ(parse_duration(text), std::nullopt) << '"' << text << '"';
}

TEST(units, durations_format_in_the_largest_exact_unit) {
  EXPECT_EQ(format_duration(0s), "0s");
  EXPECT_EQ(format_duration(10ms), "10ms");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(format_duration(90s), "90s");
  EXPECT_EQ(format_duration(1800s), "30m");
  EXPECT_EQ(format_duration(2h), "2h");
  EXPECT_EQ(format_duration(250us), "250us");
  EXPECT_EQ(format_duration(7ns), "7ns");
}

TEST(units, durations_round_trip) {
  for (duration x : {duration{1ns}, duration{999us}, duration{61s}, duration{25h}, duration{0s}})
    EXPECT_EQ(parse_duration(format_duration(x)), x);
}

TEST(units, sizes) {
  EXPECT_EQ(parse_size("64MiB"), 64u << 20);
  EXPECT_EQ(parse_size("1KiB"), 1024u);
  EXPECT_EQ(parse_size("2GiB"), 2ull << 30);
  EXPECT_EQ(parse_size("1TiB"), 1ull << 40);
  EXPECT_EQ(parse_size("1MB"), 1'000'000u);
  EXPECT_EQ(parse_size("1kB"), 1'000u);
  EXPECT_EQ(parse_size("3KB"), 3'000u);
  EXPECT_EQ(parse_size("1GB"), 1'000'000'000u);
  EXPECT_EQ(parse_size("512B"), 512u);
  EXPECT_EQ(parse_size("65536"), 65536u);
  EXPECT_EQ(parse_size("4 MiB"), 4u << 20);
  EXPECT_EQ(parse_size("0"), 0u);
}

TEST(units, invalid_sizes) {
  for (const char* text : {"", "MiB", "1.5MiB", "64mib", "64M", "-1", "1XB", "1  MiB", " 1",
                           "1MiB ", "99999999999TiB", "99999999999999999999"})
    EXPECT_EQ(parse_size(text), std::nullopt) << '"' << text << '"';
}

TEST(units, sizes_format_in_binary_units_or_bytes) {
  EXPECT_EQ(format_size(64u << 20), "64MiB");
  EXPECT_EQ(format_size(4u << 20), "4MiB");
  EXPECT_EQ(format_size(1024), "1KiB");
  EXPECT_EQ(format_size(1536), "1536");
  EXPECT_EQ(format_size(65535), "65535");
  EXPECT_EQ(format_size(1'000'000), "1000000");
  EXPECT_EQ(format_size(0), "0");
  EXPECT_EQ(format_size(3ull << 40), "3TiB");
}

} // namespace
