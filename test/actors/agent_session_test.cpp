// agent_session on the deterministic scheduler: frames in, data_batch out to a probe
// enricher (DESIGN 2; ipfix-rules.md: sets, templates, sequence numbers, malformed input).

#include "actors/agent_session.hpp"

#include "test/actors/test_util.hpp"
#include "test/ipfix/test_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace fa::actors::test {
namespace {

class agent_session_test : public actor_fixture {
 protected:
  agent_session_test() {
    probe = sys.spawn(enricher_probe);
    run();
  }

  agent_session_actor spawn_session(messages::session_info_ptr info,
                                    ipfix::template_store_config templates = {},
                                    enrichment_options enrichment = {},
                                    std::function<void()> on_end = nullptr,
                                    std::function<void(agent_session_config&)> tweak = nullptr) {
    agent_session_config c;
    c.info = std::move(info);
    c.enricher = probe;
    c.table = table;
    c.enrichment = std::move(enrichment);
    c.templates = templates;
    c.on_end = std::move(on_end);
    if (tweak)
      tweak(c);
    auto s = sys.spawn(agent_session, std::move(c));
    run();
    return s;
  }

  void send(const agent_session_actor& s, const bytes& content) {
    caf::anon_send(s, messages::frames{make_chunk(content)});
    run();
  }

  std::vector<messages::data_batch>& batches() {
    return state_of<enricher_probe_state>(probe).batches;
  }

  const messages::session_status& status(const agent_session_actor& s) {
    return state_of<agent_session_state>(s).status;
  }

  /// After a stream of `records` records in which `malformed` messages were discarded:
  /// every record counted, none lost, and one batch with a slice of `counts[k]` records
  /// per set kept, in order (call under ASSERT_NO_FATAL_FAILURE, then read batches()[0]).
  void expect_one_batch(const agent_session_actor& s, std::uint64_t malformed,
                        std::uint64_t records, const std::vector<std::uint32_t>& counts) {
    EXPECT_EQ(status(s).malformed, malformed);
    EXPECT_EQ(status(s).records, records);
    EXPECT_EQ(status(s).lost_records, 0u);
    ASSERT_EQ(batches().size(), 1u);
    const auto& batch = batches()[0];
    ASSERT_EQ(batch.slices.size(), counts.size());
    for (std::size_t k = 0; k < counts.size(); ++k)
      EXPECT_EQ(batch.slices[k].records, counts[k]) << "slice " << k;
  }

  std::shared_ptr<output_template_table> table = std::make_shared<output_template_table>();
  enricher_actor probe;
  messages::session_info_ptr info = ipv4_session(1, 192, 0, 2, 7);
};

/// The bodies of every slice of `b`, in order.
std::vector<bytes> bodies(const messages::data_batch& b) {
  std::vector<bytes> out;
  for (auto& s : b.slices)
    out.emplace_back(s.body.begin(), s.body.end());
  return out;
}

/// `n` varied records of `def`.
std::vector<bytes> varied_records(const template_def& def, std::size_t n, ipfix::test::lcg& next) {
  std::vector<bytes> out;
  while (out.size() < n) {
    bytes r;
    ipfix::message_builder b{r};
    ipfix::test::put_varied_record(b, def, next);
    out.push_back(std::move(r));
  }
  return out;
}

/// IPFIX messages of domain 1 back to back, each numbered by the data records before it
/// (RFC 7011 3.1).
struct message_stream {
  bytes content;
  std::uint32_t seq = 0;
  template <class Sets>
  void add(std::uint32_t records, Sets&& sets) {
    append(content, message(1, seq, sets));
    seq += records;
  }
};

/// Checks that each slice of `batch` carries the variable-length values a fresh walk of
/// its records finds, no entry shared by two slices; returns the records checked. (Sets
/// walked at once each have room for as many records as their body could hold, walked
/// ahead of sets that take their room after theirs, so the slices' values need be neither
/// in slice order nor back to back, issue 15.)
std::size_t expect_fresh_values(const messages::data_batch& batch) {
  std::size_t checked = 0;
  std::vector<std::pair<std::size_t, std::size_t>> ranges; // each slice's [first, end)
  for (const auto& slice : batch.slices) {
    const auto& layout = slice.plan->layout;
    const auto mine = batch.varlen_of(slice);
    EXPECT_EQ(mine.size(), slice.records * layout.num_varlen());
    if (mine.size() != slice.records * layout.num_varlen())
      return checked;
    if (!mine.empty())
      ranges.emplace_back(slice.first_varlen, slice.first_varlen + mine.size());
    ipfix::record_cursor cursor{slice.body, layout};
    ipfix::bytes_view rec;
    std::vector<ipfix::field_slice> fresh(layout.num_varlen());
    std::size_t r = 0;
    while (cursor.next(rec)) {
      ipfix::parse_error err;
      EXPECT_EQ(layout.walk_varlen(rec, fresh, err), rec.size());
      for (std::size_t k = 0; k < fresh.size() && r < slice.records; ++k) {
        const auto& got = mine[r * fresh.size() + k];
        EXPECT_EQ(got.offset, fresh[k].offset) << "record " << r << " value " << k;
        EXPECT_EQ(got.length, fresh[k].length) << "record " << r << " value " << k;
      }
      ++r;
      ++checked;
    }
    EXPECT_EQ(r, slice.records);
    EXPECT_EQ(cursor.consumed(), slice.body.size());
  }
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t i = 1; i < ranges.size(); ++i)
    EXPECT_LE(ranges[i - 1].second, ranges[i].first) << "values shared by two slices";
  // The whole vector is charged.
  EXPECT_EQ(batch.varlen.charged(), batch.varlen.values.capacity() * sizeof(ipfix::field_slice));
  return checked;
}

