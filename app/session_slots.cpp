#include "app/session_slots.hpp"

#include "base/hash.hpp"

#include <cstring>

namespace fa::app {

session_slots::address_key session_slots::key_of(const asio::ip::address& addr) {
  if (addr.is_v4())
    return asio::ip::make_address_v6(asio::ip::v4_mapped, addr.to_v4()).to_bytes();
  return addr.to_v6().to_bytes();
}

std::size_t session_slots::key_hash::operator()(const address_key& k) const noexcept {
  return static_cast<std::size_t>(base::address_hash(k.data()));
}

session_slots::slot_ptr session_slots::acquire(messages::transport proto, const address_key& addr,
                                               std::string_view& refusal) {
  const bool udp = proto == messages::transport::udp;
  std::lock_guard guard{mtx_};
  if (stream_ + udp_ >= limits_.total) {
    refusal = "max_sessions";
    return nullptr;
  }
  if (udp ? udp_ >= limits_.udp : stream_ >= limits_.stream) {
    refusal = udp ? "max_udp_sessions" : "max_tcp_sessions";
    return nullptr;
  }
  auto [it, fresh] = entries_.try_emplace(addr);
  auto& e = it->second;
  if ((udp ? e.udp : e.stream) >= limits_.per_address) {
    refusal = "max_sessions_per_address";
    return nullptr;
  }
  if (fresh)
    e.templates = std::make_shared<ipfix::template_budget>(limits_.template_share);
  ++(udp ? e.udp : e.stream);
  ++(udp ? udp_ : stream_);
  return std::make_shared<slot>(shared_from_this(), addr, udp, e.templates);
}

void session_slots::release(const address_key& addr, bool udp) {
  std::lock_guard guard{mtx_};
  --(udp ? udp_ : stream_);
  auto it = entries_.find(addr);
  if (it == entries_.end())
    return;
  auto& e = it->second;
  --(udp ? e.udp : e.stream);
  // The share lives on in the templates of sessions still ending, and a new session of
  // the address gets a fresh one: while ended sessions' actors finish (they let their
  // templates go as their transport's close reaches them) the address may briefly hold
  // more than its share. The process-wide budget bounds the total regardless.
  if (e.udp == 0 && e.stream == 0)
    entries_.erase(it);
}

void session_slots::slot::release() {
  if (!released_.exchange(true))
    owner_->release(addr_, udp_);
}

std::size_t session_slots::held() const {
  std::lock_guard guard{mtx_};
  return stream_ + udp_;
}

std::size_t session_slots::held_udp() const {
  std::lock_guard guard{mtx_};
  return udp_;
}

} // namespace fa::app
