#pragma once

// Interned, reference-counted byte strings. The flow table keeps the variable-length
// fields of a stored record as one string here: the names, policies and labels of the
// flows between the same two Pods are the same octets, so thousands of flows share one
// copy (issue 11: bounded memory per flow).

#include "flows/id_index.hpp"
#include "flows/record_arena.hpp"
#include "ipfix/wire.hpp"

#include <cstdint>
#include <vector>

namespace fa::flows {

class string_pool {
 public:
  using id_type = std::uint32_t;
  /// The empty string: never stored, no reference counted.
  static constexpr id_type empty = 0;

  string_pool() = default;
  string_pool(const string_pool&) = delete;
  string_pool& operator=(const string_pool&) = delete;

  /// The id of `s`, added when new; the caller holds one reference to it.
  id_type intern(ipfix::bytes_view s);

  /// `intern` through a one-entry cache the caller keeps: when `hint` still holds `s`,
  /// one more reference to it, without hashing `s` or probing the index; otherwise
  /// `intern`, and `hint` becomes its result. For the few values a caller interns again
  /// and again (tcpState, issue 11 profile). A stale hint (freed, or reused for another
  /// string) is only a miss.
  id_type intern_hinted(ipfix::bytes_view s, id_type& hint);

  /// One more reference to `id`.
  void ref(id_type id) {
    if (id != empty)
      ++entries_[id - 1].refs;
  }

  /// Drops one reference; the string is freed with the last one.
  void unref(id_type id);

  ipfix::bytes_view get(id_type id) const {
    if (id == empty)
      return {};
    const auto& e = entries_[id - 1];
    return {e.data, e.length};
  }

  /// Starts loading the entry of string `id` (the flow table's pipeline).
  void prefetch(id_type id) const {
    if (id != empty)
      __builtin_prefetch(&entries_[id - 1]);
  }

  /// Starts loading the octets of string `id`, once its entry is loaded.
  void prefetch_data(id_type id) const {
    if (id == empty)
      return;
    const auto& e = entries_[id - 1];
    for (std::uint32_t off = 0; off < e.length; off += 64)
      __builtin_prefetch(e.data + off);
  }

  std::size_t size() const { return index_.size(); }
  /// Octets held: entries, index and string storage.
  std::size_t memory_bytes() const {
    return entries_.capacity() * sizeof(entry) + index_.memory_bytes() + arena_.reserved_bytes();
  }

 private:
  struct entry {
    std::uint8_t* data = nullptr;
    std::uint32_t length = 0;
    std::uint32_t refs = 0; ///< 0: free, `data` links the free entries
    std::uint64_t hash = 0;
  };

  std::vector<entry> entries_; ///< id - 1
  id_type free_ = empty;       ///< free entries, linked through `length`
  id_index index_;
  record_arena arena_;
};

} // namespace fa::flows
