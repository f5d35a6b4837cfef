#include "net/frame_buffer.hpp"

#include "net/tcp_framer.hpp"

#include <algorithm>
#include <cstring>

namespace fa::net {

void frame_buffer::move_to(std::size_t capacity, std::size_t from,
                           const messages::session_budgets& budgets) {
  auto next = std::make_shared<messages::chunk>(capacity, budgets);
  if (filled_ > 0) // memcpy from a null pointer is undefined, even for 0 octets
    std::memcpy(next->data(), buf_->data() + from, filled_);
  copied_ += filled_;
  buf_ = std::move(next);
}

std::span<std::uint8_t> frame_buffer::prepare(std::size_t want,
                                              const messages::session_budgets& budgets,
                                              bool may_allocate) {
  want = std::max<std::size_t>(want, 1);
  if (!buf_) {
    if (!may_allocate)
      return {};
    // At least a header, so that a message's length is known without a copy.
    buf_ = std::make_shared<messages::chunk>(std::max(want, ipfix::message_header_size), budgets);
    filled_ = 0;
  } else if (may_allocate && buf_->capacity() - filled_ < want) {
    // More is waiting than the held message needs: one larger buffer, one copy of the
    // held part, and the read takes it all.
    move_to(filled_ + want, 0, budgets);
  }
  return {buf_->data() + filled_, buf_->capacity() - filled_};
}

frame_buffer::result frame_buffer::commit(std::size_t n, const messages::session_budgets& budgets,
                                          bool may_allocate) {
  if (!buf_)
    return {};
  filled_ += n;
  auto scan = scan_frames({buf_->data(), filled_}, max_message_size_);
  if (!scan.error.empty())
    return {nullptr, scan.error};
  if (scan.complete == 0) {
    if (filled_ == 0) {
      buf_.reset(); // nothing read: an idle session pins no buffer
    } else if (scan.needed > buf_->capacity()) {
      // The header just arrived: from now on the message has a buffer of its full length.
      move_to(scan.needed, 0, budgets);
    }
    return {};
  }
  auto whole = std::move(buf_);
  std::size_t rest = filled_ - scan.complete;
  filled_ = rest;
  if (rest > 0) {
    // The start of the next message moves once, to a buffer sized from its header (or
    // for its header, when that is cut too).
    std::size_t capacity = std::max(scan.needed, rest + (may_allocate ? n : 0));
    buf_ = whole;
    move_to(capacity, scan.complete, budgets);
  }
  whole->set_size(scan.complete);
  return {std::move(whole), {}};
}

void frame_buffer::clear() {
  buf_.reset();
  filled_ = 0;
}

} // namespace fa::net
