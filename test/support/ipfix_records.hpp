#pragma once

// IPFIX templates, records, messages and sessions for the tests of the pipeline's parts
// (actors, enrich): plain helpers, no actors.

#include "ipfix/message.hpp"
#include "ipfix/message_builder.hpp"
#include "ipfix/record.hpp"
#include "ipfix/template.hpp"
#include "labels/pod_snapshot.hpp"
#include "messages/batches.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fa::test {

using bytes = std::vector<std::uint8_t>;
using ipfix::field_spec;
using ipfix::template_def;

constexpr std::uint32_t export_time = 1'700'000'000;

// -- templates and records -------------------------------------------------------------

inline field_spec iana(std::uint16_t id, std::uint16_t len) {
  return field_spec{id, len, ipfix::iana_pen};
}

inline field_spec antrea(std::uint16_t id, std::uint16_t len = ipfix::varlen) {
  return field_spec{id, len, ipfix::antrea_pen};
}

inline template_def make_def(std::uint16_t id, std::vector<field_spec> fields,
                             std::uint16_t scope_count = 0) {
  template_def def;
  def.id = id;
  def.scope_count = scope_count;
  def.fields = std::move(fields);
  return def;
}

/// A fixed-length, non-Antrea template: sourceIPv4Address, destinationIPv4Address,
/// packetTotalCount (16 octets per record).
inline template_def plain_v4(std::uint16_t id) {
  return make_def(id, {iana(8, 4), iana(12, 4), iana(86, 8)});
}

inline bytes plain_v4_record(std::uint64_t packets, std::uint8_t host = 1) {
  bytes r = {10, 0, 0, host, 10, 0, 1, host};
  std::uint8_t b[8];
  ipfix::write_u64(b, packets);
  r.insert(r.end(), b, b + 8);
  return r;
}

/// The appended provenance fields, in order: 405, 403, 404.
inline std::vector<field_spec> provenance_specs() {
  return {iana(405, 4), iana(403, 4), iana(404, 16)};
}

/// A small Antrea agent template. `family` 4 or 6 picks the address elements; `time`
/// is 150 (flowStartSeconds), 152 (flowStartMilliseconds) or 0 (no start time).
/// Fields: [start time], source address, destination address, sourcePodName,
/// sourcePodNamespace, destinationPodName, destinationPodNamespace, flowType,
/// packetTotalCount.
inline template_def antrea_def(std::uint16_t id, int family = 4, std::uint16_t time = 150) {
  std::vector<field_spec> f;
  if (time == 150)
    f.push_back(iana(150, 4));
  else if (time == 152)
    f.push_back(iana(152, 8));
  if (family == 4) {
    f.push_back(iana(8, 4));
    f.push_back(iana(12, 4));
  } else {
    f.push_back(iana(27, 16));
    f.push_back(iana(28, 16));
  }
  f.push_back(antrea(101));
  f.push_back(antrea(100));
  f.push_back(antrea(103));
  f.push_back(antrea(102));
  f.push_back(antrea(137, 1));
  f.push_back(iana(86, 8));
  return make_def(id, std::move(f));
}

/// One flow of `antrea_def`. Addresses are given as 16 octets; the IPv4 form uses the
/// last 4.
struct flow {
  std::uint64_t start = 1'700'000'100; ///< seconds, or milliseconds for time 152
  std::array<std::uint8_t, 16> src{};
  std::array<std::uint8_t, 16> dst{};
  std::string src_pod, src_ns, dst_pod, dst_ns;
  std::uint8_t flow_type = 1;
  std::uint64_t packets = 1;
};

inline std::array<std::uint8_t, 16> v4(std::uint8_t a, std::uint8_t b, std::uint8_t c,
                                       std::uint8_t d) {
  std::array<std::uint8_t, 16> x{};
  x[12] = a;
  x[13] = b;
  x[14] = c;
  x[15] = d;
  return x;
}

inline std::array<std::uint8_t, 16> v6(std::uint16_t first, std::uint16_t last) {
  std::array<std::uint8_t, 16> x{};
  ipfix::write_u16(x.data(), first);
  ipfix::write_u16(x.data() + 14, last);
  return x;
}

