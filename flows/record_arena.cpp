#include "flows/record_arena.hpp"

#include <cstring>

namespace fa::flows {

std::uint8_t* record_arena::allocate(std::size_t n) {
  const std::size_t c = size_class(n);
  const std::size_t bytes = c * granule;
  used_ += bytes;
  if (c < free_.size() && free_[c] != nullptr) {
    std::uint8_t* p = free_[c];
    std::memcpy(&free_[c], p, sizeof(std::uint8_t*));
    return p;
  }
  if (left_ < bytes) {
    // The rest of the current chunk goes to the free list of its size, not to waste.
    if (left_ >= granule)
      release_unused(cursor_, left_);
    const std::size_t size = bytes > chunk_size ? bytes : chunk_size;
    chunks_.push_back(std::make_unique_for_overwrite<std::uint8_t[]>(size));
    reserved_ += size;
    cursor_ = chunks_.back().get();
    left_ = size;
  }
  std::uint8_t* p = cursor_;
  cursor_ += bytes;
  left_ -= bytes;
  return p;
}

void record_arena::release(std::uint8_t* p, std::size_t n) {
  used_ -= size_class(n) * granule;
  release_unused(p, n);
}

void record_arena::release_unused(std::uint8_t* p, std::size_t n) {
  const std::size_t c = size_class(n);
  if (c >= free_.size())
    free_.resize(c + 1, nullptr);
  std::memcpy(p, &free_[c], sizeof(std::uint8_t*));
  free_[c] = p;
}

void record_arena::clear() {
  chunks_.clear();
  free_.clear();
  cursor_ = nullptr;
  left_ = 0;
  reserved_ = 0;
  used_ = 0;
}

} // namespace fa::flows