TEST_F(agent_session_test, template_and_data_in_one_message_make_one_batch) {
  auto s = spawn_session(info);
  auto t = plain_v4(256);
  auto r0 = plain_v4_record(1), r1 = plain_v4_record(2), r2 = plain_v4_record(3);
  auto m = message(77, 0, [&](auto& b) {
    template_set(b, {t});
    data_set(b, 256, {r0, r1, r2}, 3); // 3 octets of padding (RFC 7011 3.3.1)
  });
  send(s, m);
  ASSERT_EQ(batches().size(), 1u);
  auto& batch = batches()[0];
  EXPECT_EQ(batch.session, info);
  ASSERT_EQ(batch.slices.size(), 1u);
  auto& slice = batch.slices[0];
  EXPECT_EQ(slice.records, 3u);
  // The slice points into the shared chunk (no copy) and excludes the padding.
  ASSERT_NE(batch.data, nullptr);
  EXPECT_EQ(slice.body.data(), batch.data->data() + m.size() - 3 - 48);
  EXPECT_EQ(bodies(batch)[0], concat({r0, r1, r2}));
  ASSERT_NE(slice.plan, nullptr);
  EXPECT_EQ(slice.plan->odid, 77u);
  EXPECT_EQ(slice.plan->input, t);
  EXPECT_FALSE(slice.plan->antrea);
  ASSERT_NE(slice.plan->output, nullptr);
  EXPECT_EQ(slice.plan->output->id, 256u);
  auto want = t.fields;
  for (auto& f : provenance_specs())
    want.push_back(f);
  EXPECT_EQ(slice.plan->output->def.fields, want);
  auto& st = status(s);
  EXPECT_EQ(st.messages, 1u);
  EXPECT_EQ(st.records, 3u);
  EXPECT_EQ(st.bytes, m.size());
  EXPECT_EQ(st.templates, 1u);
  EXPECT_EQ(st.odids, std::vector<std::uint32_t>{77});
  EXPECT_EQ(st.malformed, 0u);
  EXPECT_EQ(st.unknown_template_sets, 0u);
  EXPECT_EQ(st.lost_records, 0u);
  EXPECT_EQ(st.peer, "192.0.2.7:40000");
  EXPECT_EQ(st.transport, "tcp");
}

TEST_F(agent_session_test, several_sets_and_messages_keep_their_order) {
  auto s = spawn_session(info);
  auto a = plain_v4(256);
  auto b = make_def(257, {iana(86, 8)});
  auto m1 = message(1, 0, [&](auto& mb) {
    template_set(mb, {a, b});
    data_set(mb, 256, {plain_v4_record(1), plain_v4_record(2)});
    data_set(mb, 257, {bytes(8, 0xaa)});
    data_set(mb, 256, {plain_v4_record(3)});
  });
  auto m2 = message(1, 4, [&](auto& mb) { data_set(mb, 257, {bytes(8, 0xbb), bytes(8, 0xcc)}); });
  send(s, concat({m1, m2}));
  // One chunk, one batch: every data set of both messages, in arrival order.
  ASSERT_EQ(batches().size(), 1u);
  auto& sl = batches()[0].slices;
  ASSERT_EQ(sl.size(), 4u);
  EXPECT_EQ(sl[0].plan->input.id, 256u);
  EXPECT_EQ(sl[0].records, 2u);
  EXPECT_EQ(sl[1].plan->input.id, 257u);
  EXPECT_EQ(sl[1].records, 1u);
  EXPECT_EQ(sl[2].plan->input.id, 256u);
  EXPECT_EQ(sl[2].records, 1u);
  EXPECT_EQ(sl[3].plan->input.id, 257u);
  EXPECT_EQ(sl[3].records, 2u);
  EXPECT_EQ(bodies(batches()[0])[3], concat({bytes(8, 0xbb), bytes(8, 0xcc)}));
  EXPECT_NE(sl[0].plan->output->id, sl[1].plan->output->id);
  auto& st = status(s);
  EXPECT_EQ(st.messages, 2u);
  EXPECT_EQ(st.records, 6u);
  EXPECT_EQ(st.lost_records, 0u);
  EXPECT_EQ(st.templates, 2u);
}

TEST_F(agent_session_test, two_odids_with_the_same_template_id_are_kept_apart) {
  auto s = spawn_session(info);
  auto wide = plain_v4(256);                  // 16 octets per record
  auto narrow = make_def(256, {iana(86, 8)}); // 8 octets per record
  auto m1 = message(1, 0, [&](auto& b) {
    template_set(b, {wide});
    data_set(b, 256, {plain_v4_record(1), plain_v4_record(2)});
  });
  auto m2 = message(2, 0, [&](auto& b) {
    template_set(b, {narrow});
    data_set(b, 256, {bytes(8, 1), bytes(8, 2), bytes(8, 3), bytes(8, 4)});
  });
  // The same 32 octets of data read with each ODID's own template.
  auto m3 = message(1, 2, [&](auto& b) { data_set(b, 256, {bytes(32, 9)}); });
  auto m4 = message(2, 4, [&](auto& b) { data_set(b, 256, {bytes(32, 9)}); });
  send(s, concat({m1, m2, m3, m4}));
  ASSERT_EQ(batches().size(), 1u);
  auto& sl = batches()[0].slices;
  ASSERT_EQ(sl.size(), 4u);
  EXPECT_EQ(sl[0].plan->odid, 1u);
  EXPECT_EQ(sl[0].records, 2u);
  EXPECT_EQ(sl[1].plan->odid, 2u);
  EXPECT_EQ(sl[1].records, 4u);
  EXPECT_EQ(sl[2].plan->odid, 1u);
  EXPECT_EQ(sl[2].plan->input, wide);
  EXPECT_EQ(sl[2].records, 2u);
  EXPECT_EQ(sl[3].plan->odid, 2u);
  EXPECT_EQ(sl[3].plan->input, narrow);
  EXPECT_EQ(sl[3].records, 4u);
  EXPECT_NE(sl[0].plan->output->id, sl[1].plan->output->id);
  auto& st = status(s);
  EXPECT_EQ(st.templates, 2u);
  EXPECT_EQ(st.odids, (std::vector<std::uint32_t>{1, 2}));
  EXPECT_EQ(st.lost_records, 0u);
  EXPECT_EQ(st.records, 12u);
}

TEST_F(agent_session_test, data_for_an_unknown_template_is_counted_and_not_forwarded) {
  auto s = spawn_session(info);
  send(s, message(1, 0, [&](auto& b) { data_set(b, 300, {plain_v4_record(1)}); }));
  EXPECT_TRUE(batches().empty());
  EXPECT_EQ(status(s).unknown_template_sets, 1u);
  EXPECT_EQ(status(s).records, 0u);
  EXPECT_EQ(status(s).messages, 1u);
  // Known and unknown in one message: only the known set goes on.
  send(s, message(1, 1, [&](auto& b) {
         template_set(b, {plain_v4(256)});
         data_set(b, 301, {plain_v4_record(1)});
         data_set(b, 256, {plain_v4_record(2)});
         data_set(b, 302, {plain_v4_record(3)});
       }));
  ASSERT_EQ(batches().size(), 1u);
  ASSERT_EQ(batches()[0].slices.size(), 1u);
  EXPECT_EQ(bodies(batches()[0])[0], plain_v4_record(2));
  EXPECT_EQ(status(s).unknown_template_sets, 3u);
  EXPECT_EQ(status(s).records, 1u);
  // A template of another ODID does not make the id known here.
  send(s, message(5, 0, [&](auto& b) { data_set(b, 256, {plain_v4_record(4)}); }));
  EXPECT_EQ(batches().size(), 1u);
  EXPECT_EQ(status(s).unknown_template_sets, 4u);
}

