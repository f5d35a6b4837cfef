#pragma once

// The filters of a flow stream request (antrea-grpc-transport.md 5, GetFlowsRequest):
// every filter must match (AND); inside one field the values are alternatives (OR); the
// non-empty fields of one filter must all hold. `direction` picks the side the namespace,
// Pod name, label selector and IP fields look at: FROM the source, TO the destination,
// BOTH either side, where one side must satisfy all of them. `since` keeps flows whose
// end_ts is at or after it (a flow without end_ts is left out).

#include "rpc/label_selector.hpp"
#include "rpc/proto.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace fa::rpc {

class flow_filter_set {
 public:
  /// The compiled request, or why it is invalid (a bad selector, IP or prefix, or
  /// service_names with direction FROM): the RPC fails InvalidArgument before anything is
  /// read (5, "Invalid filters").
  static std::optional<flow_filter_set> compile(const pb::GetFlowsRequest& request,
                                                std::string& error);

  bool matches(const pb::Flow& f) const;

 private:
  struct prefix {
    std::array<std::uint8_t, 16> addr{};
    std::uint8_t size = 4; ///< 4 or 16
    std::uint8_t bits = 32;
    bool contains(const std::string& raw) const;
  };
  struct filter {
    std::vector<std::string> namespaces;
    std::vector<std::string> pod_names;
    std::optional<label_selector> selector;
    std::vector<std::string> service_names;
    std::vector<int> flow_types;
    std::vector<prefix> ips;
    int direction = 0;
    bool side_matches(const pb::Flow& f, bool source) const;
    bool matches(const pb::Flow& f) const;
  };
  std::vector<filter> filters_;
  std::optional<std::int64_t> since_;
};

/// "ns/name:port" (or "ns/name") -> "name": how a filter's service_names meet
/// destination_service_port_name.
std::string_view service_name(std::string_view port_name);

} // namespace fa::rpc
