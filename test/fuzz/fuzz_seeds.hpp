#pragma once

// Seed inputs of the fuzz targets: varied valid IPFIX built with message_builder
// (templates, options templates, data with both variable-length forms, padding,
// withdrawals, several sets and messages), and the writer of a seed directory.

#include <cstdint>
#include <string>
#include <vector>

namespace fa::test {

struct fuzz_seed {
  std::string name;
  std::vector<std::uint8_t> data;
};

/// The codec's seeds: each one a stream of IPFIX messages.
std::vector<fuzz_seed> codec_seeds();

/// Writes each seed to DIR/NN-name; returns the exit code for main (1 = it could not).
int write_seeds(const std::string& dir, const std::vector<fuzz_seed>& seeds);

} // namespace fa::test