TEST_F(agent_session_test, a_malformed_message_is_discarded_alone) {
  auto s = spawn_session(info);
  auto t = plain_v4(256);
  // Variable-length name, then a counter: (name varlen, packetTotalCount).
  auto named = make_def(257, {antrea(101), iana(86, 8)});
  auto named_record = [](std::string_view name, std::uint64_t n) {
    bytes r;
    append_varlen(r, name);
    bytes c(8);
    ipfix::write_u64(c.data(), n);
    append(r, c);
    return r;
  };
  auto m1 = message(1, 0, [&](auto& b) {
    template_set(b, {t, named});
    data_set(b, 256, {plain_v4_record(1)});
    data_set(b, 257, {named_record("web-1", 2)});
  });
  // A good set, then a variable-length value running past its set.
  auto m2 = message(1, 2, [&](auto& b) {
    data_set(b, 256, {plain_v4_record(3)});
    bytes overrun = {20, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'};
    data_set(b, 257, {overrun});
  });
  // A record cut short inside its fixed field (10 of 14 octets).
  auto m3 = message(1, 4, [&](auto& b) {
    auto cut = named_record("abcde", 4);
    cut.resize(10);
    data_set(b, 257, {named_record("ok", 3), cut});
  });
  // A bad version with a correct length.
  auto m4 = message(1, 6, [&](auto& b) { data_set(b, 256, {plain_v4_record(5)}); });
  m4[1] = 9;
  auto m5 = message(1, 7, [&](auto& b) {
    data_set(b, 256, {plain_v4_record(6)});
    data_set(b, 257, {named_record("", 7)});
  });
  send(s, concat({m1, m2, m3, m4, m5}));
  ASSERT_EQ(batches().size(), 1u);
  auto got = bodies(batches()[0]);
  // Only m1 and m5 survive, whole; nothing of m2's good set.
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], plain_v4_record(1));
  EXPECT_EQ(got[1], named_record("web-1", 2));
  EXPECT_EQ(got[2], plain_v4_record(6));
  EXPECT_EQ(got[3], named_record("", 7));
  auto& st = status(s);
  EXPECT_EQ(st.malformed, 3u);
  EXPECT_EQ(st.messages, 5u);
  EXPECT_EQ(st.records, 4u);
  // The discarded messages' 5 records surface as a gap before m5 (sequence 7, expected 2).
  EXPECT_EQ(st.lost_records, 5u);
  // The session goes on with the next chunk.
  send(s, message(1, 9, [&](auto& b) { data_set(b, 256, {plain_v4_record(8)}); }));
  ASSERT_EQ(batches().size(), 2u);
  EXPECT_EQ(bodies(batches()[1])[0], plain_v4_record(8));
  EXPECT_EQ(status(s).lost_records, 5u);
}

TEST_F(agent_session_test, sequence_gaps_count_lost_records_per_odid) {
  auto s = spawn_session(info);
  auto t = plain_v4(256);
  auto recs = [](int n) {
    return std::vector<bytes>(static_cast<std::size_t>(n), plain_v4_record(1));
  };
  // Template records do not count (RFC 7011 3.1): a template-only message at 0, then
  // data at 0.
  send(s, message(1, 0, [&](auto& b) { template_set(b, {t}); }));
  send(s, message(1, 0, [&](auto& b) { data_set(b, 256, recs(3)); }));
  send(s, message(1, 3, [&](auto& b) { data_set(b, 256, recs(2)); }));
  EXPECT_EQ(status(s).lost_records, 0u);
  send(s, message(1, 10, [&](auto& b) { data_set(b, 256, recs(1)); })); // expected 5
  EXPECT_EQ(status(s).lost_records, 5u);
  EXPECT_EQ(status(s).out_of_order_messages, 0u);
  send(s, message(1, 8, [&](auto& b) { data_set(b, 256, recs(1)); })); // behind 11
  EXPECT_EQ(status(s).lost_records, 5u);
  EXPECT_EQ(status(s).out_of_order_messages, 1u);
  send(s, message(1, 11, [&](auto& b) { data_set(b, 256, recs(1)); }));
  EXPECT_EQ(status(s).lost_records, 5u);
  // Another ODID has its own count; its first message only sets the expectation.
  send(s, message(2, 1000, [&](auto& b) {
         template_set(b, {t});
         data_set(b, 256, recs(2));
       }));
  send(s, message(2, 1004, [&](auto& b) { data_set(b, 256, recs(1)); }));
  EXPECT_EQ(status(s).lost_records, 7u);
  // Modulo 2^32.
  send(s, message(3, 0xffffffffu, [&](auto& b) {
         template_set(b, {t});
         data_set(b, 256, recs(2));
       }));
  send(s, message(3, 1, [&](auto& b) { data_set(b, 256, recs(1)); }));
  EXPECT_EQ(status(s).lost_records, 7u);
  EXPECT_EQ(status(s).out_of_order_messages, 1u);
}

// Issue 16 defect 9: one message with a forged sequence number (0x7ffffff0) between
// in-order ones is a reset, counted apart; nothing is lost and the stream stays in order.
TEST_F(agent_session_test, a_forged_sequence_number_is_a_reset_not_a_loss) {
  auto s = spawn_session(info);
  auto t = plain_v4(256);
  auto recs = [](int n) {
    return std::vector<bytes>(static_cast<std::size_t>(n), plain_v4_record(1));
  };
  send(s, message(1, 0, [&](auto& b) {
         template_set(b, {t});
         data_set(b, 256, recs(2));
       }));
  send(s, message(1, 2, [&](auto& b) { data_set(b, 256, recs(2)); }));
  send(s, message(1, 0x7ffffff0u, [&](auto& b) { data_set(b, 256, recs(2)); }));
  for (std::uint32_t seq = 4; seq < 20; seq += 2)
    send(s, message(1, seq, [&](auto& b) { data_set(b, 256, recs(2)); }));
  EXPECT_EQ(status(s).lost_records, 0u);
  EXPECT_EQ(status(s).out_of_order_messages, 0u);
  EXPECT_EQ(status(s).sequence_resets, 1u);
  send(s, message(1, 23, [&](auto& b) { data_set(b, 256, recs(2)); })); // expected 20
  EXPECT_EQ(status(s).lost_records, 3u);
}