inline bytes antrea_record(const flow& f, int family = 4, std::uint16_t time = 150) {
  bytes out;
  ipfix::message_builder b(out);
  if (time == 150)
    b.put_u32(static_cast<std::uint32_t>(f.start));
  else if (time == 152)
    b.put_u64(f.start);
  if (family == 4) {
    b.put_bytes(ipfix::bytes_view{f.src.data() + 12, 4});
    b.put_bytes(ipfix::bytes_view{f.dst.data() + 12, 4});
  } else {
    b.put_bytes(f.src);
    b.put_bytes(f.dst);
  }
  b.put_string(f.src_pod);
  b.put_string(f.src_ns);
  b.put_string(f.dst_pod);
  b.put_string(f.dst_ns);
  b.put_u8(f.flow_type);
  b.put_u64(f.packets);
  return out;
}

inline void append(bytes& out, const bytes& more) {
  out.insert(out.end(), more.begin(), more.end());
}

inline void append(base::byte_buffer& out, const bytes& more) {
  out.insert(out.end(), more.begin(), more.end());
}

inline void append_varlen(bytes& out, std::string_view s) {
  std::uint8_t prefix[3];
  auto n = ipfix::write_varlen_prefix(prefix, s.size());
  out.insert(out.end(), prefix, prefix + n);
  out.insert(out.end(), s.begin(), s.end());
}

inline void append_u32(bytes& out, std::uint32_t v) {
  std::uint8_t b[4];
  ipfix::write_u32(b, v);
  out.insert(out.end(), b, b + 4);
}

// -- messages and chunks ---------------------------------------------------------------

/// One message of `odid` with sequence number `seq`; `fill(builder)` writes its sets.
template <class F>
bytes message(std::uint32_t odid, std::uint32_t seq, F&& fill) {
  bytes out;
  ipfix::message_builder b(out);
  b.begin_message(export_time, seq, odid);
  fill(b);
  b.end_message();
  return out;
}

/// Writes a template set (set 2, or 3 for options templates) holding `defs`.
inline void template_set(ipfix::message_builder& b, std::initializer_list<template_def> defs) {
  b.begin_set(defs.begin()->is_options() ? ipfix::options_template_set_id : ipfix::template_set_id);
  for (auto& d : defs)
    b.add_template(d);
  b.end_set();
}

/// Writes a data set `id` holding `records`, then `padding` zero octets.
inline void data_set(ipfix::message_builder& b, std::uint16_t id, const std::vector<bytes>& records,
                     std::size_t padding = 0) {
  b.begin_set(id);
  for (auto& r : records)
    b.put_bytes(r);
  b.end_set(padding);
}

/// A chunk holding `content`, charged to `budgets` (none by default).
inline messages::chunk_ptr make_chunk(const bytes& content,
                                      messages::session_budgets budgets = {}) {
  auto c = std::make_shared<messages::chunk>(content.size(), std::move(budgets));
  if (!content.empty())
    std::memcpy(c->data(), content.data(), content.size());
  c->set_size(content.size());
  return c;
}

inline bytes concat(std::initializer_list<bytes> parts) {
  bytes out;
  for (auto& p : parts)
    append(out, p);
  return out;
}

inline messages::session_info_ptr ipv4_session(std::uint64_t id, std::uint8_t a, std::uint8_t b,
                                               std::uint8_t c, std::uint8_t d) {
  auto info = std::make_shared<messages::session_info>();
  info->id = id;
  info->proto = messages::transport::tcp;
  info->peer_v6 = v4(a, b, c, d);
  info->peer_v6[10] = 0xff;
  info->peer_v6[11] = 0xff;
  info->peer_is_v4 = true;
  info->peer_port = 40000;
  info->peer_text = std::to_string(a) + "." + std::to_string(b) + "." + std::to_string(c) + "." +
                    std::to_string(d) + ":40000";
  return info;
}

inline messages::session_info_ptr ipv6_session(std::uint64_t id,
                                               const std::array<std::uint8_t, 16>& addr) {
  auto info = std::make_shared<messages::session_info>();
  info->id = id;
  info->proto = messages::transport::tcp;
  info->peer_v6 = addr;
  info->peer_is_v4 = false;
  info->peer_port = 40000;
  info->peer_text = "[v6-peer]:40000";
  return info;
}

