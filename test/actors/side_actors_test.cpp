// The side actors (label_cache, template_registry, jsonl_sink) and the inspection
// replies of the data-path actors.

#include "actors/agent_session.hpp"
#include "actors/enricher.hpp"
#include "actors/jsonl_sink.hpp"
#include "actors/label_cache.hpp"
#include "actors/template_registry.hpp"

#include "test/actors/test_util.hpp"
#include "test/support/varlen_values.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace fa::actors::test {
namespace {

using side_actors_test = actor_fixture;

TEST_F(side_actors_test, label_cache_pushes_its_snapshot_to_a_new_subscriber_at_once) {
  auto cache = sys.spawn(label_cache, label_cache_config{});
  auto e1 = sys.spawn(enricher_probe);
  auto e2 = sys.spawn(enricher_probe);
  run();
  caf::anon_send(cache, caf::subscribe_atom_v, e1);
  run();
  auto& got1 = state_of<enricher_probe_state>(e1).snapshots;
  ASSERT_EQ(got1.size(), 1u);
  ASSERT_NE(got1[0], nullptr);
  EXPECT_EQ(got1[0]->num_ips(), 0u);
  caf::anon_send(cache, caf::subscribe_atom_v, e2);
  run();
  auto& got2 = state_of<enricher_probe_state>(e2).snapshots;
  ASSERT_EQ(got2.size(), 1u);
  EXPECT_EQ(got2[0], got1[0]); // the same immutable snapshot, shared
  EXPECT_EQ(got1.size(), 1u);
  EXPECT_EQ(request<std::uint64_t>(cache, caf::get_atom_v), 0u);
}

TEST_F(side_actors_test, template_registry_reports_live_output_templates) {
  auto table = std::make_shared<output_template_table>();
  auto reg = sys.spawn(template_registry, table);
  run();
  EXPECT_EQ(request<std::uint64_t>(reg, caf::get_atom_v), 0u);
  auto a = table->intern(plain_v4(0));
  auto b = table->intern(make_def(0, {iana(86, 8)}));
  auto a2 = table->intern(plain_v4(999)); // the id of the layout does not matter
  EXPECT_EQ(a, a2);
  EXPECT_EQ(request<std::uint64_t>(reg, caf::get_atom_v), 2u);
  a.reset();
  a2.reset();
  EXPECT_EQ(request<std::uint64_t>(reg, caf::get_atom_v), 1u);
}

// Fresh ids first, then the one freed longest ago: a downstream collector sees an id
// redefined only when every id has been used (issue 16 defect 2; tshark and ipfixDump do
// not follow a redefinition within a transport session).
TEST_F(side_actors_test, output_ids_are_fresh_first_then_oldest_freed_first) {
  auto table = std::make_shared<output_template_table>(258); // ids 256, 257, 258
  auto a = table->intern(make_def(0, {iana(1, 8)}));
  auto b = table->intern(make_def(0, {iana(2, 8)}));
  EXPECT_EQ(a->id, 256u);
  EXPECT_EQ(b->id, 257u);
  b.reset();
  a.reset(); // freed: 257, then 256
  auto c = table->intern(make_def(0, {iana(3, 8)}));
  EXPECT_EQ(c->id, 258u) << "a fresh id before a freed one";
  auto d = table->intern(make_def(0, {iana(4, 8)}));
  auto e = table->intern(make_def(0, {iana(5, 8)}));
  EXPECT_EQ(d->id, 257u);
  EXPECT_EQ(e->id, 256u);
  EXPECT_EQ(table->intern(make_def(0, {iana(6, 8)})), nullptr) << "all three in use";
}

TEST_F(side_actors_test, data_path_actors_answer_inspection_requests) {
  auto probe = sys.spawn(enricher_probe);
  auto d = sys.spawn(destination_probe);
  run();
  agent_session_config ac;
  ac.info = ipv4_session(5, 192, 0, 2, 9);
  ac.enricher = probe;
  ac.table = std::make_shared<output_template_table>();
  auto s = sys.spawn(agent_session, std::move(ac));
  enricher_config ec;
  ec.destinations = {d};
  auto e = sys.spawn(enricher, std::move(ec));
  run();
  caf::anon_send(s, messages::frames{make_chunk(message(3, 0, [&](auto& b) {
                   template_set(b, {plain_v4(256)});
                   data_set(b, 256, {plain_v4_record(1), plain_v4_record(2)});
                 }))});
  run();
  auto st = request<messages::session_status>(s, caf::get_atom_v);
  EXPECT_EQ(st.id, 5u);
  EXPECT_EQ(st.records, 2u);
  EXPECT_EQ(st.templates, 1u);
  EXPECT_EQ(st.odids, std::vector<std::uint32_t>{3});
  EXPECT_GT(st.since, 0);
  // Hand the probe's batch to the real enricher and ask it.
  auto batch = state_of<enricher_probe_state>(probe).batches.at(0);
  caf::anon_send(e, std::move(batch));
  run();
  auto es = request<messages::enricher_status>(e, caf::get_atom_v);
  EXPECT_EQ(es.batches, 1u);
  EXPECT_EQ(es.records_in, 2u);
  EXPECT_EQ(es.records_out, 2u);
  EXPECT_EQ(state_of<destination_probe_state>(d).payloads.size(), 1u);
}

TEST_F(side_actors_test, an_incomplete_session_config_stops_the_session) {
  agent_session_config ac; // no info, table or enricher
  auto s = sys.spawn(agent_session, std::move(ac));
  run();
  auto* ptr = caf::actor_cast<caf::abstract_actor*>(s);
  ASSERT_NE(ptr, nullptr);
  EXPECT_TRUE(ptr->getf(caf::abstract_actor::is_terminated_flag));
}

class jsonl_sink_test : public actor_fixture {
 protected:
  ~jsonl_sink_test() override {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }

