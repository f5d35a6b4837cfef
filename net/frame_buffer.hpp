#pragma once

// The read buffer of a TCP or TLS exporter session (DESIGN 3; RFC 7011 10.4.1: the
// stream is a sequence of messages). Bytes are read straight into a chunk charged to the
// session's and the process's budgets and framed there: whole messages go to the session
// as that chunk, and the start of a message not yet complete moves, once, to a chunk of
// its own sized from its header, which later reads append to. So a partial message is
// charged to the budgets like any data received, and its octets are copied at most a
// bounded number of times however slowly it trickles in (never once per read).

#include "messages/chunk.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

namespace fa::net {

class frame_buffer {
 public:
  explicit frame_buffer(std::size_t max_message_size)
      : max_message_size_(max_message_size) {}

  /// Room to read into. Without a buffer, or with `may_allocate` and less room than
  /// `want`, a buffer of at least `want` octets is made (charged to `budgets`); otherwise
  /// the room already charged, which a held message can always be completed in (readers
  /// call with `may_allocate` false while a budget is spent). Empty only when no buffer
  /// is held and `may_allocate` is false.
  std::span<std::uint8_t> prepare(std::size_t want, const messages::session_budgets& budgets,
                                  bool may_allocate);

  struct result {
    messages::chunk_ptr messages; ///< the whole messages read so far, or null
    std::string_view error;       ///< non-empty: the stream cannot be framed; close it
  };

  /// `n` octets were read into the room `prepare` gave. Returns the whole messages; the
  /// incomplete rest stays held. With `may_allocate` a rest's new buffer also has room
  /// for a read as large as this one (bulk streams keep large reads).
  result commit(std::size_t n, const messages::session_budgets& budgets, bool may_allocate);

  /// Room to read into without a new buffer: the rest of the held message's buffer.
  bool has_room() const { return buf_ && filled_ < buf_->capacity(); }
  /// Octets of an incomplete message held.
  std::size_t held() const { return filled_; }
  /// Octets copied from one buffer to another so far, for tests: trickling a message in
  /// costs at most about one copy of it, not one per read.
  std::uint64_t copied() const { return copied_; }
  /// Drops what is held (the session ended).
  void clear();

 private:
  /// Moves the held octets [from, from + filled_) of the current buffer to a new one of
  /// `capacity` octets.
  void move_to(std::size_t capacity, std::size_t from, const messages::session_budgets& budgets);

  std::size_t max_message_size_;
  std::shared_ptr<messages::chunk> buf_;
  std::size_t filled_ = 0; ///< octets read into buf_ (all of an incomplete message after commit)
  std::uint64_t copied_ = 0;
};

} // namespace fa::net
