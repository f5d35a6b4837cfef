// rpc/data_frame_merger: a stream's whole DATA frames merged in place, every other octet
// passed on, whatever the reads' boundaries. Frames are read back with a parser written
// here from RFC 9113 4.1, not the merger's.

#include "rpc/data_frame_merger.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fa::rpc {
namespace {

using octets = std::vector<std::uint8_t>;

constexpr std::uint8_t data_type = 0x0, headers_type = 0x1, ping_type = 0x6;
constexpr std::uint8_t end_stream = 0x1, padded = 0x8;

void frame(octets& out, std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
           const octets& payload) {
  const auto n = payload.size();
  out.insert(out.end(),
             {static_cast<std::uint8_t>(n >> 16), static_cast<std::uint8_t>(n >> 8),
              static_cast<std::uint8_t>(n), type, flags, static_cast<std::uint8_t>(stream >> 24),
              static_cast<std::uint8_t>(stream >> 16), static_cast<std::uint8_t>(stream >> 8),
              static_cast<std::uint8_t>(stream)});
  out.insert(out.end(), payload.begin(), payload.end());
}

octets payload(std::size_t n, std::uint8_t seed) {
  octets p(n);
  for (std::size_t i = 0; i < n; ++i)
    p[i] = static_cast<std::uint8_t>(seed + i * 7);
  return p;
}

struct parsed {
  std::uint8_t type, flags;
  std::uint32_t stream;
  octets payload;
};

std::vector<parsed> parse(const octets& in, std::size_t preface) {
  std::vector<parsed> out;
  for (std::size_t at = preface; at < in.size();) {
    EXPECT_GE(in.size() - at, 9u);
    const std::size_t n = std::size_t{in[at]} << 16 | std::size_t{in[at + 1]} << 8 | in[at + 2];
    parsed f{in[at + 3],
             in[at + 4],
             (std::uint32_t{in[at + 5]} & 0x7f) << 24 | std::uint32_t{in[at + 6]} << 16 |
                 std::uint32_t{in[at + 7]} << 8 | in[at + 8],
             {}};
    f.payload.assign(in.begin() + static_cast<std::ptrdiff_t>(at + 9),
                     in.begin() + static_cast<std::ptrdiff_t>(at + 9 + n));
    out.push_back(f);
    at += 9 + n;
  }
  return out;
}

/// `in` through a merger in reads of `cut` octets (the last one shorter).
octets merged(const octets& in, std::size_t cut, std::size_t max_frame, std::size_t room,
              std::size_t preface = 24) {
  data_frame_merger m{preface};
  octets out;
  for (std::size_t at = 0; at < in.size(); at += cut) {
    octets read(in.begin() + static_cast<std::ptrdiff_t>(at),
                in.begin() + static_cast<std::ptrdiff_t>(std::min(in.size(), at + cut)));
    read.resize(m.merge(read.data(), read.size(), max_frame,
                        [&](std::int32_t id) { return id == 1 || id == 3 ? room : 0; }));
    out.insert(out.end(), read.begin(), read.end());
  }
  return out;
}

/// Each stream's DATA octets, in order, and the END_STREAM of its last DATA frame.
std::map<std::uint32_t, std::pair<octets, bool>> streams(const std::vector<parsed>& frames) {
  std::map<std::uint32_t, std::pair<octets, bool>> out;
  for (const auto& f : frames)
    if (f.type == data_type) {
      auto& [bytes, ended] = out[f.stream];
      const auto* p = f.payload.data();
      std::size_t n = f.payload.size();
      if (f.flags & padded) { // RFC 9113 6.1: pad length, then the data, then padding
        const std::size_t pad = p[0];
        p += 1;
        n -= 1 + pad;
      }
      bytes.insert(bytes.end(), p, p + n);
      ended = f.flags & end_stream;
    }
  return out;
}

std::vector<parsed> others(const std::vector<parsed>& frames) {
  std::vector<parsed> out;
  for (const auto& f : frames)
    if (f.type != data_type)
      out.push_back(f);
  return out;
}

/// A client's octets: the preface, HEADERS, many small DATA frames of streams 1 and 3
/// (interleaved in places), a padded one, a PING between, and END_STREAM on stream 1.
octets client() {
  octets c(24, 'P');
  frame(c, headers_type, 0x4, 1, payload(20, 1));
  for (int i = 0; i < 30; ++i)
    frame(c, data_type, 0, 1,
          payload(200 + static_cast<std::size_t>(i), static_cast<std::uint8_t>(i)));
  frame(c, data_type, 0, 3, payload(50, 9));
  frame(c, data_type, 0, 1, payload(40, 10));
  frame(c, ping_type, 0, 0, payload(8, 11));
  octets pad = payload(31, 12);
  pad[0] = 5; // pad length
  frame(c, data_type, padded, 1, pad);
  for (int i = 0; i < 10; ++i)
    frame(c, data_type, 0, 3, payload(100, static_cast<std::uint8_t>(40 + i)));
  frame(c, data_type, end_stream, 1, payload(60, 13));
  frame(c, data_type, 0, 1, payload(70, 14)); // after END_STREAM: never merged with it
  frame(c, data_type, 0, 1, payload(70, 15));
  return c;
}

void expect_same_meaning(const octets& before, const octets& after, std::size_t max_frame) {
  const auto a = parse(before, 24), b = parse(after, 24);
  EXPECT_TRUE(std::equal(before.begin(), before.begin() + 24, after.begin()));
  EXPECT_EQ(streams(a), streams(b));
  const auto oa = others(a), ob = others(b);
  ASSERT_EQ(oa.size(), ob.size());
  for (std::size_t i = 0; i < oa.size(); ++i) {
    EXPECT_EQ(oa[i].type, ob[i].type);
    EXPECT_EQ(oa[i].flags, ob[i].flags);
    EXPECT_EQ(oa[i].payload, ob[i].payload);
  }
  for (const auto& f : b)
    EXPECT_LE(f.payload.size(), std::max<std::size_t>(max_frame, 200));
}

TEST(data_frame_merger, a_read_of_one_streams_frames_becomes_one_frame) {
  octets c(24, 'P');
  for (int i = 0; i < 50; ++i)
    frame(c, data_type, 0, 1, payload(230, static_cast<std::uint8_t>(i)));
  const auto out = merged(c, c.size(), 16384, 1 << 20);
  const auto frames = parse(out, 24);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].payload.size(), 50u * 230);
  EXPECT_EQ(frames[0].flags, 0);
  expect_same_meaning(c, out, 16384);
}