TEST_F(agent_session_test, a_template_flood_is_refused_without_harming_another_session) {
  ipfix::template_store_config small;
  small.max_templates = 4;
  auto a = spawn_session(info, small);
  auto other = ipv4_session(2, 192, 0, 2, 8);
  auto b = spawn_session(other);
  std::vector<template_def> flood;
  for (std::uint16_t i = 0; i < 10; ++i)
    flood.push_back(make_def(static_cast<std::uint16_t>(256 + i),
                             {iana(86, 8), iana(static_cast<std::uint16_t>(1000 + i), 4)}));
  send(a, message(1, 0, [&](auto& mb) {
         mb.begin_set(ipfix::template_set_id);
         for (auto& d : flood)
           mb.add_template(d);
         mb.end_set();
       }));
  EXPECT_EQ(status(a).templates, 4u);
  EXPECT_EQ(status(a).template_events, 6u); // six limit hits
  EXPECT_EQ(table->size(), 0u);             // no data yet: no output id (issue 16 defect 2)
  // Data for an accepted and a refused template.
  send(a, message(1, 0, [&](auto& mb) {
         data_set(mb, 256, {bytes(12, 1)});
         data_set(mb, 265, {bytes(12, 2)});
       }));
  ASSERT_EQ(batches().size(), 1u);
  ASSERT_EQ(batches()[0].slices.size(), 1u);
  EXPECT_EQ(batches()[0].slices[0].plan->input.id, 256u);
  EXPECT_EQ(status(a).unknown_template_sets, 1u);
  // The other session still accepts templates, the refused one included.
  send(b, message(1, 0, [&](auto& mb) {
         template_set(mb, {flood[9], flood[0]});
         data_set(mb, 265, {bytes(12, 3)});
         data_set(mb, 256, {bytes(12, 4)});
       }));
  ASSERT_EQ(batches().size(), 2u);
  ASSERT_EQ(batches()[1].slices.size(), 2u);
  EXPECT_EQ(batches()[1].session, other);
  EXPECT_EQ(status(b).templates, 2u);
  EXPECT_EQ(status(b).template_events, 0u);
  EXPECT_EQ(status(b).unknown_template_sets, 0u);
  // flood[0] is shared with session a; flood[9] is new.
  EXPECT_EQ(batches()[1].slices[1].plan->output, batches()[0].slices[0].plan->output);
  EXPECT_EQ(table->size(), 2u);
}

// Issue 16 defect 6: template state has a budget. An exporter's templates beyond its
// share, and anyone's beyond the process total, are refused and counted; what a session
// holds comes back when it ends.
TEST_F(agent_session_test, templates_beyond_the_budget_are_refused_and_counted) {
  std::vector<template_def> flood;
  for (std::uint16_t i = 0; i < 10; ++i)
    flood.push_back(make_def(static_cast<std::uint16_t>(256 + i),
                             {iana(86, 8), iana(static_cast<std::uint16_t>(1000 + i), 4)}));
  const auto cost = ipfix::template_footprint(flood[0]);
  auto process = std::make_shared<ipfix::template_budget>(5 * cost);
  ipfix::template_store_config cfg;
  cfg.quota = {std::make_shared<ipfix::template_budget>(3 * cost), process};
  auto a = spawn_session(info, cfg);
  auto other = cfg;
  other.quota.exporter = std::make_shared<ipfix::template_budget>(100 * cost);
  auto b = spawn_session(ipv4_session(2, 192, 0, 2, 8), other);
  auto define_all = [&](const agent_session_actor& s) {
    send(s, message(1, 0, [&](auto& mb) {
           mb.begin_set(ipfix::template_set_id);
           for (auto& d : flood)
             mb.add_template(d);
           mb.end_set();
         }));
  };
  define_all(a); // its exporter's share holds 3
  EXPECT_EQ(status(a).templates, 3u);
  EXPECT_EQ(status(a).template_events, 7u);
  EXPECT_EQ(status(a).template_bytes, 3 * cost);
  define_all(b); // the process total holds 2 more
  EXPECT_EQ(status(b).templates, 2u);
  EXPECT_EQ(status(b).template_events, 8u);
  EXPECT_EQ(process->used(), 5 * cost);
  // Data for a refused template is data for an unknown template.
  send(b, message(1, 0, [&](auto& mb) { data_set(mb, 265, {bytes(12, 1)}); }));
  EXPECT_EQ(status(b).unknown_template_sets, 1u);
  // The end of a session gives its charge back: b can define the rest of its share.
  caf::anon_send(a, caf::close_atom_v, std::string{"eof"});
  run();
  EXPECT_EQ(process->used(), 2 * cost);
  EXPECT_EQ(cfg.quota.exporter->used(), 0u);
  define_all(b);
  EXPECT_EQ(status(b).templates, 5u);
  EXPECT_EQ(process->used(), 5 * cost);
}

// Issue 16 defect 2: 17 connections each defining 4,096 templates (no data) took all
// 65,280 output ids, and every record of a fresh exporter was then dropped as data for
// an "unknown template". The same attack on a table of 8 ids: a template takes an id
// only when data first needs one, so the fresh exporter's records all go through.
TEST_F(agent_session_test, templates_without_data_hold_no_output_id) {
  table = std::make_shared<output_template_table>(263); // ids 256..263
  std::vector<agent_session_actor> hostile;
  for (std::uint8_t k = 0; k < 4; ++k) {
    hostile.push_back(spawn_session(ipv4_session(10 + k, 198, 51, 100, 1 + k)));
    send(hostile.back(), message(1, 0, [&](auto& mb) {
           mb.begin_set(ipfix::template_set_id);
           for (std::uint16_t i = 0; i < 16; ++i)
             mb.add_template(
                 make_def(static_cast<std::uint16_t>(256 + i),
                          {iana(86, 8), iana(static_cast<std::uint16_t>(1000 + 16 * k + i), 4)}));
           mb.end_set();
         }));
    EXPECT_EQ(status(hostile.back()).templates, 16u);
  }
  EXPECT_EQ(table->size(), 0u);
  auto fresh = spawn_session(info);
  send(fresh, message(1, 0, [&](auto& mb) {
         template_set(mb, {plain_v4(256)});
         data_set(mb, 256, {plain_v4_record(1), plain_v4_record(2), plain_v4_record(3)});
       }));
  ASSERT_EQ(batches().size(), 1u);
  ASSERT_EQ(batches()[0].slices.size(), 1u);
  EXPECT_EQ(batches()[0].slices[0].records, 3u);
  ASSERT_NE(batches()[0].slices[0].plan->output, nullptr);
  EXPECT_EQ(status(fresh).unknown_template_sets, 0u);
  EXPECT_EQ(status(fresh).no_output_id_sets, 0u);
  EXPECT_EQ(table->size(), 1u);
}

