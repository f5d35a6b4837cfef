#pragma once

// Helpers for the flow table tests: Antrea templates and records built by element name
// with the codec's message builder (no hex), and a sink that keeps what was exported,
// encoded by flow_encoder and decodable by element name.

#include "flows/aggregate_layout.hpp"
#include "flows/flow_encoder.hpp"
#include "flows/flow_table.hpp"
#include "ipfix/elements.hpp"
#include "ipfix/message_builder.hpp"
#include "ipfix/record.hpp"
#include "ipfix/wire.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fa::flows::test {

using bytes = std::vector<std::uint8_t>;
using namespace std::chrono_literals;

/// The registry's element `name`; fails the test when unknown.
inline const ipfix::element_info& element(std::string_view name) {
  const auto* e = ipfix::find_element(name);
  EXPECT_NE(e, nullptr) << name;
  static const ipfix::element_info none{};
  return e ? *e : none;
}

/// A field specifier for `name` at its registry length (variable for strings).
inline ipfix::field_spec spec(std::string_view name) {
  const auto& e = element(name);
  return {e.id, e.length, e.enterprise};
}

inline ipfix::template_def make_def(const std::vector<std::string>& names, std::uint16_t id = 256) {
  ipfix::template_def def;
  def.id = id;
  for (const auto& n : names)
    def.fields.push_back(spec(n));
  return def;
}

/// The agent's fields of Antrea v2.7 (reference f.2 rows 1-43; appProtocolName and
/// httpVals dropped, proxySnat and destinationServiceIP added).
inline std::vector<std::string> agent_fields_v27(bool v6) {
  std::string f = v6 ? "IPv6" : "IPv4";
  return {"flowStartSeconds",
          "flowEndSeconds",
          "flowEndReason",
          "sourceTransportPort",
          "destinationTransportPort",
          "protocolIdentifier",
          "packetTotalCount",
          "octetTotalCount",
          "packetDeltaCount",
          "octetDeltaCount",
          "source" + f + "Address",
          "destination" + f + "Address",
          "reversePacketTotalCount",
          "reverseOctetTotalCount",
          "reversePacketDeltaCount",
          "reverseOctetDeltaCount",
          "sourcePodName",
          "sourcePodNamespace",
          "sourceNodeName",
          "destinationPodName",
          "destinationPodNamespace",
          "destinationNodeName",
          "destinationServicePort",
          "destinationServicePortName",
          "ingressNetworkPolicyName",
          "ingressNetworkPolicyNamespace",
          "ingressNetworkPolicyType",
          "ingressNetworkPolicyRuleName",
          "ingressNetworkPolicyRuleAction",
          "egressNetworkPolicyName",
          "egressNetworkPolicyNamespace",
          "egressNetworkPolicyType",
          "egressNetworkPolicyRuleName",
          "egressNetworkPolicyRuleAction",
          "tcpState",
          "flowType",
          "egressName",
          "egressIP",
          "egressNodeName",
          "proxySnatPort",
          "proxySnat" + f,
          "destinationCluster" + f,
          "destinationService" + f};
}

/// What the enricher appends with every option on (template_planner's order).
inline std::vector<std::string> appended_fields() {
  return {"sourcePodLabels",
          "destinationPodLabels",
          "clusterId",
          "originalObservationDomainId",
          "originalExporterIPv4Address",
          "originalExporterIPv6Address",
          "flowDirection"};
}

inline ipfix::template_def enriched_def(bool v6, std::uint16_t id = 256) {
  auto names = agent_fields_v27(v6);
  for (auto& n : appended_fields())
    names.push_back(n);
  return make_def(names, id);
}

inline aggregate_layout_ptr layout_of(const ipfix::template_def& def) {
  auto l = make_aggregate_layout(def);
  EXPECT_TRUE(l->aggregatable) << l->why_not;
  return l;
}

/// Field values by element; absent fields encode as zero / empty.
class values {
 public:
  /// An integer or time element, at the template's length.
  values& set(std::string_view name, std::uint64_t v) {
    const auto& e = element(name);
    v_[{e.enterprise, e.id}] = {false, v, {}};
    return *this;
  }
  /// A string, or an address in text form for address elements.
  values& set(std::string_view name, std::string_view s) {
    const auto& e = element(name);
    bytes b;
    if (e.type == ipfix::data_type::ipv4_address || e.type == ipfix::data_type::ipv6_address) {
      b.resize(e.type == ipfix::data_type::ipv4_address ? 4 : 16);
      if (!s.empty())
        EXPECT_EQ(inet_pton(b.size() == 4 ? AF_INET : AF_INET6, std::string(s).c_str(), b.data()),
                  1)
            << s;
    } else {
      b.assign(s.begin(), s.end());
    }
    v_[{e.enterprise, e.id}] = {true, 0, std::move(b)};
    return *this;
  }
  values& set_text(std::string_view name, const char* s) { return set(name, std::string_view{s}); }

