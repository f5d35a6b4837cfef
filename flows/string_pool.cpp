#include "flows/string_pool.hpp"

#include "base/hash.hpp"

#include <cstring>

namespace fa::flows {

string_pool::id_type string_pool::intern(ipfix::bytes_view s) {
  if (s.empty())
    return empty;
  const std::uint64_t h = base::hash_bytes(s.data(), s.size());
  const auto found = index_.find(h, [&](std::uint32_t id) {
    const auto& e = entries_[id - 1];
    return e.length == s.size() && std::memcmp(e.data, s.data(), s.size()) == 0;
  });
  if (found != id_index::none) {
    ++entries_[found - 1].refs;
    return found;
  }
  id_type id = free_;
  if (id != empty) {
    free_ = entries_[id - 1].length;
  } else {
    entries_.emplace_back();
    id = static_cast<id_type>(entries_.size());
  }
  auto& e = entries_[id - 1];
  e.data = arena_.allocate(s.size());
  std::memcpy(e.data, s.data(), s.size());
  e.length = static_cast<std::uint32_t>(s.size());
  e.refs = 1;
  e.hash = h;
  index_.insert(h, id);
  return id;
}

void string_pool::unref(id_type id) {
  if (id == empty)
    return;
  auto& e = entries_[id - 1];
  if (--e.refs > 0)
    return;
  index_.erase(e.hash, id);
  arena_.release(e.data, e.length);
  e.data = nullptr;
  e.length = free_;
  free_ = id;
  if (index_.size() == 0) { // empty: give the memory back
    entries_.clear();
    entries_.shrink_to_fit();
    free_ = empty;
    index_.clear();
    arena_.clear();
  }
}

} // namespace fa::flows