// With every output id in use by data, a set is dropped for want of an id, counted as
// what it is (not as an unknown template); ids no data used within output_id_idle go
// back, and then the waiting template gets one.
TEST_F(agent_session_test, ids_run_out_only_under_data_and_idle_ones_come_back) {
  table = std::make_shared<output_template_table>(257); // two ids
  auto idle = [](agent_session_config& c) { c.output_id_idle = std::chrono::minutes{1}; };
  auto a = make_def(256, {iana(86, 8)});
  auto b = make_def(257, {iana(1, 8)});
  auto c = make_def(258, {iana(2, 8)});
  auto s = spawn_session(info, {}, {}, nullptr, idle);
  send(s, message(1, 0, [&](auto& mb) {
         template_set(mb, {a, b, c});
         data_set(mb, 256, {bytes(8, 1)});
         data_set(mb, 257, {bytes(8, 2)});
         data_set(mb, 258, {bytes(8, 3), bytes(8, 4)});
       }));
  ASSERT_EQ(batches().size(), 1u);
  EXPECT_EQ(batches()[0].slices.size(), 2u);
  EXPECT_EQ(status(s).no_output_id_sets, 1u);
  EXPECT_EQ(status(s).unknown_template_sets, 0u);
  EXPECT_EQ(status(s).records, 4u); // received, then dropped for want of an id
  EXPECT_EQ(status(s).lost_records, 0u);
  batches().clear();
  // Template a stays in use, b falls idle. The session sweeps when it hears from its
  // reader (at most every quarter of the idle time).
  sched.advance_time(std::chrono::seconds{40});
  send(s, message(1, 4, [&](auto& mb) { data_set(mb, 256, {bytes(8, 5)}); }));
  batches().clear();
  EXPECT_EQ(table->size(), 2u);
  sched.advance_time(std::chrono::seconds{30});
  send(s, message(1, 5, [&](auto& mb) { data_set(mb, 258, {bytes(8, 6)}); }));
  EXPECT_EQ(table->size(), 2u) << "a and c; b's id was given back and taken by c";
  ASSERT_EQ(batches().size(), 1u);
  ASSERT_EQ(batches()[0].slices.size(), 1u);
  EXPECT_EQ(batches()[0].slices[0].plan->output->id, 257u); // b's id, reused
  EXPECT_EQ(batches()[0].slices[0].plan->input, c);
  EXPECT_EQ(status(s).no_output_id_sets, 1u);
}

TEST_F(agent_session_test, a_withdrawal_removes_the_plan) {
  auto s = spawn_session(info);
  auto a = plain_v4(256);
  auto b = make_def(257, {iana(86, 8)});
  auto data = [&](std::uint32_t seq) {
    return message(1, seq, [&](auto& mb) {
      data_set(mb, 256, {plain_v4_record(1)});
      data_set(mb, 257, {bytes(8, 7)});
    });
  };
  send(s, message(1, 0, [&](auto& mb) { template_set(mb, {a, b}); }));
  send(s, data(0));
  ASSERT_EQ(batches().size(), 1u);
  EXPECT_EQ(batches()[0].slices.size(), 2u);
  // RFC 7011 8.1: field count 0 withdraws one template.
  send(s, message(1, 2, [&](auto& mb) {
         mb.begin_set(ipfix::template_set_id);
         mb.add_withdrawal(256);
         mb.end_set();
       }));
  EXPECT_EQ(status(s).templates, 1u);
  send(s, data(2));
  ASSERT_EQ(batches().size(), 2u);
  ASSERT_EQ(batches()[1].slices.size(), 1u);
  EXPECT_EQ(batches()[1].slices[0].plan->input.id, 257u);
  EXPECT_EQ(status(s).unknown_template_sets, 1u);
  // A withdrawal of an id that is not live is counted as a template event.
  send(s, message(1, 4, [&](auto& mb) {
         mb.begin_set(ipfix::template_set_id);
         mb.add_withdrawal(400);
         mb.end_set();
       }));
  EXPECT_EQ(status(s).template_events, 1u);
  // Template id 2 in set 2 withdraws all templates.
  send(s, message(1, 4, [&](auto& mb) {
         mb.begin_set(ipfix::template_set_id);
         mb.add_withdrawal(ipfix::template_set_id);
         mb.end_set();
       }));
  EXPECT_EQ(status(s).templates, 0u);
  send(s, data(4));
  EXPECT_EQ(batches().size(), 2u);
  EXPECT_EQ(status(s).unknown_template_sets, 3u);
  // The id may be defined again, with another layout.
  auto a2 = make_def(256, {iana(86, 8), iana(2, 8)});
  send(s, message(1, 4, [&](auto& mb) {
         template_set(mb, {a2});
         data_set(mb, 256, {bytes(16, 3)});
       }));
  ASSERT_EQ(batches().size(), 3u);
  EXPECT_EQ(batches()[2].slices[0].plan->input, a2);
  EXPECT_EQ(status(s).template_events, 1u);
}

TEST_F(agent_session_test, withdrawals_are_ignored_over_udp) {
  ipfix::template_store_config udp;
  udp.transport = ipfix::transport_kind::udp;
  auto s = spawn_session(info, udp);
  send(s, message(1, 0, [&](auto& mb) { template_set(mb, {plain_v4(256)}); }));
  send(s, message(1, 0, [&](auto& mb) {
         mb.begin_set(ipfix::template_set_id);
         mb.add_withdrawal(256);
         mb.end_set();
         data_set(mb, 256, {plain_v4_record(1)});
       }));
  ASSERT_EQ(batches().size(), 1u);
  EXPECT_EQ(status(s).templates, 1u);
  EXPECT_EQ(status(s).template_events, 1u); // ignored_withdrawal
  // RFC 7011 8.4: a new definition replaces the old one.
  auto narrow = make_def(256, {iana(86, 8)});
  send(s, message(1, 1, [&](auto& mb) {
         template_set(mb, {narrow});
         data_set(mb, 256, {bytes(16, 5)});
       }));
  ASSERT_EQ(batches().size(), 2u);
  EXPECT_EQ(batches()[1].slices[0].plan->input, narrow);
  EXPECT_EQ(batches()[1].slices[0].records, 2u);
  EXPECT_EQ(status(s).template_events, 1u);
}

TEST_F(agent_session_test, a_redefinition_over_tcp_is_counted_and_used) {
  auto s = spawn_session(info);
  send(s, message(1, 0, [&](auto& mb) {
         template_set(mb, {plain_v4(256)});
         template_set(mb, {plain_v4(256)}); // a refresh: harmless
       }));
  EXPECT_EQ(status(s).template_events, 0u);
  auto narrow = make_def(256, {iana(86, 8)});
  send(s, message(1, 0, [&](auto& mb) {
         template_set(mb, {narrow}); // no withdrawal first: an exporter error (RFC 7011 8)
         data_set(mb, 256, {bytes(16, 1)});
       }));
  EXPECT_EQ(status(s).template_events, 1u);
  EXPECT_EQ(status(s).templates, 1u);
  ASSERT_EQ(batches().size(), 1u);
  EXPECT_EQ(batches()[0].slices[0].plan->input, narrow);
  EXPECT_EQ(batches()[0].slices[0].records, 2u);
}

