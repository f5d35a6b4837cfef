#include "labels/lookup_arena.hpp"
#include "labels/pod_index.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>

namespace fa::labels {
namespace {

pod_info pod(std::string uid, std::string name, std::vector<std::string> ips,
             std::int64_t creation) {
  pod_info p;
  p.uid = std::move(uid);
  p.pod_namespace = "default";
  p.name = std::move(name);
  p.node_name = "node-1";
  p.labels = {{"app", p.name}};
  p.creation = creation;
  p.ips = std::move(ips);
  p.phase = "Running";
  return p;
}

ip_key ip(const std::string& text) {
  auto k = parse_ip(text);
  EXPECT_TRUE(k) << text;
  return k.value_or(ip_key{});
}

// The name of the Pod that had `addr` at `t`, or "" when none.
std::string who(const pod_index& index, const std::string& addr, std::int64_t t) {
  const auto* e = index.snapshot()->lookup(ip(addr), t);
  return e ? e->name : "";
}

TEST(parse_ip, v4_mapped_and_v6) {
  auto k = ip("10.1.2.3");
  ip_key want{};
  want[10] = want[11] = 0xff;
  want[12] = 10;
  want[13] = 1;
  want[14] = 2;
  want[15] = 3;
  EXPECT_EQ(k, want);
  EXPECT_EQ(ip("::ffff:10.1.2.3"), want);
  auto v6 = ip("fd00::1");
  EXPECT_EQ(v6[0], 0xfd);
  EXPECT_EQ(v6[15], 1);
  EXPECT_FALSE(parse_ip("10.1.2"));
  EXPECT_FALSE(parse_ip(""));
}

TEST(pod_index, lookup_fields_and_labels_json) {
  pod_index index;
  auto p = pod("u1", "web", {"10.0.0.5"}, 100);
  p.labels = {{"tier", "front"}, {"app", "web<1>"}, {"tier", "back"}};
  index.upsert(p, 150);
  const auto* e = index.snapshot()->lookup(ip("10.0.0.5"), 200);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name, "web");
  EXPECT_EQ(e->pod_namespace, "default");
  EXPECT_EQ(e->node_name, "node-1");
  EXPECT_EQ(e->creation, 100);
  EXPECT_FALSE(e->deletion);
  EXPECT_EQ(e->labels_json, R"({"app":"web\u003c1\u003e","tier":"back"})");
  EXPECT_EQ(index.snapshot()->lookup(ip("10.0.0.6"), 200), nullptr);
}

TEST(pod_index, no_labels_is_empty_object) {
  pod_index index;
  auto p = pod("u1", "bare", {"10.0.0.5"}, 100);
  p.labels.clear();
  index.upsert(p, 100);
  EXPECT_EQ(index.snapshot()->lookup(ip("10.0.0.5"), 100)->labels_json, "{}");
}

TEST(pod_index, labels_encoded_on_upsert_and_shared_by_snapshots) {
  pod_index index;
  index.upsert(pod("u1", "a", {"10.0.0.1"}, 100), 100);
  auto s1 = index.snapshot();
  const auto* e1 = s1->lookup(ip("10.0.0.1"), 100);
  ASSERT_NE(e1, nullptr);
  EXPECT_EQ(e1->labels_json, R"({"app":"a"})");
  // Another snapshot of the same state holds the same entry: nothing re-encoded.
  index.upsert(pod("u2", "b", {"10.0.0.2"}, 100), 100);
  auto s2 = index.snapshot();
  EXPECT_NE(s1, s2);
  EXPECT_EQ(s2->lookup(ip("10.0.0.1"), 100), e1);
  // A label change is visible after the next upsert.
  auto changed = pod("u1", "a", {"10.0.0.1"}, 100);
  changed.labels = {{"app", "a"}, {"v", "2"}};
  index.upsert(changed, 110);
  EXPECT_EQ(index.snapshot()->lookup(ip("10.0.0.1"), 100)->labels_json, R"({"app":"a","v":"2"})");
  // The old snapshot is immutable.
  EXPECT_EQ(s1->lookup(ip("10.0.0.1"), 100)->labels_json, R"({"app":"a"})");
}

TEST(pod_index, snapshot_cached_until_change) {
  pod_index index;
  index.upsert(pod("u1", "a", {"10.0.0.1"}, 100), 100);
  auto s1 = index.snapshot();
  EXPECT_EQ(index.snapshot(), s1);
  index.remove("u1", 200);
  auto s2 = index.snapshot();
  EXPECT_NE(s2, s1);
  EXPECT_FALSE(s1->lookup(ip("10.0.0.1"), 0)->deletion);
  EXPECT_EQ(s2->lookup(ip("10.0.0.1"), 0)->deletion, 200);
}

TEST(pod_index, ip_reuse_resolved_by_time) {
  pod_index index;
  index.upsert(pod("old", "old-pod", {"10.0.0.7"}, 100), 100);
  index.remove("old", 200);
  index.upsert(pod("new", "new-pod", {"10.0.0.7"}, 210), 210);
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(index.num_ips(), 1u);
  EXPECT_EQ(who(index, "10.0.0.7", 150), "old-pod");
  EXPECT_EQ(who(index, "10.0.0.7", 199), "old-pod");
  EXPECT_EQ(who(index, "10.0.0.7", 205), ""); // between the two: no Pod had it
  EXPECT_EQ(who(index, "10.0.0.7", 211), "new-pod");
  EXPECT_EQ(who(index, "10.0.0.7", 100), ""); // creation < t is strict
  EXPECT_EQ(who(index, "10.0.0.7", 90), "");
}

TEST(pod_index, single_candidate_whatever_t) {
  pod_index index;
  index.upsert(pod("u1", "only", {"10.0.0.9"}, 1000), 1000);
  EXPECT_EQ(who(index, "10.0.0.9", 0), "only"); // before creation (clock skew)
  EXPECT_EQ(who(index, "10.0.0.9", 1000), "only");
  index.remove("u1", 2000);
  EXPECT_EQ(who(index, "10.0.0.9", 5000), "only"); // after deletion, still retained
}

TEST(pod_index, retention_expiry) {
  pod_index index; // 300 s
  EXPECT_EQ(index.retention(), 300);
  index.upsert(pod("u1", "gone", {"10.0.0.1"}, 100), 100);
  index.upsert(pod("u2", "live", {"10.0.0.2"}, 100), 100);
  index.remove("u1", 1000);
  EXPECT_EQ(index.expire(1300), 0u); // exactly 5 minutes: still kept
  EXPECT_EQ(who(index, "10.0.0.1", 1250), "gone");
  EXPECT_EQ(index.expire(1301), 1u);
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.num_ips(), 1u);
  EXPECT_EQ(who(index, "10.0.0.1", 1250), "");
  EXPECT_EQ(who(index, "10.0.0.2", 100000), "live"); // live Pods never expire
  EXPECT_EQ(index.expire(100000), 0u);
}

