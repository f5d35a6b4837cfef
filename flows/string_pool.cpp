#include "flows/string_pool.hpp"

#include "base/hash.hpp"

#include <cstring>

namespace fa::flows {

namespace {

/// 128-bit product folded to 64 bits (wyhash's "mum", Wang Yi, 2019).
inline std::uint64_t mum(std::uint64_t a, std::uint64_t b) {
  const auto r = static_cast<unsigned __int128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}

inline std::uint64_t load64(const std::uint8_t* p) {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

/// The hash of a string set: 16 octets per multiply, each chunk independent of the
/// others' results (its position enters through `s`), so the multiplies overlap.
/// base::hash_bytes chains a whole mix64 per 8 octets; at the 150-300 octets of a flow's
/// strings that chain was most of `intern`'s time (issue 11 profile).
std::uint64_t strings_hash(const std::uint8_t* p, std::size_t n) {
  constexpr std::uint64_t k0 = 0xa0761d6478bd642fULL, k1 = 0xe7037ed1a0b428dbULL;
  std::uint64_t acc = base::mix64(n);
  std::uint64_t s = base::golden_gamma;
  for (; n >= 16; p += 16, n -= 16, s += base::golden_gamma)
    acc += mum(load64(p) ^ s ^ k0, load64(p + 8) ^ s ^ k1);
  if (n > 0) {
    std::uint8_t tail[16] = {};
    std::memcpy(tail, p, n);
    acc += mum(load64(tail) ^ s ^ k0, load64(tail + 8) ^ s ^ k1);
  }
  return base::mix64(acc);
}

} // namespace

string_pool::id_type string_pool::intern(ipfix::bytes_view s) {
  if (s.empty())
    return empty;
  const std::uint64_t h = strings_hash(s.data(), s.size());
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

string_pool::id_type string_pool::intern_hinted(ipfix::bytes_view s, id_type& hint) {
  if (hint != empty && hint <= entries_.size()) {
    auto& e = entries_[hint - 1];
    if (e.refs > 0 && e.length == s.size() && std::memcmp(e.data, s.data(), s.size()) == 0) {
      ++e.refs;
      return hint;
    }
  }
  hint = intern(s);
  return hint;
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