TEST_F(agent_session_test, identical_templates_share_one_output_template) {
  auto s1 = spawn_session(info);
  auto s2 = spawn_session(ipv4_session(2, 192, 0, 2, 8));
  auto t = plain_v4(256);
  auto same_fields_other_id = plain_v4(300);
  send(s1, message(1, 0, [&](auto& mb) {
         template_set(mb, {t});
         data_set(mb, 256, {plain_v4_record(1)});
       }));
  send(s2, message(9, 0, [&](auto& mb) {
         template_set(mb, {same_fields_other_id, make_def(301, {iana(86, 8)})});
         data_set(mb, 300, {plain_v4_record(2)});
         data_set(mb, 301, {bytes(8, 1)});
       }));
  ASSERT_EQ(batches().size(), 2u);
  auto& p1 = batches()[0].slices[0].plan;
  auto& p2 = batches()[1].slices[0].plan;
  EXPECT_NE(p1, p2); // plans are per (session, ODID, id)
  EXPECT_EQ(p2->odid, 9u);
  EXPECT_EQ(p1->output, p2->output);
  EXPECT_EQ(p1->output->id, 256u);
  EXPECT_EQ(p1->output->def.id, 256u);
  EXPECT_EQ(batches()[1].slices[1].plan->output->id, 257u);
  EXPECT_EQ(table->size(), 2u);
}

TEST_F(agent_session_test, output_ids_are_recycled_only_when_nothing_uses_them) {
  // One id, so the freed one must be taken again (fresh ids come first otherwise).
  table = std::make_shared<output_template_table>(256);
  auto s = spawn_session(info);
  send(s, message(1, 0, [&](auto& mb) {
         template_set(mb, {plain_v4(256)});
         data_set(mb, 256, {plain_v4_record(1)});
       }));
  ASSERT_EQ(batches().size(), 1u);
  caf::anon_send(s, caf::close_atom_v, std::string{"eof"});
  s = agent_session_actor{};
  run();
  // The probe still holds a batch whose plan holds the output template.
  EXPECT_EQ(table->size(), 1u);
  batches().clear();
  EXPECT_EQ(table->size(), 0u);
  auto s2 = spawn_session(info);
  send(s2, message(1, 0, [&](auto& mb) {
         template_set(mb, {make_def(256, {iana(86, 8)})});
         data_set(mb, 256, {bytes(8, 1)});
       }));
  ASSERT_EQ(batches().size(), 1u);
  EXPECT_EQ(batches()[0].slices[0].plan->output->id, 256u); // the freed id again
}

TEST_F(agent_session_test, options_templates_pass_through_with_nothing_appended) {
  auto s = spawn_session(info);
  // Scope: observationDomainId; then exportedMessageTotalCount.
  auto opt = make_def(258, {iana(149, 4), iana(41, 8)}, 1);
  auto rec = bytes{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 42};
  send(s, message(1, 0, [&](auto& mb) {
         template_set(mb, {opt});
         data_set(mb, 258, {rec});
       }));
  ASSERT_EQ(batches().size(), 1u);
  auto& plan = *batches()[0].slices[0].plan;
  EXPECT_EQ(plan.input, opt);
  EXPECT_FALSE(plan.append.any());
  EXPECT_FALSE(plan.antrea);
  EXPECT_EQ(plan.output->def.fields, opt.fields);
  EXPECT_EQ(plan.output->def.scope_count, 1u);
  EXPECT_EQ(bodies(batches()[0])[0], rec);
  // A data template with the same fields is another output template.
  send(s, message(1, 0, [&](auto& mb) {
         template_set(mb, {make_def(259, {iana(149, 4), iana(41, 8)})});
         data_set(mb, 259, {rec});
       }));
  ASSERT_EQ(batches().size(), 2u);
  EXPECT_NE(batches()[1].slices[0].plan->output, plan.output);
  EXPECT_EQ(batches()[1].slices[0].plan->output->def.fields.size(), 5u);
}

TEST_F(agent_session_test, close_ends_the_session_once) {
  int ended = 0;
  auto s = spawn_session(info, {}, {}, [&] { ++ended; });
  EXPECT_EQ(ended, 0);
  caf::anon_send(s, caf::close_atom_v, std::string{"eof"});
  run();
  EXPECT_EQ(ended, 1);
  s = agent_session_actor{};
  run();
  EXPECT_EQ(ended, 1);
}

// Over UDP a template that expires (RFC 7011 8.4) takes its plan with it: data for it is
// counted as unknown-template data. Here the store's limit (1) makes the UDP store expire
// template 256 (lifetime 0) to make room for 257.
TEST_F(agent_session_test, data_for_an_expired_udp_template_is_unknown) {
  ipfix::template_store_config udp;
  udp.transport = ipfix::transport_kind::udp;
  udp.max_templates = 1;
  udp.udp_lifetime = std::chrono::seconds{0};
  auto s = spawn_session(info, udp);
  send(s, message(1, 0, [&](auto& mb) { template_set(mb, {plain_v4(256)}); }));
  send(s, message(1, 0, [&](auto& mb) { template_set(mb, {make_def(257, {iana(86, 8)})}); }));
  EXPECT_EQ(status(s).templates, 1u);
  send(s, message(1, 0, [&](auto& mb) { data_set(mb, 256, {plain_v4_record(1)}); }));
  EXPECT_TRUE(batches().empty());
  EXPECT_EQ(status(s).unknown_template_sets, 1u);
}

// A message whose length is below 16 (here 0) is malformed and ends the chunk; it must
// not stall the actor (RFC 7011 9.1: never trust a length before checking it).
TEST_F(agent_session_test, a_message_length_below_the_header_does_not_hang) {
  auto s = spawn_session(info);
  auto good = message(1, 0, [&](auto& mb) {
    template_set(mb, {plain_v4(256)});
    data_set(mb, 256, {plain_v4_record(1)});
  });
  auto bad = message(1, 1, [&](auto& mb) { data_set(mb, 256, {plain_v4_record(2)}); });
  bad[2] = 0;
  bad[3] = 0;
  send(s, concat({good, bad}));
  EXPECT_EQ(status(s).malformed, 1u);
  ASSERT_EQ(batches().size(), 1u);
  EXPECT_EQ(batches()[0].slices.size(), 1u);
}