TEST(pod_index, retention_configurable) {
  pod_index index(10);
  index.upsert(pod("u1", "a", {"10.0.0.1"}, 100), 100);
  index.remove("u1", 200);
  index.remove("u1", 205); // a repeated delete does not move the deletion time
  EXPECT_EQ(index.expire(210), 0u);
  EXPECT_EQ(index.expire(211), 1u);
  EXPECT_EQ(index.size(), 0u);
  EXPECT_EQ(index.num_ips(), 0u);
}

TEST(pod_index, host_network_not_indexed) {
  pod_index index;
  auto p = pod("u1", "kube-proxy", {"192.168.1.10"}, 100);
  p.host_network = true;
  index.upsert(p, 100);
  EXPECT_EQ(index.size(), 0u);
  EXPECT_EQ(index.num_ips(), 0u);
  EXPECT_EQ(who(index, "192.168.1.10", 200), "");
  index.remove("u1", 300); // unknown to the index: no-op
  EXPECT_EQ(index.size(), 0u);
}

TEST(pod_index, terminated_phase_counts_as_deleted) {
  for (std::string phase : {"Succeeded", "Failed"}) {
    SCOPED_TRACE(phase);
    pod_index index;
    index.upsert(pod("job", "job-pod", {"10.0.0.3"}, 100), 100);
    auto done = pod("job", "job-pod", {}, 100); // podIPs cleared as it finished
    done.phase = phase;
    index.upsert(done, 400);
    index.upsert(pod("next", "next-pod", {"10.0.0.3"}, 450), 450);
    EXPECT_EQ(who(index, "10.0.0.3", 300), "job-pod");
    EXPECT_EQ(who(index, "10.0.0.3", 460), "next-pod"); // the finished Job does not steal it
    EXPECT_EQ(index.snapshot()->lookup(ip("10.0.0.3"), 300)->deletion, 400);
    // Later updates of a terminated Pod do not revive it or move its deletion time.
    index.upsert(done, 500);
    EXPECT_EQ(index.snapshot()->lookup(ip("10.0.0.3"), 300)->deletion, 400);
    EXPECT_EQ(index.expire(701), 1u);
    EXPECT_EQ(who(index, "10.0.0.3", 300), "next-pod"); // single candidate
  }
}

