#pragma once

// The Pods that held one address, oldest first (antrea-proxy-semantics.md 3: several
// only while an address is reused). Nearly every address has one, so one is held in
// place and only two or more take a heap array: copying a shard of the Pod index
// (copy-on-write, once per Pod event) then copies ~100 pointers and allocates nothing
// for them, where a vector per address cost ~100 allocations and frees per event, most
// of the index's idle CPU (issue 15: idle at 100 Pod updates/s).

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace fa::labels {

struct pod_entry;
using pod_entry_ptr = std::shared_ptr<const pod_entry>;

/// A contiguous list of non-null entries: the one in place, or all of them in `many_`.
class pod_candidates {
 public:
  using value_type = pod_entry_ptr;
  using iterator = pod_entry_ptr*;
  using const_iterator = const pod_entry_ptr*;

  pod_candidates() = default;
  pod_candidates(const pod_candidates& other)
      : one_(other.one_)
      , many_(other.many_ ? std::make_unique<std::vector<pod_entry_ptr>>(*other.many_) : nullptr) {}
  pod_candidates(pod_candidates&&) noexcept = default;
  pod_candidates& operator=(const pod_candidates& other) {
    if (this != &other)
      *this = pod_candidates{other};
    return *this;
  }
  pod_candidates& operator=(pod_candidates&&) noexcept = default;

  std::size_t size() const noexcept { return many_ ? many_->size() : (one_ ? 1 : 0); }
  bool empty() const noexcept { return size() == 0; }

  iterator begin() noexcept { return many_ ? many_->data() : &one_; }
  iterator end() noexcept { return begin() + size(); }
  const_iterator begin() const noexcept { return many_ ? many_->data() : &one_; }
  const_iterator end() const noexcept { return begin() + size(); }
  const pod_entry_ptr& front() const noexcept { return *begin(); }
  const pod_entry_ptr& operator[](std::size_t i) const noexcept { return begin()[i]; }

  void push_back(pod_entry_ptr p) {
    if (many_) {
      many_->push_back(std::move(p));
    } else if (one_) {
      many_ = std::make_unique<std::vector<pod_entry_ptr>>();
      many_->reserve(2);
      many_->push_back(std::move(one_));
      many_->push_back(std::move(p));
    } else {
      one_ = std::move(p);
    }
  }

  /// Removes [first, end()): the tail `std::remove` leaves.
  void erase(iterator first, iterator last) {
    if (first == last)
      return;
    if (last != end())
      return erase_middle(first, last);
    const auto keep = static_cast<std::size_t>(first - begin());
    if (!many_) {
      one_.reset();
      return;
    }
    many_->resize(keep);
    if (keep <= 1) { // back in place: a copy of this list allocates nothing again
      one_ = keep == 1 ? std::move(many_->front()) : nullptr;
      many_.reset();
    }
  }

 private:
  void erase_middle(iterator first, iterator last) {
    auto out = std::move(last, end(), first);
    erase(out, end());
  }

  pod_entry_ptr one_;                                ///< the only entry, when `many_` is null
  std::unique_ptr<std::vector<pod_entry_ptr>> many_; ///< two or more entries
};

} // namespace fa::labels
