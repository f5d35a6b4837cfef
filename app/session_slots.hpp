#pragma once

// Session slots (issue 16, defects 6 and 7): whether a new exporter session may open,
// counted in all, per kind of transport (TCP and TLS together, UDP apart) and per source
// address, so that one client or a flood of spoofed datagrams cannot take every slot;
// and each exporter address's share of the template budget (ipfix/template_budget.hpp),
// shared by all of its sessions. A mutex is taken when a session opens or closes, never
// per message.

#include "ipfix/template_budget.hpp"
#include "messages/session_info.hpp"

#include <asio/ip/address.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>

namespace fa::app {

class session_slots : public std::enable_shared_from_this<session_slots> {
 public:
  /// The 16 octets of an address, IPv4 in IPv4-mapped form (as messages::session_info).
  using address_key = std::array<std::uint8_t, 16>;
  static address_key key_of(const asio::ip::address& addr);

  struct limits {
    std::size_t total = SIZE_MAX;       ///< collector.max_sessions
    std::size_t stream = SIZE_MAX;      ///< collector.max_tcp_sessions (TCP and TLS)
    std::size_t udp = SIZE_MAX;         ///< collector.max_udp_sessions
    std::size_t per_address = SIZE_MAX; ///< collector.max_sessions_per_address, per kind
    /// collector.template_budget_per_exporter: each address's share.
    std::size_t template_share = SIZE_MAX;
  };

  /// One session's slot. Released once: explicitly when its transport closes (so a
  /// reclaimed slot is free at once), else when the last holder drops it.
  class slot {
   public:
    slot(std::shared_ptr<session_slots> owner, address_key addr, bool udp,
         ipfix::template_budget_ptr templates)
        : owner_(std::move(owner))
        , addr_(addr)
        , udp_(udp)
        , templates_(std::move(templates)) {}
    ~slot() { release(); }
    slot(const slot&) = delete;
    slot& operator=(const slot&) = delete;

    void release();
    /// This exporter address's share of the template budget.
    const ipfix::template_budget_ptr& templates() const { return templates_; }

   private:
    std::shared_ptr<session_slots> owner_;
    address_key addr_;
    bool udp_;
    ipfix::template_budget_ptr templates_;
    std::atomic<bool> released_{false};
  };
  using slot_ptr = std::shared_ptr<slot>;

  explicit session_slots(limits l)
      : limits_(l) {}

  /// A slot for a new session of `proto` from `addr`; nullptr when a limit refuses it,
  /// with `refusal` naming the limit: "max_sessions", "max_tcp_sessions",
  /// "max_udp_sessions" or "max_sessions_per_address".
  slot_ptr acquire(messages::transport proto, const address_key& addr, std::string_view& refusal);

  /// Slots held now: in all, and of UDP sessions.
  std::size_t held() const;
  std::size_t held_udp() const;

 private:
  struct entry {
    std::size_t stream = 0;
    std::size_t udp = 0;
    ipfix::template_budget_ptr templates;
  };
  struct key_hash {
    std::size_t operator()(const address_key& k) const noexcept;
  };
  void release(const address_key& addr, bool udp);

  limits limits_;
  mutable std::mutex mtx_;
  std::unordered_map<address_key, entry, key_hash> entries_;
  std::size_t stream_ = 0;
  std::size_t udp_ = 0;
};

using session_slots_ptr = std::shared_ptr<session_slots>;

} // namespace fa::app
