// Writes the seed corpus of fuzz_session_path: what exporters send, each behind an
// options byte (see fuzz_session_path.cpp): the load generator's Antrea agent and
// minimal records (tools/common/loadgen_content.hpp), softflowd 1.1.0's own messages captured
// over UDP and TCP (test/fuzz/captures/, made by capture_softflowd.py), and the codec's
// seeds (fuzz_seeds.hpp).
// Usage: fuzz_session_corpus DIR CAPTURES_DIR

#include "test/fuzz/fuzz_seeds.hpp"

#include "ipfix/message_builder.hpp"
#include "tools/common/loadgen_content.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace {

using namespace fa;
using tools::template_kind;

constexpr std::uint32_t odid = 801257890; // the load generator's ODID of "kind-worker"
constexpr std::uint64_t content_seed = 7;

/// Options (fuzz_session_path.cpp): TCP with labels and names filled; UDP in and out with
/// labels; TCP into small UDP messages with names filled and no provenance; an IPv6
/// exporter with labels for foreign records too.
constexpr std::uint8_t option_sets[] = {0x0c, 0x07, 0x9a, 0x64};

/// Two messages of `kinds`' templates (ids 256, 257, ...): the templates and five records
/// of each, then five more of each; sequence numbers as RFC 7011 3.1 counts them.
std::vector<std::uint8_t> loadgen_stream(std::initializer_list<template_kind> kinds) {
  std::vector<std::uint8_t> out;
  ipfix::message_builder b(out);
  std::uint64_t index = 0;
  std::uint32_t sequence = 0;
  for (int m = 0; m < 2; ++m) {
    b.begin_message(1'700'000'000 + m, sequence, odid);
    if (m == 0) {
      b.begin_set(ipfix::template_set_id);
      std::uint16_t id = 256;
      for (auto k : kinds)
        b.add_template(tools::make_template(k, id++));
    }
    std::uint16_t id = 256;
    for (auto k : kinds) {
      b.begin_set(id++);
      for (int r = 0; r < 5; ++r) {
        std::vector<std::uint8_t> rec;
        tools::append_record(k, content_seed, odid, index++, rec);
        b.put_bytes(rec);
        ++sequence;
      }
    }
    b.end_message();
  }
  return out;
}

std::vector<std::uint8_t> with_options(std::uint8_t options, const std::vector<std::uint8_t>& s) {
  std::vector<std::uint8_t> out{options};
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DIR CAPTURES_DIR\n", argv[0]);
    return 2;
  }
  std::vector<test::fuzz_seed> streams{
      {"loadgen-antrea-v4", loadgen_stream({template_kind::antrea_v4})},
      {"loadgen-antrea-v6", loadgen_stream({template_kind::antrea_v6})},
      {"loadgen-minimal", loadgen_stream({template_kind::minimal})},
      {"loadgen-all", loadgen_stream({template_kind::antrea_v4, template_kind::antrea_v6,
                                      template_kind::minimal})}};
  for (const auto& name : {"softflowd-udp.ipfix", "softflowd-tcp.ipfix"}) {
    std::ifstream in{std::filesystem::path{argv[2]} / name, std::ios::binary};
    std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>{in}, {}};
    if (bytes.empty()) {
      std::fprintf(stderr, "cannot read %s/%s\n", argv[2], name);
      return 1;
    }
    streams.push_back({name, std::move(bytes)});
  }
  std::vector<test::fuzz_seed> seeds;
  for (auto options : option_sets)
    for (const auto& s : streams)
      seeds.push_back({s.name + "-" + std::to_string(options), with_options(options, s.data)});
  // The codec's seeds cover the odd corners (padding, withdrawals, redefinitions); two
  // option sets each keep the corpus small.
  for (const auto& s : test::codec_seeds())
    for (auto options : {option_sets[0], option_sets[1]})
      seeds.push_back(
          {"codec-" + s.name + "-" + std::to_string(options), with_options(options, s.data)});
  return test::write_seeds(argv[1], seeds);
}