/// The records of a data set body of `def`, each as its own byte vector.
inline std::vector<bytes> records_of(const template_def& def, ipfix::bytes_view body) {
  ipfix::record_layout layout{def};
  ipfix::record_cursor cur{body, layout};
  ipfix::bytes_view rec;
  std::vector<bytes> out;
  while (cur.next(rec))
    out.emplace_back(rec.begin(), rec.end());
  EXPECT_EQ(cur.error(), ipfix::parse_error::none);
  EXPECT_EQ(cur.consumed(), body.size());
  return out;
}

/// The variable-length values of the records of a data set body, as the agent session
/// finds them for the enricher (ipfix::slice_records).
inline std::vector<ipfix::field_slice> varlen_values_of(const ipfix::record_layout& layout,
                                                        ipfix::bytes_view body) {
  std::vector<ipfix::field_slice> out;
  auto found = ipfix::slice_records(body, layout, out);
  EXPECT_EQ(found.error, ipfix::parse_error::none);
  EXPECT_EQ(found.consumed, body.size());
  return out;
}

/// Adds the records of `plan` in `body` (inside `b`'s chunk) to `b` as one slice, with
/// their variable-length values, as the agent session does.
inline void add_slice(messages::data_batch& b, const messages::template_plan_ptr& plan,
                      ipfix::bytes_view body) {
  const auto first = b.varlen.values.size();
  auto found = ipfix::slice_records(body, plan->layout, b.varlen.values);
  EXPECT_EQ(found.error, ipfix::parse_error::none);
  EXPECT_EQ(found.consumed, body.size());
  b.slices.push_back(
      {plan, body, static_cast<std::uint32_t>(found.records), static_cast<std::uint32_t>(first)});
}

/// Every record of an enriched payload, in order, with the id of its output template.
struct output_record {
  std::uint16_t template_id = 0;
  bytes data;
};

inline std::vector<output_record> records_of(const messages::enriched_payload& p) {
  std::vector<output_record> out;
  for (auto& s : p.sets) {
    ipfix::bytes_view body{p.bytes.data() + s.offset, s.length};
    auto recs = records_of(s.tmpl->def, body);
    EXPECT_EQ(recs.size(), s.records);
    for (auto& r : recs)
      out.push_back({s.tmpl->id, std::move(r)});
  }
  return out;
}

// -- what the enricher appends, and the Pods it finds ----------------------------------

/// What the enricher appends to an Antrea record: labels, clusterId, 405, 403, 404,
/// flowDirection.
inline bytes antrea_suffix(std::string_view src_labels, std::string_view dst_labels,
                           std::string_view cluster, std::uint32_t odid,
                           std::array<std::uint8_t, 4> exporter_v4,
                           std::array<std::uint8_t, 16> exporter_v6, std::uint8_t direction) {
  bytes s;
  append_varlen(s, src_labels);
  append_varlen(s, dst_labels);
  append_varlen(s, cluster);
  append_u32(s, odid);
  s.insert(s.end(), exporter_v4.begin(), exporter_v4.end());
  s.insert(s.end(), exporter_v6.begin(), exporter_v6.end());
  s.push_back(direction);
  return s;
}

/// An InterNode record from the source Node: only the source Pod is named.
inline flow inter_node_from_source() {
  flow f;
  f.src = v4(10, 244, 1, 5);
  f.dst = v4(10, 244, 2, 7);
  f.src_pod = "web-1";
  f.src_ns = "default";
  f.flow_type = 2;
  f.packets = 11;
  return f;
}

/// A Pod entry as the index makes it (sealed: its strings also in one block), or, with
/// `sealed` false, one with only the strings (the enricher reads those instead).
inline std::shared_ptr<const labels::pod_entry> pod(std::string name, std::string labels_json,
                                                    std::int64_t creation,
                                                    std::optional<std::int64_t> deletion = {},
                                                    bool sealed = true) {
  labels::pod_entry p;
  p.name = std::move(name);
  p.pod_namespace = "default";
  p.node_name = "kind-worker";
  p.labels_json = std::move(labels_json);
  p.creation = creation;
  p.deletion = deletion;
  if (sealed)
    labels::seal(p);
  return std::make_shared<const labels::pod_entry>(std::move(p));
}

inline labels::ip_key key4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  std::uint8_t x[4] = {a, b, c, d};
  return labels::ipv4_key(x);
}

} // namespace fa::test