TEST(pod_index, first_seen_terminated) {
  pod_index index;
  auto p = pod("u1", "done", {"10.0.0.4"}, 100);
  p.phase = "Succeeded";
  index.upsert(p, 500);
  EXPECT_EQ(index.snapshot()->lookup(ip("10.0.0.4"), 200)->deletion, 500);
  EXPECT_EQ(index.expire(801), 1u);
}

TEST(pod_index, dual_stack_both_ips_resolve) {
  pod_index index;
  index.upsert(pod("u1", "dual", {"10.0.0.8", "fd00:10::8"}, 100), 100);
  EXPECT_EQ(index.num_ips(), 2u);
  EXPECT_EQ(who(index, "10.0.0.8", 200), "dual");
  EXPECT_EQ(who(index, "fd00:10::8", 200), "dual");
  EXPECT_EQ(index.snapshot()->lookup(ip("10.0.0.8"), 200),
            index.snapshot()->lookup(ip("fd00:10::8"), 200));
}

TEST(pod_index, update_changing_ips) {
  pod_index index;
  index.upsert(pod("u1", "mover", {"10.0.0.1", "fd00::1"}, 100), 100);
  index.upsert(pod("u1", "mover", {"10.0.0.2"}, 100), 150);
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.num_ips(), 1u);
  EXPECT_EQ(who(index, "10.0.0.1", 200), "");
  EXPECT_EQ(who(index, "fd00::1", 200), "");
  EXPECT_EQ(who(index, "10.0.0.2", 200), "mover");
  EXPECT_EQ(index.snapshot()->num_ips(), 1u);
}

TEST(pod_index, invalid_ips_skipped_and_counted) {
  pod_index index;
  index.upsert(pod("u1", "a", {"not-an-ip", "10.0.0.1", "10.0.0.256", ""}, 100), 100);
  EXPECT_EQ(index.num_invalid_ips(), 3u);
  EXPECT_EQ(index.num_ips(), 1u);
  EXPECT_EQ(who(index, "10.0.0.1", 200), "a");
}

TEST(pod_index, same_address_twice_is_one_candidate) {
  pod_index index;
  index.upsert(pod("u1", "a", {"10.0.0.1", "::ffff:10.0.0.1"}, 100), 100);
  index.upsert(pod("u2", "b", {"10.0.0.2"}, 100), 100);
  index.remove("u1", 200);
  // With a duplicate candidate for u1 the single-candidate rule would not apply.
  EXPECT_EQ(index.num_ips(), 2u);
  EXPECT_EQ(who(index, "10.0.0.1", 5000), "a");
}

TEST(pod_index, remove_unknown_is_noop) {
  pod_index index;
  index.upsert(pod("u1", "a", {"10.0.0.1"}, 100), 100);
  auto s = index.snapshot();
  index.remove("nope", 200);
  EXPECT_EQ(index.snapshot(), s);
  EXPECT_FALSE(index.snapshot()->lookup(ip("10.0.0.1"), 0)->deletion);
}

