#pragma once

// Messages handled and mailbox size of every actor (issue 5, /api/v1/actors).
//
// Each actor returns its behaviour through `counted_behavior`:
//
//     return counted_behavior{self,
//         [=](messages::data_batch& b) { ... },
//         [=](caf::get_atom) { return self->state.status; },
//     };
//
// which wraps every handler in a functor with the handler's own signature (so the typed
// interface still checks it) that adds one to a plain counter before calling it, and
// appends the (get, stats) handler of the interface (actors/interfaces.hpp). Per message
// that is one increment of an integer only the actor's own thread touches: no atomic, no
// lock, no allocation. Only the actor reads its counter and its mailbox, when it answers
// (get, stats); another thread never reads actor state.

#include "actors/interfaces.hpp"
#include "base/unix_time.hpp"
#include "messages/actor_stats.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

namespace fa::actors {

/// Messages waiting in `self`'s mailbox. Call it only from `self`'s own handlers.
///
/// The one place that knows CAF 0.17's mailbox (STYLE: one function per version
/// difference). `scheduled_actor::mailbox()` is an `intrusive::fifo_inbox`: senders push
/// onto a lock-free LIFO stack, and `size()` first moves that stack into the owner's FIFO
/// queues (`fetch_more`, which calls `lifo_inbox::take_head`: owner only, and never on a
/// blocked inbox, i.e. only while the actor runs), then sums the queues' task counts
/// (urgent, normal, upstream, downstream; one per message). Called from a handler that is
/// all true; from the admin thread it would race with the actor and the scheduler.
inline std::uint64_t mailbox_size(caf::scheduled_actor* self) {
  return static_cast<std::uint64_t>(self->mailbox().size());
}

namespace detail {

/// One actor's counts; shared by its wrapped handlers, touched only on its own thread.
struct handler_counts {
  std::uint64_t handled = 0;
  std::int64_t since = 0;
};

template <class F, class Result, class Args>
struct counted_handler;

/// Calls `f` with exactly the arguments it declares, after counting the message. The
/// call operator is not a template: CAF reads the handler's signature from it.
template <class F, class Result, class... Args>
struct counted_handler<F, Result, caf::detail::type_list<Args...>> {
  mutable F f;
  std::shared_ptr<handler_counts> counts;

  Result operator()(Args... xs) const {
    ++counts->handled;
    return f(std::forward<Args>(xs)...);
  }
};

template <class F>
auto count_calls(F f, std::shared_ptr<handler_counts> counts) {
  using trait = caf::detail::get_callable_trait<F>;
  return counted_handler<F, typename trait::result_type, typename trait::arg_types>{
      std::move(f), std::move(counts)};
}

} // namespace detail

/// The behaviour of a typed actor whose handlers are counted and which answers
/// (get, stats) with its `messages::actor_stats`. `Self` is the actor's
/// `stateful_pointer`; it converts to the actor's `behavior_type`.
template <class Self, class... Fs>
class counted_behavior {
 public:
  using behavior_type = typename std::remove_pointer_t<Self>::behavior_type;

  counted_behavior(Self self, Fs... fs)
      : self_(self)
      , fs_(std::move(fs)...) {}

  operator behavior_type() {
    auto counts = std::make_shared<detail::handler_counts>();
    counts->since = base::unix_seconds();
    auto self = self_;
    auto stats = [self, counts](caf::get_atom, stats_atom) {
      return messages::actor_stats{self->name(), counts->handled, mailbox_size(self),
                                   counts->since};
    };
    return std::apply(
        [&](Fs&... fs) {
          return behavior_type{detail::count_calls(std::move(fs), counts)..., std::move(stats)};
        },
        fs_);
  }

 private:
  Self self_;
  std::tuple<Fs...> fs_;
};

} // namespace fa::actors
