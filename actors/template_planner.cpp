#include "actors/template_planner.hpp"

#include "ipfix/elements.hpp"
#include "ipfix/message.hpp"

namespace fa::actors {

using ipfix::antrea_pen;
using ipfix::field_spec;
using ipfix::iana_pen;
using ipfix::varlen;
namespace ie = ipfix::ie;
namespace antrea_ie = ipfix::antrea_ie;

std::vector<field_spec> appended_specs(const messages::appended_fields& a) {
  std::vector<field_spec> out;
  if (a.pod_labels) {
    out.push_back({antrea_ie::source_pod_labels, varlen, antrea_pen});
    out.push_back({antrea_ie::destination_pod_labels, varlen, antrea_pen});
  }
  if (a.cluster_id)
    out.push_back({antrea_ie::cluster_id, varlen, antrea_pen});
  if (a.original_odid)
    out.push_back({ie::original_observation_domain_id, 4, iana_pen});
  if (a.original_ipv4)
    out.push_back({ie::original_exporter_ipv4_address, 4, iana_pen});
  if (a.original_ipv6)
    out.push_back({ie::original_exporter_ipv6_address, 16, iana_pen});
  if (a.flow_direction)
    out.push_back({ie::flow_direction, 1, iana_pen});
  return out;
}

namespace {

// Only a full-size field is usable as an address or a timestamp; a reduced-size one
// (RFC 7011 6.2) is passed through but not interpreted.
void note_field(messages::template_plan& p, const field_spec& f, messages::field_index i) {
  auto set = [&](messages::field_index& slot, std::uint16_t want_len) {
    if (slot < 0 && (want_len == 0 || f.length == want_len))
      slot = i;
  };
  if (f.enterprise == iana_pen) {
    switch (f.id) {
    case ie::source_ipv4_address:
      set(p.source_ipv4, 4);
      break;
    case ie::destination_ipv4_address:
      set(p.destination_ipv4, 4);
      break;
    case ie::source_ipv6_address:
      set(p.source_ipv6, 16);
      break;
    case ie::destination_ipv6_address:
      set(p.destination_ipv6, 16);
      break;
    case ie::flow_start_seconds:
      set(p.flow_start_seconds, 4);
      break;
    case ie::flow_start_milliseconds:
      set(p.flow_start_milliseconds, 8);
      break;
    default:
      break;
    }
  } else if (f.enterprise == antrea_pen) {
    switch (f.id) {
    case antrea_ie::flow_type:
      set(p.flow_type, 1);
      break;
    case antrea_ie::source_pod_name:
      set(p.source_pod_name, 0);
      break;
    case antrea_ie::source_pod_namespace:
      set(p.source_pod_namespace, 0);
      break;
    case antrea_ie::source_node_name:
      set(p.source_node_name, 0);
      break;
    case antrea_ie::destination_pod_name:
      set(p.destination_pod_name, 0);
      break;
    case antrea_ie::destination_pod_namespace:
      set(p.destination_pod_namespace, 0);
      break;
    case antrea_ie::destination_node_name:
      set(p.destination_node_name, 0);
      break;
    default:
      break;
    }
  }
}

bool has_field(const ipfix::template_def& t, std::uint32_t pen, std::uint16_t id) {
  for (auto& f : t.fields)
    if (f.enterprise == pen && f.id == id)
      return true;
  return false;
}

} // namespace

messages::template_plan_ptr plan_template(const ipfix::template_def& input, std::uint32_t odid,
                                          const enrichment_options& opts) {
  auto p = std::make_shared<messages::template_plan>();
  p->odid = odid;
  p->input = input;
  p->layout = ipfix::record_layout{input};
  for (std::size_t i = 0; i < input.fields.size() && i < 0x7fff; ++i)
    note_field(*p, input.fields[i], static_cast<messages::field_index>(i));
  // RFC 7011 3.4.2: options records are passed through, never enriched.
  if (!input.is_options()) {
    bool has_antrea = false;
    for (auto& f : input.fields)
      has_antrea |= f.enterprise == antrea_pen;
    p->antrea = opts.antrea && has_antrea;
    auto& a = p->append;
    // A field the input already carries is kept as it came: behind a chain of
    // mediators the first one's provenance is the true origin (RFC 7119 4).
    auto absent = [&](std::uint32_t pen, std::uint16_t id) { return !has_field(input, pen, id); };
    bool has_addresses = (p->source_ipv4 >= 0 && p->destination_ipv4 >= 0) ||
                         (p->source_ipv6 >= 0 && p->destination_ipv6 >= 0);
    a.pod_labels = (p->antrea || (opts.labels_for_foreign_records && has_addresses)) &&
                   absent(antrea_pen, antrea_ie::source_pod_labels) &&
                   absent(antrea_pen, antrea_ie::destination_pod_labels);
    a.cluster_id = p->antrea && absent(antrea_pen, antrea_ie::cluster_id);
    a.original_odid =
        opts.provenance && absent(iana_pen, ipfix::ie::original_observation_domain_id);
    a.original_ipv4 =
        opts.provenance && absent(iana_pen, ipfix::ie::original_exporter_ipv4_address);
    a.original_ipv6 =
        opts.provenance && absent(iana_pen, ipfix::ie::original_exporter_ipv6_address);
    a.flow_direction = p->antrea && absent(iana_pen, ipfix::ie::flow_direction);
  }
  if (output_layout(*p).encoded_size() + ipfix::message_header_size + ipfix::set_header_size >
      ipfix::max_message_size)
    return nullptr;
  return p;
}

ipfix::template_def output_layout(const messages::template_plan& plan) {
  ipfix::template_def out;
  out.scope_count = plan.input.scope_count;
  out.fields = plan.input.fields;
  for (auto& f : appended_specs(plan.append))
    out.fields.push_back(f);
  return out;
}

messages::template_plan_ptr bind_output(const messages::template_plan& plan,
                                        output_template_table& table) {
  auto out = table.intern(output_layout(plan));
  if (!out)
    return nullptr;
  auto p = std::make_shared<messages::template_plan>(plan);
  p->output = std::move(out);
  return p;
}

messages::template_plan_ptr unbind_output(const messages::template_plan& plan) {
  auto p = std::make_shared<messages::template_plan>(plan);
  p->output = nullptr;
  return p;
}

} // namespace fa::actors