// Shards of `a` that `b` does not share (copied or changed between the two snapshots).
std::size_t shards_not_shared(const pod_snapshot& a, const pod_snapshot& b) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < pod_snapshot::num_shards; ++i)
    n += a.shard_at(i) != b.shard_at(i) ? 1 : 0;
  return n;
}

std::string addr(std::size_t i) {
  return "10." + std::to_string(i / 65536 % 256) + "." + std::to_string(i / 256 % 256) + "." +
         std::to_string(i % 256);
}

// Issue 4: publishing a change costs what changed, not the cluster. 20,000 Pods spread
// over every shard; one label change makes a snapshot that shares all shards but one with
// the previous snapshot, which itself stays as it was.
TEST(pod_index, snapshot_after_a_change_shares_all_other_shards) {
  pod_index index;
  for (std::size_t i = 0; i < 20000; ++i)
    index.upsert(pod("u" + std::to_string(i), "p" + std::to_string(i), {addr(i)}, 100), 100);
  auto s1 = index.snapshot();
  for (std::size_t i = 0; i < pod_snapshot::num_shards; ++i)
    ASSERT_NE(s1->shard_at(i), nullptr) << "shard " << i << " empty: addresses not spread";
  auto copies = index.num_shard_copies();
  auto changed = pod("u77", "p77", {addr(77)}, 100);
  changed.labels = {{"app", "p77"}, {"v", "2"}};
  index.upsert(changed, 200);
  auto s2 = index.snapshot();
  EXPECT_EQ(shards_not_shared(*s1, *s2), 1u);
  EXPECT_EQ(index.num_shard_copies(), copies + 1);
  EXPECT_EQ(s1->lookup(ip(addr(77)), 300)->labels_json, R"({"app":"p77"})");
  EXPECT_EQ(s2->lookup(ip(addr(77)), 300)->labels_json, R"({"app":"p77","v":"2"})");
  EXPECT_EQ(s2->num_ips(), 20000u);
  // Several changes between two snapshots copy each touched shard once.
  index.remove("u1", 300);
  index.remove("u2", 300);
  index.upsert(pod("u1b", "p1b", {addr(1)}, 310), 310);
  auto s3 = index.snapshot();
  auto touched = std::set<std::size_t>{pod_snapshot::shard_of(ip(addr(1))),
                                       pod_snapshot::shard_of(ip(addr(2)))};
  EXPECT_EQ(shards_not_shared(*s2, *s3), touched.size());
  EXPECT_EQ(index.num_shard_copies(), copies + 1 + touched.size());
  EXPECT_EQ(who(index, addr(1), 250), "p1");
  EXPECT_EQ(who(index, addr(1), 311), "p1b");
  EXPECT_EQ(s2->lookup(ip(addr(1)), 305)->deletion, std::nullopt);
}

// Expiry walks a queue ordered by deletion time: Pods deleted at different times expire
// one by one, and a Pod erased meanwhile (turned hostNetwork) does not confuse it.
TEST(pod_index, expiry_in_deletion_order) {
  pod_index index(60);
  for (int i = 0; i < 5; ++i)
    index.upsert(pod("u" + std::to_string(i), "p", {addr(i)}, 100), 100);
  index.remove("u3", 1030);
  index.remove("u1", 1010);
  index.remove("u2", 1020);
  auto host = pod("u2", "p", {addr(2)}, 100);
  host.host_network = true;
  index.upsert(host, 1025); // erased at once
  EXPECT_EQ(index.size(), 4u);
  EXPECT_EQ(index.expire(1070), 0u);
  EXPECT_EQ(index.expire(1071), 1u); // u1
  EXPECT_EQ(index.expire(1085), 0u); // u2 is gone already
  EXPECT_EQ(index.expire(1091), 1u); // u3
  EXPECT_EQ(index.size(), 2u);
  auto live = index.live_uids();
  std::sort(live.begin(), live.end());
  EXPECT_EQ(live, (std::vector<std::string>{"u0", "u4"}));
}