// A last message whose length runs past the chunk is malformed, and nothing past the
// chunk is read or forwarded.
TEST_F(agent_session_test, a_message_running_past_the_chunk_is_malformed) {
  auto s = spawn_session(info);
  auto good = message(1, 0, [&](auto& mb) {
    template_set(mb, {plain_v4(256)});
    data_set(mb, 256, {plain_v4_record(1)});
  });
  auto cut = message(1, 1, [&](auto& mb) { data_set(mb, 256, {plain_v4_record(2)}); });
  cut.resize(cut.size() - 8);
  send(s, concat({good, cut}));
  EXPECT_EQ(status(s).malformed, 1u);
  ASSERT_EQ(batches().size(), 1u);
  EXPECT_EQ(batches()[0].slices.size(), 1u);
}

// Issue 15: the session walks each record once and hands the enricher every record's
// variable-length values; they must be exactly what a fresh walk of the slice finds,
// whatever the mix of templates (fixed ones have none), prefixes (1 or 3 octets),
// padding, and messages discarded as malformed between good ones. They pin their octets
// in the session's budget until the batch goes (DESIGN 3).
TEST_F(agent_session_test, each_slice_carries_the_variable_length_values_of_its_records) {
  auto s = spawn_session(info);
  const std::vector<template_def> defs{
      make_def(256, {iana(8, 4), antrea(101), antrea(100), iana(7, 2), antrea(103), iana(86, 8)}),
      make_def(257, {antrea(101)}), plain_v4(258),
      make_def(259, {antrea(101), iana(4, 1), antrea(102)})};
  ipfix::test::lcg next{7};
  auto record_of = [&](const template_def& def) {
    bytes r;
    ipfix::message_builder b{r};
    ipfix::test::put_varied_record(b, def, next);
    return r;
  };
  auto budget = std::make_shared<messages::byte_budget>(1 << 24);
  std::uint32_t seq = 0;
  std::size_t malformed = 0;
  for (int chunk = 0; chunk < 6; ++chunk) {
    bytes content;
    if (chunk == 0)
      append(content, message(1, seq, [&](auto& b) {
               template_set(b, {defs[0], defs[1], defs[2], defs[3]});
             }));
    for (int m = 0; m < 5; ++m) {
      std::uint32_t records = 0;
      const bool bad = m == 2 && chunk % 2 == 1; // discarded whole (RFC 7011 9.1)
      append(content, message(1, seq, [&](auto& b) {
               for (int set = 0; set < 3; ++set) {
                 const auto& def = defs[next() % defs.size()];
                 std::vector<bytes> recs;
                 for (auto n = 1 + next() % 5; n > 0; --n)
                   recs.push_back(record_of(def));
                 records += static_cast<std::uint32_t>(recs.size());
                 const auto min = ipfix::record_layout{def}.min_length();
                 data_set(b, def.id, recs, next() % 2 ? next() % min : 0);
               }
               data_set(b, 999, {plain_v4_record(1)}); // unknown template: skipped
               if (bad)
                 data_set(b, 257, {bytes{40, 'x'}}); // a value running past its set
             }));
      if (bad)
        ++malformed;
      else
        seq += records;
    }
    caf::anon_send(s, messages::frames{make_chunk(content, {budget, nullptr})});
    run();
  }
  EXPECT_EQ(status(s).malformed, malformed);
  ASSERT_EQ(batches().size(), 6u);
  std::size_t checked = 0;
  for (const auto& batch : batches())
    checked += expect_fresh_values(batch);
  EXPECT_EQ(checked, status(s).records);
  EXPECT_LT(budget->available(), budget->limit());
  batches().clear();
  EXPECT_EQ(budget->available(), budget->limit());
}

// The batch's values are sized once, for as many records as the rest of the chunk could
// hold (the room the walk gives each set), so a chunk with more values per octet than the
// one before does not regrow the vector: a regrowth moved every value walked so far
// (issue 15). Chunk 1 holds few values per octet (long strings), chunk 2 many (empty).
TEST_F(agent_session_test, a_batch_reserves_its_values_once_for_the_whole_chunk) {
  auto s = spawn_session(info);
  const auto def = make_def(256, {iana(8, 4), antrea(101), antrea(102)});
  const ipfix::record_layout layout{def};
  auto record_of = [](std::size_t len) {
    bytes r;
    ipfix::message_builder b{r};
    b.put_u32(7);
    b.put_string(std::string(len, 'p'));
    b.put_string("");
    return r;
  };
  send(s, message(1, 0, [&](auto& b) { template_set(b, {def}); }));
  auto budget = std::make_shared<messages::byte_budget>(1 << 24);
  std::uint32_t seq = 0;
  for (const std::size_t len : {200, 0}) {
    bytes content;
    for (int m = 0; m < 8; ++m) {
      const std::vector<bytes> recs(30, record_of(len));
      append(content, message(1, seq, [&](auto& b) { data_set(b, 256, recs); }));
      seq += 30;
    }
    caf::anon_send(s, messages::frames{make_chunk(content, {budget, nullptr})});
    run();
    ASSERT_FALSE(batches().empty());
    const auto& batch = batches().back();
    EXPECT_EQ(expect_fresh_values(batch), 240u);
    // The first set's body starts after a message header and a set header (RFC 7011 3).
    EXPECT_EQ(batch.varlen.values.capacity(),
              (content.size() - 20) / layout.min_length() * layout.num_varlen())
        << "strings of " << len;
  }
  EXPECT_EQ(status(s).lost_records, 0u);
}

// The data sets of consecutive messages of one template are walked two at a time, side by
// side (issue 15): each slice still gets exactly its own records' values when the set
// walked ahead is malformed (its message alone is discarded), when the one it was walked
// beside is, and when the template is redefined between the walk ahead and the set's turn
// (the set is walked again with the new template).
TEST_F(agent_session_test, sets_walked_side_by_side_get_their_own_values) {
  auto s = spawn_session(info);
  const auto old_def = make_def(257, {antrea(101), iana(4, 1), antrea(102)});
  const auto new_def = make_def(257, {iana(4, 1), antrea(101)});
  ipfix::test::lcg next{11};
  auto records_of = [&](const template_def& def, std::size_t n) {
    return varied_records(def, n, next);
  };
  // Values running past their set, in each template.
  const bytes old_overrun{40, 'x', 'y', 'z'}, new_overrun{1, 40, 'x', 'y'};
  auto with = [](std::vector<bytes> recs, const bytes& last) {
    recs.push_back(last);
    return recs;
  };
  message_stream stream;
  // Paired: (m2, m3), (m4, m5's first set), (m5's second set, m6), (m7, m8).
  stream.add(0, [&](auto& b) { template_set(b, {old_def}); });
  stream.add(5, [&](auto& b) { data_set(b, 257, records_of(old_def, 5), 1); });
  stream.add(0, [&](auto& b) { data_set(b, 257, with(records_of(old_def, 2), old_overrun)); });
  stream.add(4, [&](auto& b) { data_set(b, 257, records_of(old_def, 4)); });
  stream.add(5, [&](auto& b) {
    data_set(b, 257, records_of(old_def, 3));
    data_set(b, 257, records_of(old_def, 2));
    template_set(b, {new_def}); // after the next message's set was walked with old_def
  });
  const auto renamed = records_of(new_def, 4);
  stream.add(4, [&](auto& b) { data_set(b, 257, renamed); });
  stream.add(0, [&](auto& b) { data_set(b, 257, with(records_of(new_def, 1), new_overrun)); });
  stream.add(3, [&](auto& b) { data_set(b, 257, records_of(new_def, 3)); });
  // Last, a message whose length is below its header's, with a set of the same template
  // that claims more octets than the chunk holds: not walked ahead, nor at all.
  auto cut = message(1, stream.seq, [&](auto& b) { data_set(b, 257, records_of(new_def, 40)); });
  ipfix::write_u16(cut.data() + 2, 5);
  cut.resize(24);
  append(stream.content, cut);
  send(s, stream.content);
  ASSERT_NO_FATAL_FAILURE(expect_one_batch(s, 3, stream.seq, {5, 4, 3, 2, 4, 3}));
  const auto& batch = batches()[0];
  EXPECT_EQ(batch.slices[4].plan->input, new_def);
  bytes want;
  for (const auto& r : renamed)
    append(want, r);
  EXPECT_EQ(bodies(batch)[4], want);
  EXPECT_EQ(expect_fresh_values(batch), stream.seq);
}

