#include "rpc/flow_filter.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace fa::rpc {

namespace {

template <class Range, class T>
bool contains(const Range& r, const T& v) {
  return std::find(r.begin(), r.end(), v) != r.end();
}

} // namespace

std::string_view service_name(std::string_view port_name) {
  auto slash = port_name.find('/');
  if (slash == std::string_view::npos)
    return {};
  auto rest = port_name.substr(slash + 1);
  return rest.substr(0, rest.find(':'));
}

bool flow_filter_set::prefix::contains(const std::string& raw) const {
  if (raw.size() != size)
    return false;
  auto* p = reinterpret_cast<const std::uint8_t*>(raw.data());
  std::size_t full = bits / 8;
  if (std::memcmp(p, addr.data(), full) != 0)
    return false;
  if (auto rest = bits % 8) {
    auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (p[full] & mask) == (addr[full] & mask);
  }
  return true;
}

std::optional<flow_filter_set> flow_filter_set::compile(const pb::GetFlowsRequest& request,
                                                        std::string& error) {
  flow_filter_set out;
  if (request.has_since())
    out.since_ = request.since().seconds();
  for (int i = 0; i < request.filters_size(); ++i) {
    const auto& in = request.filters(i);
    auto where = "filters[" + std::to_string(i) + "]: ";
    filter f;
    f.direction = in.direction();
    if (!pb::FlowFilterDirection_IsValid(f.direction)) {
      error = where + "unknown direction " + std::to_string(f.direction);
      return std::nullopt;
    }
    f.namespaces.assign(in.namespaces().begin(), in.namespaces().end());
    f.pod_names.assign(in.pod_names().begin(), in.pod_names().end());
    f.service_names.assign(in.service_names().begin(), in.service_names().end());
    if (!f.service_names.empty() && f.direction == pb::FLOW_FILTER_DIRECTION_FROM) {
      error = where + "service_names select the destination; they cannot be used with "
                      "direction FROM";
      return std::nullopt;
    }
    for (auto t : in.flow_types())
      f.flow_types.push_back(t);
    if (!in.pod_label_selector().empty()) {
      std::string why;
      f.selector = label_selector::parse(in.pod_label_selector(), why);
      if (!f.selector) {
        error = where + why;
        return std::nullopt;
      }
    }
    for (const auto& text : in.ips()) {
      prefix p;
      std::string addr = text;
      int bits = -1;
      if (auto slash = text.find('/'); slash != std::string::npos) {
        addr = text.substr(0, slash);
        auto digits = std::string_view{text}.substr(slash + 1);
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
        if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size())
          bits = 1000;
      }
      if (::inet_pton(AF_INET, addr.c_str(), p.addr.data()) == 1)
        p.size = 4;
      else if (::inet_pton(AF_INET6, addr.c_str(), p.addr.data()) == 1)
        p.size = 16;
      else
        p.size = 0;
      int max_bits = p.size * 8;
      if (bits < 0)
        bits = max_bits;
      if (p.size == 0 || bits < 0 || bits > max_bits) {
        error = where + "\"" + text + "\" is not an IP address or prefix";
        return std::nullopt;
      }
      p.bits = static_cast<std::uint8_t>(bits);
      f.ips.push_back(p);
    }
    out.filters_.push_back(std::move(f));
  }
  return out;
}

bool flow_filter_set::filter::side_matches(const pb::Flow& fl, bool source) const {
  const auto& k = fl.k8s();
  if (!namespaces.empty() &&
      !contains(namespaces, source ? k.source_pod_namespace() : k.destination_pod_namespace()))
    return false;
  if (!pod_names.empty() &&
      !contains(pod_names, source ? k.source_pod_name() : k.destination_pod_name()))
    return false;
  if (selector) {
    bool has = source ? k.has_source_pod_labels() : k.has_destination_pod_labels();
    const auto* labels =
        has ? &(source ? k.source_pod_labels() : k.destination_pod_labels()) : nullptr;
    if (!selector->matches(labels))
      return false;
  }
  if (!ips.empty()) {
    const auto& ip = source ? fl.ip().source() : fl.ip().destination();
    if (std::none_of(ips.begin(), ips.end(), [&](const prefix& p) { return p.contains(ip); }))
      return false;
  }
  return true;
}

bool flow_filter_set::filter::matches(const pb::Flow& fl) const {
  if (!flow_types.empty() && !contains(flow_types, static_cast<int>(fl.k8s().flow_type())))
    return false;
  if (!service_names.empty()) {
    auto name = service_name(fl.k8s().destination_service_port_name());
    if (std::none_of(service_names.begin(), service_names.end(),
                     [&](const std::string& s) { return s == name; }))
      return false;
  }
  switch (direction) {
  case pb::FLOW_FILTER_DIRECTION_FROM:
    return side_matches(fl, true);
  case pb::FLOW_FILTER_DIRECTION_TO:
    return side_matches(fl, false);
  default:
    return side_matches(fl, true) || side_matches(fl, false);
  }
}

bool flow_filter_set::matches(const pb::Flow& f) const {
  if (since_ && (!f.has_end_ts() || f.end_ts().seconds() < *since_))
    return false;
  return std::all_of(filters_.begin(), filters_.end(),
                     [&](const filter& x) { return x.matches(f); });
}

} // namespace fa::rpc