// IP reuse with the deleted Pod updated after the new one appeared: the candidates keep
// their order and each update replaces its own Pod only.
TEST(pod_index, ip_reuse_updates_keep_each_candidate) {
  pod_index index;
  index.upsert(pod("old", "old-pod", {"10.0.0.7"}, 100), 100);
  index.upsert(pod("new", "new-pod", {"10.0.0.7"}, 150), 150); // before the delete is seen
  index.remove("old", 160);
  auto relabeled = pod("new", "new-pod", {"10.0.0.7"}, 150);
  relabeled.labels = {{"app", "new-pod"}, {"rev", "2"}};
  index.upsert(relabeled, 170);
  EXPECT_EQ(index.num_ips(), 1u);
  EXPECT_EQ(index.snapshot()->find(ip("10.0.0.7"))->size(), 2u);
  EXPECT_EQ(who(index, "10.0.0.7", 120), "old-pod");
  const auto* e = index.snapshot()->lookup(ip("10.0.0.7"), 200);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name, "new-pod");
  EXPECT_EQ(e->labels_json, R"({"app":"new-pod","rev":"2"})");
}

} // namespace
} // namespace fa::labels

namespace fa::labels {
namespace {

// The shard table against std::map under random inserts and erases (backward-shift
// deletion must keep every remaining key reachable).
TEST(ip_table, matches_a_reference_map) {
  ip_table t;
  std::map<ip_key, int> ref;
  std::uint64_t x = 88172645463325252ull;
  auto next = [&] { // xorshift64
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (int round = 0; round < 20000; ++round) {
    std::uint8_t v4[4] = {10, 244, static_cast<std::uint8_t>(next() % 8),
                          static_cast<std::uint8_t>(next() % 64)};
    auto k = ipv4_key(v4);
    if (next() % 3 == 0) {
      t.erase(k);
      ref.erase(k);
    } else {
      t.update(k, [](pod_candidates& c) {
        if (c.empty())
          c.push_back(std::make_shared<const pod_entry>());
      });
      ref[k] = 1;
    }
    ASSERT_EQ(t.size(), ref.size());
  }
  for (int a = 0; a < 8; ++a)
    for (int b = 0; b < 64; ++b) {
      std::uint8_t v4[4] = {10, 244, static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(b)};
      auto k = ipv4_key(v4);
      EXPECT_EQ(t.find(k) != nullptr, ref.count(k) == 1) << a << "." << b;
      if (auto* slot = t.find_slot(k)) {
        EXPECT_EQ(slot->first, t.find(k)->front().get());
        EXPECT_EQ(slot->wire, nullptr); // entries not sealed: lookups take the candidates
      }
    }
}

} // namespace
} // namespace fa::labels

namespace fa::labels {
namespace {

// The enrichers' path: an indexed Pod is sealed, and one lookup gives its block, whose
// views are the entry's strings.
TEST(pod_snapshot, find_pod_returns_the_sealed_block) {
  pod_index index;
  auto p = pod("u1", "web-7", {"10.0.0.5"}, 100);
  p.pod_namespace = "shop";
  p.node_name = "worker-3";
  index.upsert(p, 100);
  auto s = index.snapshot();
  auto k = ip("10.0.0.5");
  auto f = s->find_pod(k, ip_hash(k), 50);
  ASSERT_TRUE(f);
  ASSERT_NE(f.wire, nullptr);
  EXPECT_EQ(f.entry, s->lookup(k, 50));
  EXPECT_EQ(f.wire, f.entry->wire.data());
  auto v = f.view();
  EXPECT_EQ(v.labels_json, R"({"app":"web-7"})");
  EXPECT_EQ(v.name, "web-7");
  EXPECT_EQ(v.pod_namespace, "shop");
  EXPECT_EQ(v.node_name, "worker-3");
  auto none = ip("10.0.0.6");
  EXPECT_FALSE(s->find_pod(none, ip_hash(none), 50));
}

// A reused address has no block in its slot: the candidate rule picks the Pod by time,
// and the block returned is that Pod's (antrea-proxy-semantics.md 3).
TEST(pod_snapshot, a_reused_address_picks_by_time_and_returns_that_pods_block) {
  pod_index index;
  index.upsert(pod("old", "old-pod", {"10.0.0.1"}, 100), 100);
  index.remove("old", 200);
  index.upsert(pod("new", "new-pod", {"10.0.0.1"}, 250), 250);
  auto s = index.snapshot();
  auto k = ip("10.0.0.1");
  EXPECT_EQ(s->find(k)->size(), 2u);
  auto h = ip_hash(k);
  auto at150 = s->find_pod(k, h, 150);
  ASSERT_TRUE(at150);
  EXPECT_EQ(at150.view().name, "old-pod");
  EXPECT_EQ(at150.wire, at150.entry->wire.data());
  auto at300 = s->find_pod(k, h, 300);
  ASSERT_TRUE(at300);
  EXPECT_EQ(at300.view().labels_json, R"({"app":"new-pod"})");
  EXPECT_FALSE(s->find_pod(k, h, 220)); // between deletion and creation
}

// An entry built without seal() (as tests and tools may) still resolves, from its
// strings.
TEST(pod_snapshot, an_unsealed_entry_is_found_through_its_strings) {
  pod_snapshot s;
  pod_entry e;
  e.name = "n";
  e.pod_namespace = "ns";
  e.node_name = "node";
  e.labels_json = "{}";
  s.add(ip("10.0.0.9"), std::make_shared<const pod_entry>(e));
  auto k = ip("10.0.0.9");
  auto f = s.find_pod(k, ip_hash(k), 0);
  ASSERT_TRUE(f);
  EXPECT_EQ(f.wire, nullptr);
  auto v = f.view();
  EXPECT_EQ(v.name, "n");
  EXPECT_EQ(v.pod_namespace, "ns");
  EXPECT_EQ(v.node_name, "node");
  EXPECT_EQ(v.labels_json, "{}");
  // Sealed, the same strings come from the block.
  seal(e);
  auto w = wire_view(e.wire.data());
  EXPECT_EQ(w.name, "n");
  EXPECT_EQ(w.pod_namespace, "ns");
  EXPECT_EQ(w.node_name, "node");
  EXPECT_EQ(w.labels_json, "{}");
}

// Issue 15: a sealed block holds each string as an IPFIX variable-length value (RFC 7011
// 7: a 1-octet prefix below 255 octets, else 255 and 2 octets), so that a record takes
// the labels, or a side's three names, in one copy.
TEST(pod_snapshot, a_sealed_block_holds_the_strings_encoded_for_ipfix) {
  pod_entry e;
  e.name = std::string(300, 'n');
  e.pod_namespace = "ns";
  e.node_name = "";
  e.labels_json = R"({"a":"b"})";
  seal(e);
  ASSERT_FALSE(e.wire.empty());
  const auto labels = wire_labels(e.wire.data());
  EXPECT_EQ(labels, std::string(1, '\x09') + R"({"a":"b"})");
  const auto names = wire_names(e.wire.data());
  const std::string want = std::string{'\xff', '\x01', '\x2c'} + std::string(300, 'n') +
                           std::string(1, '\x02') + "ns" + std::string(1, '\x00');
  EXPECT_EQ(names, want);
  // The views are the values, without their prefixes.
  const auto v = wire_view(e.wire.data());
  EXPECT_EQ(v.name, e.name);
  EXPECT_EQ(v.pod_namespace, "ns");
  EXPECT_EQ(v.node_name, "");
  EXPECT_EQ(v.labels_json, e.labels_json);
  // A string no IPFIX value can hold leaves the entry unsealed (read from its strings).
  e.labels_json = std::string(70000, 'x');
  seal(e);
  EXPECT_TRUE(e.wire.empty());
}

TEST(lookup_arena, blocks_are_aligned_keep_their_content_and_are_reused) {
  const std::size_t sizes[] = {1, 15, 16, 17, 130, 512, 513, 1024, 4096, 32768, 1 << 20};
  std::vector<std::pair<unsigned char*, std::size_t>> blocks;
  for (int round = 0; round < 3; ++round)
    for (auto n : sizes) {
      auto* p = static_cast<unsigned char*>(lookup_arena_allocate(n));
      auto align = n >= 1024 ? 64u : 16u;
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % align, 0u) << n;
      std::fill(p, p + n, static_cast<unsigned char>(n + blocks.size()));
      blocks.emplace_back(p, n);
    }
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    auto [p, n] = blocks[i];
    auto want = static_cast<unsigned char>(n + i);
    EXPECT_TRUE(std::all_of(p, p + n, [&](unsigned char c) { return c == want; })) << n;
  }
  auto reserved = lookup_arena_reserved();
  EXPECT_GT(reserved, 0u);
  // Released blocks come back for the next request of their class: no new region.
  for (auto [p, n] : blocks)
    lookup_arena_deallocate(p, n);
  for (auto [p, n] : blocks) {
    auto* q = lookup_arena_allocate(n);
    lookup_arena_deallocate(q, n);
  }
  EXPECT_EQ(lookup_arena_reserved(), reserved);
  // Larger than any class: still a usable block.
  auto* big = static_cast<unsigned char*>(lookup_arena_allocate((1 << 20) + 1));
  big[1 << 20] = 7;
  lookup_arena_deallocate(big, (1 << 20) + 1);
}

} // namespace
} // namespace fa::labels

