// libFuzzer entry point for the IPFIX codec: the input is a stream of messages, as a TCP
// session would deliver it. Every length comes from the fuzzer; nothing may crash, leak
// or trip a sanitizer, and the invariants below must hold.

#include "ipfix/message.hpp"
#include "ipfix/record.hpp"
#include "ipfix/record_json.hpp"
#include "ipfix/sequence_tracker.hpp"
#include "ipfix/template.hpp"
#include "ipfix/template_store.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace {

using namespace fa::ipfix;

/// An invariant of the codec; a failure is a bug the fuzzer must report.
void check(bool ok) {
  if (!ok)
    __builtin_trap();
}

template_store_config store_config(transport_kind transport) {
  template_store_config cfg;
  cfg.transport = transport;
  cfg.max_templates = 64;
  cfg.udp_lifetime = std::chrono::seconds(30);
  return cfg;
}

struct session {
  template_store tcp{store_config(transport_kind::tcp)};
  template_store udp{store_config(transport_kind::udp)};
  sequence_tracker sequences;
  std::vector<field_slice> slices;
  std::vector<field_slice> varlen; ///< slice_records' output
  std::vector<field_slice> side;   ///< the in-place walk's output
  std::vector<std::uint8_t> encoded;
  std::vector<std::uint16_t> removed;
  std::string json;
};

void on_template_set(session& s, std::uint32_t odid, const set_view& set,
                     clock_type::time_point now) {
  (void)parse_template_set(set.id, set.body, [&](template_record&& rec) {
    if (!rec.withdrawal) {
      // What parsed must encode to a record that parses back to the same definition.
      s.encoded.clear();
      encode_template_record(rec.def, s.encoded);
      check(s.encoded.size() == rec.def.encoded_size());
      std::size_t pos = 0;
      template_record again;
      bool done = false;
      check(parse_template_record(set.id, s.encoded, pos, again, done) == parse_error::none);
      check(!done && pos == s.encoded.size() && again.def == rec.def);
    }
    s.removed.clear();
    (void)s.tcp.apply(odid, set.id, rec, now, &s.removed);
    (void)s.udp.apply(odid, set.id, rec, now);
  });
}

/// The agent session's walk of up to four sets at once (slice_records_in_place) must
/// find for each what slice_records finds alone: here the set itself, its first three
/// quarters, its second half, and what follows its first octets (cut mid-record, so
/// lanes end and stop at different records); each set's values in its own room, after
/// what the vector held.
void check_side_by_side(session& s, bytes_view body, const record_layout& layout) {
  const std::array<bytes_view, max_side_by_side> bodies{
      body, body.first(body.size() * 3 / 4), body.subspan(body.size() / 2),
      body.subspan(std::min<std::size_t>(body.size(), 5))};
  for (std::size_t n = 1; n <= bodies.size(); ++n) {
    s.side.assign(1, field_slice{3, 3}); // appended to
    std::array<std::size_t, max_side_by_side> starts;
    std::array<sliced_records, max_side_by_side> found;
    slice_records_in_place({bodies.data(), n}, layout, s.side, {starts.data(), n},
                           {found.data(), n});
    check(s.side[0].offset == 3 && starts[0] == 1);
    for (std::size_t i = 0; i < n; ++i) {
      s.varlen.clear();
      const auto want = slice_records(bodies[i], layout, s.varlen);
      check(found[i].error == want.error && found[i].records == want.records &&
            found[i].consumed == want.consumed);
      if (want.error != parse_error::none)
        continue;
      check(starts[i] + s.varlen.size() <= s.side.size());
      for (std::size_t k = 0; k < s.varlen.size(); ++k)
        check(s.side[starts[i] + k].offset == s.varlen[k].offset &&
              s.side[starts[i] + k].length == s.varlen[k].length);
    }
  }
}

std::uint32_t on_data_set(session& s, const template_def& def, const set_view& set) {
  record_layout layout(def);
  check(layout.num_fields() == def.fields.size());
  check(layout.min_length() == def.min_record_length());
  s.slices.assign(layout.num_fields(), field_slice{});
  // The agent session's one walk (issue 15) must find what the cursor finds, and each
  // record's variable-length values where the field-by-field walk finds them.
  s.varlen.clear();
  const auto found = slice_records(set.body, layout, s.varlen);
  record_cursor cursor(set.body, layout);
  bytes_view rec;
  std::uint32_t n = 0;
  while (cursor.next(rec)) {
    ++n;
    check(rec.size() >= layout.min_length());
    layout.slice(rec, s.slices);
    if (found.error == parse_error::none) {
      const std::span<const field_slice> mine{s.varlen.data() + (n - 1) * layout.num_varlen(),
                                              layout.num_varlen()};
      check(layout.record_length(mine) == rec.size());
      for (std::size_t i = 0, k = 0; i < s.slices.size(); ++i) {
        if (def.fields[i].is_varlen()) {
          check(mine[k].offset == s.slices[i].offset && mine[k].length == s.slices[i].length);
          ++k;
        }
        const auto at = layout.located(i, mine);
        check(at.offset == s.slices[i].offset && at.length == s.slices[i].length);
      }
    }
    for (std::size_t i = 0; i < s.slices.size(); ++i) {
      const auto& f = s.slices[i];
      check(std::size_t{f.offset} + f.length <= rec.size());
      // field() walks from the start; cross-check the first fields only (quadratic).
      if (i < 64) {
        const auto one = layout.field(rec, i);
        check(one.offset == f.offset && one.length == f.length);
      }
      if (!def.fields[i].is_varlen())
        check(f.length == def.fields[i].length);
    }
    s.json.clear();
    append_record_json(s.json, def, layout, rec);
    check(nlohmann::json::accept(s.json));
  }
  check(cursor.consumed() <= set.body.size());
  check(found.error == cursor.error());
  if (found.error == parse_error::none) {
    check(found.records == n && found.consumed == cursor.consumed());
    check(s.varlen.size() == n * layout.num_varlen());
  }
  parse_error err;
  const auto counted = count_records(set.body, layout, err);
  check(err == cursor.error());
  check(err != parse_error::none || counted == n);
  check_side_by_side(s, set.body, layout);
  return n;
}

void on_message(session& s, const message_view& msg) {
  const auto& h = msg.header();
  const auto now = clock_type::time_point{} + std::chrono::seconds(h.export_time);
  std::uint32_t records = 0;
  std::size_t sets = 0;
  msg.for_each_set([&](const set_view& set) {
    ++sets;
    check(set.body.data() >= msg.bytes().data() &&
          set.body.data() + set.body.size() <= msg.bytes().data() + msg.bytes().size());
    if (set.kind() != set_kind::data_set) {
      on_template_set(s, h.observation_domain_id, set, now);
      return;
    }
    for (auto* store : {&s.tcp, &s.udp})
      if (const auto* def = store->find(h.observation_domain_id, set.id, now))
        records += on_data_set(s, **def, set);
  });
  check(sets == msg.num_sets());
  (void)s.sequences.observe(h.observation_domain_id, h.sequence, records);
  (void)s.udp.expire(now + std::chrono::seconds(10));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const bytes_view input(data, size);
  message_view datagram;
  if (message_view::parse_datagram(input, datagram) == parse_error::none)
    check(datagram.bytes().size() == size);

  session s;
  std::size_t pos = 0;
  while (pos < size) {
    message_view msg;
    if (message_view::parse(input.subspan(pos), msg) != parse_error::none)
      break;
    check(msg.bytes().size() >= message_header_size);
    on_message(s, msg);
    pos += msg.bytes().size();
  }
  s.tcp.clear();
  return 0;
}
