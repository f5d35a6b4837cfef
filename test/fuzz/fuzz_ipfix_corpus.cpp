// Writes the seed corpus of fuzz_ipfix_message (test/fuzz/fuzz_seeds.hpp).
// Usage: fuzz_ipfix_corpus DIR

#include "test/fuzz/fuzz_seeds.hpp"

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  return fa::test::write_seeds(argv[1], fa::test::codec_seeds());
}