  /// Encodes one record of `def` with the message builder's writers.
  bytes encode(const ipfix::template_def& def) const {
    bytes out;
    ipfix::message_builder b(out);
    for (const auto& f : def.fields) {
      auto it = v_.find({f.enterprise, f.id});
      if (f.is_varlen()) {
        bytes v = it != v_.end() ? it->second.raw : bytes{};
        b.put_varlen(v);
        continue;
      }
      bytes v(f.length, 0);
      if (it != v_.end()) {
        if (it->second.is_raw) {
          std::copy_n(it->second.raw.begin(), std::min(v.size(), it->second.raw.size()), v.begin());
        } else {
          for (std::size_t i = 0; i < f.length; ++i)
            v[f.length - 1 - i] = static_cast<std::uint8_t>(it->second.number >> (8 * i));
        }
      }
      b.put_bytes(v);
    }
    return out;
  }

 private:
  struct value {
    bool is_raw = false;
    std::uint64_t number = 0;
    bytes raw;
  };
  std::map<std::pair<std::uint32_t, std::uint16_t>, value> v_;
};

/// A decoded record of a template: values by element name.
class decoded {
 public:
  decoded(ipfix::template_def def, bytes rec)
      : def_(std::move(def))
      , rec_(std::move(rec)) {
    ipfix::record_layout layout{def_};
    slices_.resize(layout.num_fields());
    ipfix::parse_error err = ipfix::parse_error::none;
    EXPECT_EQ(layout.measure(rec_, err), rec_.size()) << "record does not match its template";
    layout.slice(rec_, slices_);
  }
  bool has(std::string_view name) const { return index(name) >= 0; }
  std::uint64_t u(std::string_view name) const {
    auto i = index(name);
    EXPECT_GE(i, 0) << name;
    if (i < 0)
      return 0;
    auto s = slices_[static_cast<std::size_t>(i)];
    return ipfix::read_uint(rec_.data() + s.offset, s.length);
  }
  std::string s(std::string_view name) const {
    auto i = index(name);
    EXPECT_GE(i, 0) << name;
    if (i < 0)
      return {};
    auto sl = slices_[static_cast<std::size_t>(i)];
    return std::string(reinterpret_cast<const char*>(rec_.data() + sl.offset), sl.length);
  }
  /// An address element as text.
  std::string ip(std::string_view name) const {
    auto i = index(name);
    EXPECT_GE(i, 0) << name;
    if (i < 0)
      return {};
    auto sl = slices_[static_cast<std::size_t>(i)];
    char buf[64] = {};
    inet_ntop(sl.length == 4 ? AF_INET : AF_INET6, rec_.data() + sl.offset, buf, sizeof buf);
    return buf;
  }
  const bytes& raw() const { return rec_; }

 private:
  int index(std::string_view name) const {
    const auto& e = element(name);
    for (std::size_t i = 0; i < def_.fields.size(); ++i)
      if (def_.fields[i].enterprise == e.enterprise && def_.fields[i].id == e.id)
        return static_cast<int>(i);
    return -1;
  }
  ipfix::template_def def_;
  bytes rec_;
  std::vector<ipfix::field_slice> slices_;
};

/// One export: why, the flow's state, and its aggregate record decoded by the output
/// template.
struct exported {
  export_reason why;
  flow_key key;
  flow_state state;
  decoded record;
  clock_type::time_point due{}; ///< flow_view::due
};

/// Keeps every export, encoded by flow_encoder::write.
class collect_sink : public flow_sink {
 public:
  void on_export(const flow_view& f, export_reason why) override {
    bytes rec(flow_encoder::record_size(f));
    auto* end = flow_encoder::write(f, rec.data());
    EXPECT_EQ(static_cast<std::size_t>(end - rec.data()), rec.size());
    out.push_back({why, *f.key, *f.state, decoded{f.layout->output, std::move(rec)}, f.due});
  }
  std::vector<exported> out;
};

/// An address from its text form (IPv4 or IPv6).
inline address address_of(const std::string& text) {
  std::uint8_t b[16] = {};
  if (inet_pton(AF_INET, text.c_str(), b) == 1)
    return ipv4_address(b);
  EXPECT_EQ(inet_pton(AF_INET6, text.c_str(), b), 1) << text;
  return ipv6_address(b);
}

inline clock_type::time_point at(std::chrono::milliseconds t) {
  return clock_type::time_point{} + t;
}

} // namespace fa::flows::test