// Up to four messages' data sets of one template are walked at once (issue 15): each
// slice still gets exactly its own records' values when a set walked ahead belongs to a
// message discarded as malformed by its set (RFC 7011 9.1) or by its framing (a later set's
// length), when sets walked together have different numbers of records, and when the
// template is redefined after three messages were walked ahead with it (each is walked
// again with the new one).
TEST_F(agent_session_test, up_to_four_sets_walked_at_once_get_their_own_values) {
  auto s = spawn_session(info);
  const auto old_def = make_def(257, {antrea(101), iana(4, 1), antrea(102), antrea(103)});
  const auto new_def = make_def(257, {iana(4, 1), antrea(101)});
  ipfix::test::lcg next{23};
  auto records_of = [&](const template_def& def, std::size_t n) {
    return varied_records(def, n, next);
  };
  const bytes overrun{40, 'x', 'y', 'z'}; // a value running past its set (old_def)
  message_stream stream;
  // Walked together: (m1, m2, m3, m4), (m5, m6, m7, m8), then m6 and m7 again alone,
  // (m8, m9, m10), and m12 alone.
  stream.add(0, [&](auto& b) { template_set(b, {old_def}); });
  stream.add(5, [&](auto& b) { data_set(b, 257, records_of(old_def, 5), 1); });
  stream.add(0, [&](auto& b) {
    auto recs = records_of(old_def, 2);
    recs.push_back(overrun);
    data_set(b, 257, recs);
  });
  { // a message whose second set claims 3 octets: the message is malformed
    auto m = message(1, stream.seq, [&](auto& b) { data_set(b, 257, records_of(old_def, 9)); });
    const bytes bad_set{1, 1, 0, 3};
    append(m, bad_set);
    ipfix::write_u16(m.data() + 2, static_cast<std::uint16_t>(m.size()));
    append(stream.content, m);
  }
  stream.add(3, [&](auto& b) { data_set(b, 257, records_of(old_def, 3)); });
  stream.add(1, [&](auto& b) {
    data_set(b, 257, records_of(old_def, 1));
    template_set(b, {new_def}); // after the next three messages' sets were walked
  });
  std::vector<std::vector<bytes>> renamed;
  for (std::size_t n : {4, 2, 7, 6, 1}) {
    renamed.push_back(records_of(new_def, n));
    stream.add(static_cast<std::uint32_t>(n), [&](auto& b) { data_set(b, 257, renamed.back()); });
  }
  stream.add(0, [&](auto& b) { data_set(b, 999, {plain_v4_record(1)}); }); // unknown: ends the walk
  stream.add(2, [&](auto& b) { data_set(b, 257, records_of(new_def, 2)); });
  send(s, stream.content);
  ASSERT_NO_FATAL_FAILURE(expect_one_batch(s, 2, stream.seq, {5, 3, 1, 4, 2, 7, 6, 1, 2}));
  const auto& batch = batches()[0];
  const auto got = bodies(batch);
  for (std::size_t k = 0; k < renamed.size(); ++k) {
    EXPECT_EQ(batch.slices[3 + k].plan->input, new_def) << "slice " << 3 + k;
    bytes want;
    for (const auto& r : renamed[k])
      append(want, r);
    EXPECT_EQ(got[3 + k], want) << "slice " << 3 + k;
  }
  EXPECT_EQ(expect_fresh_values(batch), stream.seq);
}

// A message discarded as malformed (RFC 7011 9.1) after its data set was walked beside
// the next messages' sets (issue 15) takes only its own values with it: the sets walked
// ahead keep theirs, whether its first set was malformed or a later one.
TEST_F(agent_session_test, sets_walked_ahead_keep_their_values_when_the_set_before_is_bad) {
  auto s = spawn_session(info);
  const auto def = make_def(257, {antrea(101), iana(4, 1), antrea(102)});
  ipfix::test::lcg next{31};
  auto records_of = [&](std::size_t n) { return varied_records(def, n, next); };
  const bytes overrun{40, 'x', 'y', 'z'}; // a value running past its set
  message_stream stream;
  stream.add(0, [&](auto& b) { template_set(b, {def}); });
  // Walked together: (m1, m2, m3, m4), m1's set malformed.
  stream.add(0, [&](auto& b) {
    auto recs = records_of(3);
    recs.push_back(overrun);
    data_set(b, 257, recs);
  });
  stream.add(4, [&](auto& b) { data_set(b, 257, records_of(4)); });
  stream.add(2, [&](auto& b) { data_set(b, 257, records_of(2)); });
  stream.add(5, [&](auto& b) { data_set(b, 257, records_of(5)); });
  // Walked together: (m5, m6, m7), then m5's second set alone, malformed.
  stream.add(0, [&](auto& b) {
    data_set(b, 257, records_of(3));
    data_set(b, 257, {overrun});
  });
  stream.add(2, [&](auto& b) { data_set(b, 257, records_of(2)); });
  stream.add(6, [&](auto& b) { data_set(b, 257, records_of(6)); });
  send(s, stream.content);
  ASSERT_NO_FATAL_FAILURE(expect_one_batch(s, 2, stream.seq, {4, 2, 5, 2, 6}));
  EXPECT_EQ(expect_fresh_values(batches()[0]), stream.seq);
}

} // namespace
} // namespace fa::actors::test