  std::string path = (std::filesystem::temp_directory_path() /
                      ("fa-actors-jsonl-" + std::to_string(::getpid()) + ".jsonl"))
                         .string();
};

TEST_F(jsonl_sink_test, writes_one_json_object_per_record) {
  auto sink = sys.spawn(jsonl_sink, jsonl_sink_config{"j", path, nullptr});
  run();
  auto table = std::make_shared<output_template_table>();
  auto p = std::make_shared<messages::enriched_payload>();
  auto tmpl = table->intern(plain_v4(0));
  for (std::uint64_t i = 1; i <= 3; ++i)
    append(p->bytes, plain_v4_record(i * 10, static_cast<std::uint8_t>(i)));
  p->sets.push_back({tmpl, 0, 32, 2});
  p->sets.push_back({tmpl, 32, 16, 1});
  p->records = 3;
  caf::anon_send(sink, messages::enriched_batch{p, nullptr});
  run();
  auto st = request<messages::destination_status>(sink, caf::get_atom_v);
  EXPECT_EQ(st.sent_records, 3u);
  EXPECT_EQ(st.state, "connected");
  EXPECT_EQ(st.url, "jsonl:" + path);
  EXPECT_TRUE(request<bool>(sink, drain_atom_v));
  std::ifstream in{path};
  std::string line;
  std::vector<nlohmann::json> lines;
  while (std::getline(in, line))
    lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(lines[i].is_object());
    EXPECT_EQ(lines[i].at("packetTotalCount").get<std::uint64_t>(), (i + 1) * 10) << i;
  }
  EXPECT_EQ(st.sent_bytes, std::filesystem::file_size(path));
}

// Records with variable-length values, once walked and once by the values the enricher
// hands over (enriched_payload varlen): the same lines.
TEST_F(jsonl_sink_test, writes_the_same_lines_from_the_values_handed_over) {
  auto sink = sys.spawn(jsonl_sink, jsonl_sink_config{"j", path, nullptr});
  run();
  auto table = std::make_shared<output_template_table>();
  auto p = std::make_shared<messages::enriched_payload>();
  auto tmpl = table->intern(antrea_def(0));
  for (std::uint8_t i = 1; i <= 3; ++i) {
    auto f = inter_node_from_source();
    f.src_ns = std::string(i * 100, 'n'); // 3-octet prefixes from the second on
    append(p->bytes, antrea_record(f));
  }
  p->sets.push_back({tmpl, 0, static_cast<std::uint32_t>(p->bytes.size()), 3});
  p->records = 3;
  caf::anon_send(sink, messages::enriched_batch{p, nullptr});
  auto given = fa::test::with_values(*p);
  ASSERT_FALSE(given->varlen.empty());
  caf::anon_send(sink, messages::enriched_batch{given, nullptr});
  run();
  EXPECT_TRUE(request<bool>(sink, drain_atom_v));
  EXPECT_EQ(request<messages::destination_status>(sink, caf::get_atom_v).sent_records, 6u);
  std::ifstream in{path};
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  ASSERT_EQ(lines.size(), 6u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(lines[i + 3], lines[i]) << i;
    EXPECT_EQ(nlohmann::json::parse(lines[i]).at("sourcePodNamespace").get<std::string>().size(),
              (i + 1) * 100);
  }
}

TEST_F(jsonl_sink_test, an_unwritable_path_stops_the_sink) {
  auto sink = sys.spawn(jsonl_sink, jsonl_sink_config{"j", "/nonexistent-dir/x.jsonl", nullptr});
  run();
  auto* ptr = caf::actor_cast<caf::abstract_actor*>(sink);
  ASSERT_NE(ptr, nullptr);
  EXPECT_TRUE(ptr->getf(caf::abstract_actor::is_terminated_flag));
}

} // namespace
} // namespace fa::actors::test
