#pragma once

// An allocator whose containers grow without zero-filling: `resize(n)` on a vector of
// bytes leaves the new octets as they are, for code that writes them all right after
// (the enricher sizes its output once per record and fills it in place; zero-filling it
// first was 4% of the process's CPU, issue 15). Everything else is std::allocator's.

#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

namespace fa::base {

template <class T>
struct default_init_allocator : std::allocator<T> {
  using value_type = T;
  template <class U>
  struct rebind {
    using other = default_init_allocator<U>;
  };

  default_init_allocator() = default;
  template <class U>
  default_init_allocator(const default_init_allocator<U>&) noexcept {}

  /// Default-initialises: for a trivial type, leaves the octets alone. Any other
  /// construction is std::construct_at's (std::allocator_traits).
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
};

template <class T, class U>
bool operator==(const default_init_allocator<T>&, const default_init_allocator<U>&) noexcept {
  return true;
}

/// Octets that `resize` does not zero-fill.
using byte_buffer = std::vector<std::uint8_t, default_init_allocator<std::uint8_t>>;

} // namespace fa::base