TEST(data_frame_merger, the_meaning_is_kept_whatever_the_reads_boundaries) {
  const auto c = client();
  for (std::size_t cut = 1; cut <= c.size(); cut += (cut < 64 ? 1 : 97)) {
    SCOPED_TRACE("reads of " + std::to_string(cut));
    expect_same_meaning(c, merged(c, cut, 16384, 1 << 20), 16384);
  }
  // In one read, stream 1's first 30 frames and the next are one frame.
  EXPECT_LT(parse(merged(c, c.size(), 16384, 1 << 20), 24).size(), parse(c, 24).size() - 30);
}

TEST(data_frame_merger, merged_frames_stay_within_the_frame_size_and_the_windows) {
  const auto c = client();
  // The largest frame we announced: no merged frame above it.
  const auto small_frames = parse(merged(c, c.size(), 1000, 1 << 20), 24);
  for (const auto& f : small_frames)
    EXPECT_LE(f.payload.size(), 1000u);
  expect_same_meaning(c, merged(c, c.size(), 1000, 1 << 20), 1000);
  // No room in the windows: nothing merged, the octets unchanged.
  EXPECT_EQ(merged(c, c.size(), 16384, 0), c);
  // Room for 1,000 octets of this read: the frames merged hold no more in all.
  const auto windowed = parse(merged(c, c.size(), 16384, 1000), 24);
  std::size_t merged_octets = 0;
  for (std::size_t i = 0; i < windowed.size(); ++i)
    if (windowed[i].type == data_type && windowed[i].payload.size() > 300)
      merged_octets += windowed[i].payload.size();
  EXPECT_LE(merged_octets, 1000u);
  expect_same_meaning(c, merged(c, c.size(), 16384, 1000), 16384);
}

TEST(data_frame_merger, an_empty_last_frame_gives_the_merged_one_its_end_stream) {
  // gRPC clients often end a stream with an empty DATA frame that only says END_STREAM.
  octets c(24, 'P');
  frame(c, data_type, 0, 1, payload(100, 1));
  frame(c, data_type, end_stream, 1, {});
  const auto f = parse(merged(c, c.size(), 16384, 1 << 20), 24);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].payload.size(), 100u);
  EXPECT_EQ(f[0].flags, end_stream);
}

TEST(data_frame_merger, end_stream_ends_a_merge_and_padded_frames_pass_alone) {
  octets c(24, 'P');
  frame(c, data_type, 0, 1, payload(10, 1));
  frame(c, data_type, end_stream, 1, payload(10, 2));
  frame(c, data_type, 0, 1, payload(10, 3));
  octets pad = payload(12, 4);
  pad[0] = 1;
  frame(c, data_type, padded, 1, pad);
  frame(c, data_type, 0, 1, payload(10, 5));
  const auto f = parse(merged(c, c.size(), 16384, 1 << 20), 24);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0].payload.size(), 20u);
  EXPECT_EQ(f[0].flags, end_stream);
  EXPECT_EQ(f[1].payload.size(), 10u);
  EXPECT_EQ(f[2].flags, padded);
  EXPECT_EQ(f[3].payload.size(), 10u);
}

} // namespace
} // namespace fa::rpc
