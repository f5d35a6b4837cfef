#include "flows/id_index.hpp"

namespace fa::flows {

void id_index::insert(std::uint64_t h, std::uint32_t id) {
  if ((size_ + 1) * 4 > slots_.size() * 3)
    grow();
  std::size_t i = h & mask_;
  while (slots_[i] != empty)
    i = (i + 1) & mask_;
  slots_[i] = (h << 32) | id;
  ++size_;
}

void id_index::erase(std::uint64_t h, std::uint32_t id) {
  std::size_t i = h & mask_;
  while (static_cast<std::uint32_t>(slots_[i]) != id)
    i = (i + 1) & mask_;
  // Backward shift: a later entry of the run moves into the hole unless its home slot
  // lies cyclically in (hole, its slot].
  for (std::size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
    const std::uint64_t s = slots_[j];
    if (s == empty)
      break;
    const std::size_t home = (s >> 32) & mask_;
    const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (stays)
      continue;
    slots_[i] = s;
    i = j;
  }
  slots_[i] = empty;
  --size_;
}

void id_index::clear() {
  slots_.clear();
  slots_.shrink_to_fit();
  mask_ = 0;
  size_ = 0;
}

void id_index::grow() {
  const std::size_t cap = slots_.empty() ? 16 : slots_.size() * 2;
  std::vector<std::uint64_t> old(cap, empty);
  old.swap(slots_);
  mask_ = cap - 1;
  for (const std::uint64_t s : old) {
    if (s == empty)
      continue;
    std::size_t i = (s >> 32) & mask_;
    while (slots_[i] != empty)
      i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

} // namespace fa::flows
