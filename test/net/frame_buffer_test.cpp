// frame_buffer (net/frame_buffer.hpp): messages are framed where they are read, partial
// messages are charged to the budgets, and a message trickled in octet by octet costs
// linear work: its octets are copied about once, not once per read (issue 16, defect 5).

#include "net/frame_buffer.hpp"

#include "ipfix/message.hpp"
#include "ipfix/wire.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace fa::net {
namespace {

using bytes = std::vector<std::uint8_t>;

/// A message of `length` octets (RFC 7011 3.1 header, then filler), sequence `seq`.
bytes message(std::size_t length, std::uint32_t seq = 0) {
  bytes m(length, static_cast<std::uint8_t>(seq));
  ipfix::write_u16(m.data(), ipfix::ipfix_version);
  ipfix::write_u16(m.data() + 2, static_cast<std::uint16_t>(length));
  ipfix::write_u32(m.data() + 8, seq);
  return m;
}

struct reader {
  explicit reader(std::int64_t budget = 1 << 20)
      : budgets{std::make_shared<messages::byte_budget>(budget),
                std::make_shared<messages::byte_budget>(budget)} {}

  /// Feeds `data` in reads of at most `step` octets, as a socket would hand them out;
  /// keeps the whole messages returned.
  void feed(const bytes& data, std::size_t step, bool may_allocate = true) {
    for (std::size_t at = 0; at < data.size();) {
      std::size_t want = std::min(step, data.size() - at);
      auto room = frames.prepare(want, budgets, may_allocate);
      ASSERT_FALSE(room.empty());
      std::size_t n = std::min(want, room.size());
      std::memcpy(room.data(), data.data() + at, n);
      at += n;
      auto got = frames.commit(n, budgets, may_allocate);
      ASSERT_TRUE(got.error.empty()) << got.error;
      if (got.messages)
        out.push_back(got.messages);
    }
  }

  bytes received() const {
    bytes all;
    for (auto& c : out)
      all.insert(all.end(), c->bytes().begin(), c->bytes().end());
    return all;
  }

  std::int64_t charged() const { return budgets.session->limit() - budgets.session->available(); }

  messages::session_budgets budgets;
  frame_buffer frames{65535};
  std::vector<messages::chunk_ptr> out;
};

// The reader of defect 5 copied everything held before each read: a 60,000-octet message
// trickled in octet by octet cost 1.8 billion octets of copying. Now its header is
// copied once, to the buffer sized from it, and nothing after.
TEST(frame_buffer, a_message_trickled_octet_by_octet_is_copied_about_once) {
  reader r;
  auto m = message(60000, 7);
  r.feed(m, 1);
  ASSERT_EQ(r.out.size(), 1u);
  EXPECT_EQ(r.received(), m);
  EXPECT_LE(r.frames.copied(), ipfix::message_header_size);
  EXPECT_EQ(r.frames.held(), 0u);
}

// Trickled in small pieces, or the header cut anywhere: still linear, whatever the step.
TEST(frame_buffer, any_read_size_copies_each_octet_a_bounded_number_of_times) {
  for (std::size_t step : {2u, 3u, 7u, 15u, 17u, 1000u, 4096u}) {
    reader r;
    bytes stream;
    for (std::uint32_t i = 0; i < 20; ++i) {
      auto m = message(100 + 997 * i, i);
      stream.insert(stream.end(), m.begin(), m.end());
    }
    r.feed(stream, step);
    EXPECT_EQ(r.received(), stream) << "step " << step;
    EXPECT_LE(r.frames.copied(), 2 * stream.size()) << "step " << step;
  }
}

// A message not yet complete is charged to the budgets for its whole length as soon as
// its header is in (not outside them, as before), and released with its last holder.
TEST(frame_buffer, a_partial_message_is_charged_to_the_budgets) {
  reader r;
  auto m = message(60000);
  bytes start(m.begin(), m.end() - 1);
  r.feed(start, 4096);
  EXPECT_TRUE(r.out.empty());
  EXPECT_EQ(r.frames.held(), 59999u);
  EXPECT_GE(r.charged(), 60000);
  EXPECT_EQ(r.budgets.global->limit() - r.budgets.global->available(), r.charged());
  // While a budget is spent nothing new is allocated, but the held message is read on
  // into the room already charged for it: it can always complete.
  EXPECT_TRUE(r.frames.has_room());
  r.feed(bytes(m.end() - 1, m.end()), 1, false);
  ASSERT_EQ(r.out.size(), 1u);
  EXPECT_EQ(r.received(), m);
  r.out.clear();
  EXPECT_EQ(r.charged(), 0) << "the last holder gave the budget back";
  EXPECT_FALSE(r.frames.has_room());
  EXPECT_TRUE(r.frames.prepare(100, r.budgets, false).empty()) << "nothing held, no budget";
}

// Whole messages of one read go to the session as one chunk; the start of the next
// stays held and is completed by the next read.
TEST(frame_buffer, whole_messages_go_out_and_the_rest_is_held) {
  reader r;
  auto a = message(300, 1), b = message(500, 2), c = message(400, 3);
  bytes first(a.begin(), a.end());
  first.insert(first.end(), b.begin(), b.end());
  first.insert(first.end(), c.begin(), c.begin() + 10); // c's header cut too
  r.feed(first, first.size());
  ASSERT_EQ(r.out.size(), 1u);
  EXPECT_EQ(r.out[0]->size(), 800u);
  EXPECT_EQ(r.frames.held(), 10u);
  r.feed(bytes(c.begin() + 10, c.end()), 390);
  ASSERT_EQ(r.out.size(), 2u);
  EXPECT_EQ(r.out[1]->size(), 400u);
  EXPECT_EQ(r.frames.held(), 0u);
}

// A stream that cannot be framed is reported (the session is closed, RFC 7011 10.4.1).
TEST(frame_buffer, an_unframeable_stream_is_an_error) {
  reader r;
  auto m = message(100);
  m[1] = 9; // version 9
  auto room = r.frames.prepare(m.size(), r.budgets, true);
  std::memcpy(room.data(), m.data(), m.size());
  EXPECT_EQ(r.frames.commit(m.size(), r.budgets, true).error, "bad_version");
}

} // namespace
} // namespace fa::net