namespace fa::labels {
namespace {

pod_entry_ptr entry_named(const char* name) {
  auto e = std::make_shared<pod_entry>();
  e->name = name;
  return e;
}

std::vector<std::string> names_of(const pod_candidates& c) {
  std::vector<std::string> out;
  for (const auto& p : c)
    out.push_back(p->name);
  return out;
}

// The candidate list keeps arrival order through growth, removal anywhere and shrinking
// back to one, and copies are independent of the original.
TEST(pod_candidates, keeps_order_through_push_remove_and_copy) {
  pod_candidates c;
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(c.begin(), c.end());
  auto a = entry_named("a"), b = entry_named("b"), d = entry_named("d");
  c.push_back(a);
  EXPECT_EQ(names_of(c), (std::vector<std::string>{"a"}));
  c.push_back(b);
  c.push_back(d);
  EXPECT_EQ(names_of(c), (std::vector<std::string>{"a", "b", "d"}));
  auto copy = c;
  c.erase(std::remove(c.begin(), c.end(), b), c.end());
  EXPECT_EQ(names_of(c), (std::vector<std::string>{"a", "d"}));
  EXPECT_EQ(names_of(copy), (std::vector<std::string>{"a", "b", "d"}));
  c.erase(std::remove(c.begin(), c.end(), a), c.end());
  EXPECT_EQ(names_of(c), (std::vector<std::string>{"d"}));
  EXPECT_EQ(c.front(), d);
  c.push_back(a);
  EXPECT_EQ(names_of(c), (std::vector<std::string>{"d", "a"}));
  c.erase(std::remove(c.begin(), c.end(), d), c.end());
  c.erase(std::remove(c.begin(), c.end(), a), c.end());
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(copy[1], b);
  // Removing nothing changes nothing.
  copy.erase(std::remove(copy.begin(), copy.end(), entry_named("x")), copy.end());
  EXPECT_EQ(copy.size(), 3u);
}

// The one candidate nearly every address has lives inside the list, so copying a shard
// (once per Pod event, copy-on-write) allocates nothing per address.
TEST(pod_candidates, holds_a_single_entry_in_place) {
  pod_candidates c;
  c.push_back(entry_named("a"));
  c.push_back(entry_named("b"));
  c.erase(c.begin() + 1, c.end()); // back to one
  const pod_candidates copy = c;
  const auto* lo = reinterpret_cast<const char*>(&copy);
  const auto* at = reinterpret_cast<const char*>(&copy.front());
  EXPECT_TRUE(at >= lo && at < lo + sizeof copy) << "a single candidate is on the heap";
  EXPECT_EQ(copy.front()->name, "a");
}

} // namespace
} // namespace fa::labels
