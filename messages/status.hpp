#pragma once

// Inspection replies. Plain values: they are copied once per request, never per record.

#include <cstdint>
#include <string>
#include <vector>

namespace fa::messages {

/// One field of a template, by its numbers (names are looked up where they are shown).
struct template_field {
  std::uint32_t enterprise = 0;
  std::uint16_t id = 0;
  std::uint16_t length = 0; ///< 65535 = variable length (RFC 7011 7)
};

/// An input template of a session and the output template it is forwarded with.
struct template_mapping {
  std::uint32_t odid = 0;
  std::uint16_t input_id = 0;
  std::uint16_t output_id = 0;
  bool options = false;
  bool antrea = false; ///< Antrea semantics apply (PEN 56506 elements)
  std::vector<template_field> input;
  std::vector<template_field> appended; ///< after the input fields, in this order
};

struct session_status {
  std::uint64_t id = 0;
  std::string transport;
  std::string peer;
  std::vector<std::uint32_t> odids;
  std::uint64_t templates = 0;
  /// What the live templates are charged to the template budget (octets).
  std::uint64_t template_bytes = 0;
  std::uint64_t messages = 0;
  std::uint64_t records = 0;
  std::uint64_t bytes = 0;
  std::uint64_t lost_records = 0; ///< sequence gaps (RFC 7011 10.3)
  std::uint64_t out_of_order_messages = 0;
  /// Messages whose sequence number jumped implausibly far (ipfix::sequence_tracker).
  std::uint64_t sequence_resets = 0;
  std::uint64_t malformed = 0; ///< messages or sets discarded as malformed
  std::uint64_t unknown_template_sets = 0;
  /// Data sets dropped because no output template id was free (issue 16 defect 2).
  std::uint64_t no_output_id_sets = 0;
  std::uint64_t template_events = 0; ///< redefinitions, unknown withdrawals, limit hits
  /// UDP: datagrams dropped on receipt because the session's or the process's byte
  /// budget was spent (UDP cannot push back; DESIGN 3).
  std::uint64_t budget_drops = 0;
  std::int64_t since = 0; ///< unix seconds
  /// Filled only on request (the templates view), not kept up to date per message.
  std::vector<template_mapping> template_mappings;
};

struct destination_status {
  std::string name;
  std::string url;
  std::string state; ///< "connected", "connecting", "backoff", "stopped"
  std::uint64_t queued_bytes = 0;
  std::uint64_t queued_batches = 0;
  std::uint64_t queued_records = 0;
  std::uint64_t sent_records = 0;
  std::uint64_t sent_messages = 0;
  std::uint64_t sent_bytes = 0;
  std::uint64_t dropped_records = 0;
  /// Records queued again after a connection ended (each is counted in sent_records
  /// again when written again).
  std::uint64_t replayed_records = 0;
  std::uint64_t reconnects = 0;
  std::uint64_t connections = 0;
  std::uint64_t templates_announced = 0;
};

struct enricher_status {
  std::uint64_t batches = 0;
  std::uint64_t records_in = 0;
  std::uint64_t records_out = 0;
  std::uint64_t dropped_invalid_addresses = 0; ///< antrea-proxy-semantics.md 2 step 1
  std::uint64_t dropped_no_start_time = 0;     ///< step 2
  std::uint64_t dropped_too_large = 0;         ///< enriched record would not fit a message
  std::uint64_t label_lookups = 0;
  std::uint64_t label_hits = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, template_field& x) {
  return f(x.enterprise, x.id, x.length);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, template_mapping& x) {
  return f(x.odid, x.input_id, x.output_id, x.options, x.antrea, x.input, x.appended);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_status& x) {
  return f(x.id, x.transport, x.peer, x.odids, x.templates, x.template_bytes, x.messages, x.records,
           x.bytes, x.lost_records, x.out_of_order_messages, x.sequence_resets, x.malformed,
           x.unknown_template_sets, x.no_output_id_sets, x.template_events, x.budget_drops, x.since,
           x.template_mappings);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, destination_status& x) {
  return f(x.name, x.url, x.state, x.queued_bytes, x.queued_batches, x.queued_records,
           x.sent_records, x.sent_messages, x.sent_bytes, x.dropped_records, x.replayed_records,
           x.reconnects, x.connections, x.templates_announced);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, enricher_status& x) {
  return f(x.batches, x.records_in, x.records_out, x.dropped_invalid_addresses,
           x.dropped_no_start_time, x.dropped_too_large, x.label_lookups, x.label_hits);
}

} // namespace fa::messages
