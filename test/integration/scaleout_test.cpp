// Aggregate mode scaled out (issue 14): proxy processes with fanout = "flow" in front of
// aggregate-mode processes, all real binaries on loopback. Load generators play Nodes of
// the pair content (--pairs) whose sessions are spread over both proxies so that the two
// halves of every inter-Node flow arrive through different proxies. Each proxy picks the
// shard of a record by rendezvous hashing of its flow key, so both halves meet in one
// shard: every flow is exported by exactly one aggregator, correlated, and the exported
// deltas of each Node add up to what its agent sent. Then what the README ("Scaling out
// aggregate mode") promises when a shard dies (on_full block, drop, fanout.failover) and
// when a reload adds a shard, checked flow by flow against the rendezvous choice.
//
// The runs that change something mid-way play the flows in phases: rounds 0..1, the
// change, then rounds 2..3 of the same flows (--first-record), each phase waited for on
// the shards' counters, so what each shard gets is known exactly.

#include "actors/flow_split.hpp"
#include "actors/rendezvous.hpp"
#include "flows/flow_key.hpp"
#include "test/integration/aggregate_exports.hpp"
#include "test/integration/fa_process.hpp"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <set>

using namespace std::chrono_literals;

namespace fa::test {
namespace {

constexpr std::uint64_t seed = 11;
constexpr std::uint64_t flows_per_pair = 40;
constexpr std::uint32_t odid_base = 1000;

/// A shard listening on `port` (0: ephemeral) and writing its exports to DIR/out.jsonl.
std::string shard_config(const std::string& dir, std::uint16_t port = 0) {
  return "mode = \"aggregate\"\n"
         "cluster_id = \"0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11\"\n"
         "[collector]\nlisten = [\"tcp://127.0.0.1:" +
         std::to_string(port) +
         "\"]\n"
         "[admin]\nlisten = \"127.0.0.1:0\"\n"
         "[runtime]\nlog_format = \"json\"\nworkers = 1\nshutdown_timeout = \"30s\"\n"
         "[aggregate]\nactive_timeout = \"1s\"\ninactive_timeout = \"30s\"\nscaled_out = true\n"
         "[[destination]]\nname = \"file\"\nurl = \"jsonl:" +
         dir + "/out.jsonl\"\n";
}

struct proxy_options {
  std::string on_full = "block";
  bool failover = false;
  /// Small messages and queues (larger than any one batch of these tests, so a live
  /// shard never drops): a dead shard's queue fills with a few dozen records.
  bool small_queues = false;
};

/// The name of shard `i` among the proxies' destinations (the rendezvous seed).
std::string shard_name(std::size_t i) {
  return "aggregator-" + std::to_string(i);
}

/// A proxy whose destinations are the shards, configured as the Kubernetes overlay's
/// (deploy/kubernetes/aggregate-scaleout/proxy-configmap.yaml).
std::string proxy_config(const std::vector<std::uint16_t>& shard_ports,
                         const proxy_options& o = {}) {
  std::string out = "mode = \"proxy\"\n"
                    "cluster_id = \"0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11\"\n"
                    "[collector]\nlisten = [\"tcp://127.0.0.1:0\"]\n"
                    "[admin]\nlisten = \"127.0.0.1:0\"\n"
                    "[runtime]\nlog_format = \"json\"\nworkers = 1\nshutdown_timeout = \"30s\"\n"
                    "[fanout]\nmode = \"flow\"\nfailover = " +
                    std::string{o.failover ? "true" : "false"} +
                    "\n"
                    // As deploy/kubernetes/aggregate-scaleout: the shards add what Antrea's
                    // aggregate mode has (clusterId, labels), the proxies only provenance.
                    "[enrichment]\nprovenance = true\nantrea = false\n";
  for (std::size_t i = 0; i < shard_ports.size(); ++i) {
    out += "[[destination]]\nname = \"" + shard_name(i) +
           "\"\nurl = \"ipfix+tcp://127.0.0.1:" + std::to_string(shard_ports[i]) +
           "\"\nflush_interval = \"5ms\"\non_full = \"" + o.on_full +
           "\"\nreconnect_min = \"50ms\"\nreconnect_max = \"200ms\"\n";
    if (o.small_queues)
      out += "max_message_size = 1500\nqueue_size = \"16KiB\"\n";
  }
  return out;
}

/// The flow key of pair flow `f` as the shards and proxies build it
/// (tools/loadgen_content.cpp: 10.0.0.0 + f, port 10000 + f % 50000, to 100.64.0.0 + f
/// port 80, TCP; an InterNode flow, so no SNAT rewriting).
flows::flow_key pair_key(std::uint64_t f) {
  const std::uint32_t src = htonl(0x0a000000u + static_cast<std::uint32_t>(f));
  const std::uint32_t dst = htonl(0x64400000u + static_cast<std::uint32_t>(f));
  flows::flow_key k;
  k.source = flows::ipv4_address(reinterpret_cast<const std::uint8_t*>(&src));
  k.destination = flows::ipv4_address(reinterpret_cast<const std::uint8_t*>(&dst));
  k.source_port = static_cast<std::uint16_t>(10000 + f % 50000);
  k.destination_port = 80;
  k.protocol = 6;
  return k;
}

/// The shard of `up` (indexes into aggregator-0..n-1) with the highest rendezvous weight
/// for flow `f`: its owner among them, so also where fanout.failover sends it while the
/// shards not in `up` are down.
std::size_t owner(std::uint64_t f, const std::vector<std::size_t>& up) {
  std::vector<std::uint64_t> seeds;
  for (auto i : up)
    seeds.push_back(actors::destination_seed(shard_name(i)));
  return up[actors::rendezvous_pick(seeds, actors::flow_hash(pair_key(f)))];
}

std::vector<std::size_t> first_shards(std::size_t n) {
  std::vector<std::size_t> out(n);
  for (std::size_t i = 0; i < n; ++i)
    out[i] = i;
  return out;
}

/// Holds a loopback port bound, not listening, while a shard is down: connections to it
/// are refused, and no other test takes it before the shard comes back (the shard binds
/// it again with SO_REUSEADDR, which a socket that is not listening allows).
class port_holder {
 public:
  explicit port_holder(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << "port " << port;
  }
  ~port_holder() { ::close(fd_); }
  port_holder(const port_holder&) = delete;
  port_holder& operator=(const port_holder&) = delete;

 private:
  int fd_ = -1;
};

/// Shards and proxies on loopback, and the pair content they carry.
class tier {
 public:
  tier(const std::string& name, std::size_t shards, std::size_t proxies, proxy_options options = {},
       std::size_t configured_shards = 0)
      : dir_(scratch_dir(name))
      , options_(std::move(options)) {
    for (std::size_t i = 0; i < shards; ++i)
      start_shard(i);
    if (configured_shards == 0)
      configured_shards = shards;
    for (std::size_t i = 0; i < proxies; ++i) {
      auto d = dir_ + "/proxy" + std::to_string(i);
      std::filesystem::create_directories(d);
      proxies_.push_back(
          std::make_unique<fa_process>(d, d + "/fa.toml", config_for(ports(configured_shards))));
      EXPECT_NE(proxies_.back()->port(), 0);
    }
  }

  fa_process& shard(std::size_t i) { return *shards_[i]; }
  fa_process& proxy(std::size_t i) { return *proxies_[i]; }
  std::size_t num_shards() const { return shards_.size(); }
  std::vector<std::unique_ptr<fa_process>>& proxies() { return proxies_; }

  std::vector<std::uint16_t> ports(std::size_t n) const {
    return {ports_.begin(), ports_.begin() + static_cast<std::ptrdiff_t>(n)};
  }

  /// Starts shard `i` (again: on its port, in a directory of its own).
  void start_shard(std::size_t i) {
    if (i >= shards_.size()) {
      shards_.resize(i + 1);
      ports_.resize(i + 1);
      incarnations_.resize(i + 1);
    }
    auto d = shard_dir(i, incarnations_[i]);
    std::filesystem::create_directories(d);
    shards_[i] = std::make_unique<fa_process>(d, d + "/fa.toml", shard_config(d, ports_[i]));
    EXPECT_NE(shards_[i]->port(), 0);
    ports_[i] = shards_[i]->port();
  }

  /// SIGKILL: the shard loses what it had not exported. Its port stays held until it
  /// restarts. Returns the records it had aggregated.
  double kill_shard(std::size_t i) {
    auto had = shards_[i]->metric("flow_aggregator_aggregate_records_total");
    shards_[i]->proc().signal(SIGKILL);
    EXPECT_TRUE(shards_[i]->proc().wait(30s).has_value());
    held_ = std::make_unique<port_holder>(ports_[i]);
    ++incarnations_[i];
    return had;
  }

  void restart_shard(std::size_t i) {
    held_.reset();
    start_shard(i);
  }

  std::string shard_dir(std::size_t i, std::size_t incarnation) const {
    return dir_ + "/shard" + std::to_string(i) + "-" + std::to_string(incarnation);
  }
  std::size_t incarnations(std::size_t i) const { return incarnations_[i] + 1; }

  /// Plays rounds [first_round, first_round + rounds) of pairs [0, pairs) (even): session
  /// s plays the source Node of pair s / 2 when even, its destination Node when odd. With
  /// a step of 4, proxy 0 gets the sources of the even pairs and the destinations of the
  /// odd ones, proxy 1 the other halves (with one proxy, it gets both).
  void play(std::uint64_t pairs, std::uint64_t first_round, std::uint64_t rounds) {
    struct player {
      std::size_t proxy;
      std::uint32_t first_session;
    };
    const player players[] = {{0, 0}, {0, 3}, {1, 1}, {1, 2}};
    std::vector<std::unique_ptr<process>> loadgens;
    for (const auto& p : players)
      loadgens.push_back(start_loadgen(proxies_[p.proxy % proxies_.size()]->port(),
                                       {"--sessions",
                                        std::to_string(pairs / 2),
                                        "--odid-base",
                                        std::to_string(odid_base + p.first_session),
                                        "--odid-step",
                                        "4",
                                        "--pair-base",
                                        std::to_string(odid_base),
                                        "--pairs",
                                        std::to_string(flows_per_pair),
                                        "--first-record",
                                        std::to_string(flows_per_pair * first_round),
                                        "--records",
                                        std::to_string(flows_per_pair * rounds),
                                        "--template",
                                        "antrea-v4",
                                        "--seed",
                                        std::to_string(seed),
                                        "--rate",
                                        std::to_string(pairs / 2 * flows_per_pair * 2),
                                        "--records-per-message",
                                        "20"}));
    loadgens_.insert(loadgens_.end(), std::make_move_iterator(loadgens.begin()),
                     std::make_move_iterator(loadgens.end()));
  }

  /// Waits for every load generator started so far to finish.
  void wait_players() {
    for (auto& l : loadgens_)
      EXPECT_EQ(l->wait(90s), 0);
    loadgens_.clear();
  }

  /// Records aggregated by the running shards `which` (all when empty).
  double aggregated(std::vector<std::size_t> which = {}) {
    if (which.empty())
      which = first_shards(shards_.size());
    double n = 0;
    for (auto i : which)
      n += shards_[i]->metric("flow_aggregator_aggregate_records_total");
    return n;
  }

  /// The sum over the proxies of a metric.
  double proxies_metric(const std::string& name,
                        const std::vector<std::pair<std::string, std::string>>& labels = {}) {
    double n = 0;
    for (auto& p : proxies_)
      n += p->metric(name, labels);
    return n;
  }

  /// True when every proxy's destination_up of shard `i` reads `up`.
  bool proxies_see(std::size_t i, bool up) {
    for (auto& p : proxies_)
      if (p->metric("flow_aggregator_destination_up", {{"destination", shard_name(i)}}) !=
          (up ? 1.0 : 0.0))
        return false;
    return true;
  }

  /// SIGTERM: proxies first (they drain into the shards), then the shards, which export
  /// what is new.
  void stop() {
    for (auto& p : proxies_)
      EXPECT_EQ(p->terminate(60s), 0) << p->log();
    for (auto& s : shards_)
      if (s->proc().running())
        EXPECT_EQ(s->terminate(60s), 0) << s->log();
  }

  /// The exports of shard `i`'s incarnation `incarnation`, once it has stopped.
  std::map<std::uint64_t, flow_sums> exports(std::size_t i, std::size_t incarnation = 0) const {
    return read_exports(shard_dir(i, incarnation) + "/out.jsonl");
  }
  /// The exports of a running shard so far (the lines it has written whole).
  std::map<std::uint64_t, flow_sums> exports_so_far(std::size_t i) const {
    auto text = read_file(shard_dir(i, incarnations_[i]) + "/out.jsonl");
    return parse_exports(text.substr(0, text.rfind('\n') + 1));
  }

 private:
  std::string dir_;
  proxy_options options_;
  std::vector<std::unique_ptr<fa_process>> shards_;
  std::vector<std::uint16_t> ports_;
  std::vector<std::size_t> incarnations_;
  std::vector<std::unique_ptr<fa_process>> proxies_;
  std::vector<std::unique_ptr<process>> loadgens_;
  std::unique_ptr<port_holder> held_;

  std::string config_for(const std::vector<std::uint16_t>& shard_ports) const {
    return proxy_config(shard_ports, options_);
  }
};

/// Records of `rounds` rounds of the flows in `flows` (both Nodes).
double records_of(const std::vector<std::uint64_t>& flows, std::uint64_t rounds) {
  return static_cast<double>(flows.size() * 2 * rounds);
}

/// The flows of pairs [0, pairs) that `pick` selects.
template <class Pred>
std::vector<std::uint64_t> flows_where(std::uint64_t pairs, Pred pick) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t f = 0; f < pairs * flows_per_pair; ++f)
    if (pick(f))
      out.push_back(f);
  return out;
}

/// True when every flow of `flows` was exported in `got` with both Nodes' totals of
/// `rounds` rounds: the shard holds no news of them.
bool exported_through(const std::map<std::uint64_t, flow_sums>& got,
                      const std::vector<std::uint64_t>& flows, std::uint64_t rounds) {
  for (auto f : flows) {
    auto it = got.find(f);
    if (it == got.end())
      return false;
    const auto src = tools::pair_totals(seed, f, true, rounds);
    const auto dst = tools::pair_totals(seed, f, false, rounds);
    if (it->second.last_source_totals.packets != src.packets ||
        it->second.last_destination_totals.packets != dst.packets)
      return false;
  }
  return true;
}

/// The part of flow `f` one shard exported covers rounds [from, to): its deltas add up to
/// what the agents sent in those rounds, and it carries the agents' totals after round
/// `to` (so a part that started mid-flow has deltas below its totals: README).
void expect_part(const flow_sums& s, std::uint64_t f, std::uint64_t from, std::uint64_t to) {
  const auto what =
      "flow " + std::to_string(f) + " rounds " + std::to_string(from) + ".." + std::to_string(to);
  for (bool source : {true, false}) {
    auto want = tools::pair_totals(seed, f, source, to);
    const auto before = tools::pair_totals(seed, f, source, from);
    want.packets -= before.packets;
    want.octets -= before.octets;
    want.reverse_packets -= before.reverse_packets;
    want.reverse_octets -= before.reverse_octets;
    expect_counts(source ? s.source : s.destination, want, what + (source ? " source" : " dest"));
    expect_counts(source ? s.last_source_totals : s.last_destination_totals,
                  tools::pair_totals(seed, f, source, to), what + " totals");
  }
  EXPECT_GT(s.exports, 0u) << what;
  EXPECT_EQ(s.correlated, s.exports) << what;
}

TEST(scaleout, two_proxies_route_both_halves_of_every_flow_to_one_of_three_shards) {
  constexpr std::uint64_t pairs = 10; ///< 20 Nodes
  constexpr std::uint64_t rounds = 4;
  tier t{"scaleout", 3, 2};
  t.play(pairs, 0, rounds);
  t.wait_players();

  const double sent = 2.0 * pairs * flows_per_pair * rounds;
  ASSERT_TRUE(eventually([&] { return t.aggregated() >= sent; }, 60s)) << t.aggregated();
  EXPECT_EQ(t.aggregated(), sent);
  double flows_held = 0, correlated = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    auto& s = t.shard(i);
    // Each shard owns some flows, and none waits for a half another shard got.
    EXPECT_GT(s.metric("flow_aggregator_aggregate_flows"), 0.0) << "shard " << i;
    EXPECT_EQ(s.metric("flow_aggregator_aggregate_pending_flows"), 0.0) << "shard " << i;
    flows_held += s.metric("flow_aggregator_aggregate_flows");
    correlated += s.metric("flow_aggregator_aggregate_records_total", {{"result", "correlated"}});
  }
  EXPECT_EQ(flows_held, static_cast<double>(pairs * flows_per_pair));
  EXPECT_EQ(correlated, static_cast<double>(pairs * flows_per_pair));
  // Nothing dropped on the way: the proxies' destinations took every record.
  EXPECT_EQ(t.proxies_metric("flow_aggregator_records_dropped_total"), 0.0);
  t.stop();

  std::map<std::uint64_t, flow_sums> all;
  for (std::size_t i = 0; i < 3; ++i)
    for (auto& [flow, sums] : t.exports(i)) {
      // Exactly one aggregator exports each flow: the one rendezvous hashing picks.
      EXPECT_TRUE(all.emplace(flow, sums).second) << "flow " << flow << " in two shards";
      EXPECT_EQ(owner(flow, first_shards(3)), i) << "flow " << flow;
    }
  ASSERT_EQ(all.size(), pairs * flows_per_pair);
  for (std::uint64_t f = 0; f < pairs * flows_per_pair; ++f)
    expect_flow_adds_up(all[f], seed, f, rounds);
}

constexpr std::uint64_t phase_pairs = 4; ///< 8 Nodes, 160 flows

/// Rounds 0..1 of every flow, all aggregated, and every flow of shard `dead` exported
/// with what it got (so a SIGKILL then loses nothing of them); then the SIGKILL, and
/// every proxy sees the shard down. Returns what the dead shard had aggregated.
double first_phase_then_kill(tier& t, std::size_t dead) {
  const auto all = first_shards(t.num_shards());
  t.play(phase_pairs, 0, 2);
  t.wait_players();
  const double sent = 2.0 * phase_pairs * flows_per_pair * 2;
  EXPECT_TRUE(eventually([&] { return t.aggregated() >= sent; }, 60s)) << t.aggregated();
  EXPECT_EQ(t.aggregated(), sent);
  auto owned = flows_where(phase_pairs, [&](auto f) { return owner(f, all) == dead; });
  EXPECT_TRUE(eventually([&] { return exported_through(t.exports_so_far(dead), owned, 2); }, 60s));
  auto had = t.kill_shard(dead);
  EXPECT_EQ(had, records_of(owned, 2));
  EXPECT_TRUE(eventually([&] { return t.proxies_see(dead, false); }, 30s));
  return had;
}

/// Shard 1's flows among the first phase's (`owned`) and the rest (`others`), with the
/// shards `all` that own them.
struct ownership {
  std::vector<std::size_t> all = first_shards(3);
  std::vector<std::uint64_t> owned =
      flows_where(phase_pairs, [this](auto f) { return owner(f, all) == 1; });
  std::vector<std::uint64_t> others =
      flows_where(phase_pairs, [this](auto f) { return owner(f, all) != 1; });
};

/// 3 shards and 2 proxies with `options`, after the first phase and shard 1's SIGKILL.
struct shard_1_killed {
  shard_1_killed(const std::string& name, proxy_options options)
      : t{name, 3, 2, std::move(options)} {
    first_phase_then_kill(t, 1);
  }
  tier t;
  ownership flows;
};

TEST(scaleout, a_shard_killed_and_restarted_with_block_gets_its_share_after_restart) {
  shard_1_killed run{"scaleout_block", {"block", false, true}};
  auto& t = run.t;
  const auto& all = run.flows.all;
  const auto& owned = run.flows.owned;
  const auto& others = run.flows.others;

  // Rounds 2..3 while shard 1 is down: its share waits in both proxies' queues (small:
  // once full, the proxies pause the agents), nothing is dropped or re-routed.
  t.play(phase_pairs, 2, 2);
  ASSERT_TRUE(eventually(
      [&] {
        for (auto& p : t.proxies()) {
          auto d = p->destination(shard_name(1));
          if (d.is_null() || d.value("queued_records", std::uint64_t{0}) == 0)
            return false;
        }
        return true;
      },
      60s));
  EXPECT_EQ(t.proxies_metric("flow_aggregator_records_dropped_total"), 0.0);
  t.restart_shard(1);
  t.wait_players();

  // The restarted shard gets exactly its flows' rounds 2..3; the others theirs.
  const double expected = records_of(others, 4) + records_of(owned, 2);
  ASSERT_TRUE(eventually([&] { return t.aggregated() >= expected; }, 60s)) << t.aggregated();
  EXPECT_EQ(t.shard(1).metric("flow_aggregator_aggregate_records_total"), records_of(owned, 2));
  EXPECT_EQ(t.aggregated({0, 2}), records_of(others, 4));
  EXPECT_EQ(t.proxies_metric("flow_aggregator_records_dropped_total"), 0.0);
  EXPECT_EQ(t.proxies_metric("flow_aggregator_records_rerouted_total"), 0.0);
  t.stop();

  // Shards 0 and 2: every flow of theirs once, whole. Shard 1: each flow in two parts,
  // rounds 0..1 from the killed process, 2..3 from the restarted one.
  std::map<std::uint64_t, std::size_t> exporter;
  for (std::size_t i : {0, 2})
    for (auto& [f, sums] : t.exports(i)) {
      EXPECT_EQ(owner(f, all), i) << "flow " << f;
      EXPECT_TRUE(exporter.emplace(f, i).second) << "flow " << f;
      expect_flow_adds_up(sums, seed, f, 4);
    }
  EXPECT_EQ(exporter.size(), others.size());
  auto before = t.exports(1, 0);
  auto after = t.exports(1, 1);
  EXPECT_EQ(before.size(), owned.size());
  EXPECT_EQ(after.size(), owned.size());
  for (auto f : owned) {
    expect_part(before[f], f, 0, 2);
    expect_part(after[f], f, 2, 4);
  }
}

TEST(scaleout, a_shard_killed_with_drop_counts_what_it_misses_and_the_others_keep_flowing) {
  shard_1_killed run{"scaleout_drop", {"drop", false, true}};
  auto& t = run.t;
  const auto& all = run.flows.all;
  const auto& owned = run.flows.owned;
  const auto& others = run.flows.others;

  // Rounds 2..5 while shard 1 is down (its share, ~40 KB per proxy, overflows its 16 KiB
  // queues): the agents are never paused, shards 0 and 2 get all of theirs before shard 1
  // is back; what does not fit shard 1's queue is counted.
  t.play(phase_pairs, 2, 4);
  t.wait_players();
  ASSERT_TRUE(eventually(
      [&] {
        return t.aggregated({0, 2}) >= records_of(others, 6);
      },
      60s))
      << t.aggregated({0, 2});
  const auto dropped = [&] {
    return t.proxies_metric("flow_aggregator_records_dropped_total",
                            {{"destination", shard_name(1)}, {"reason", "queue_full"}});
  };
  EXPECT_GT(dropped(), 0.0);
  t.restart_shard(1);
  // In = delivered + counted drops, exactly: what the queues held reaches the restarted
  // shard, the rest was dropped and counted.
  ASSERT_TRUE(eventually(
      [&] {
        return t.shard(1).metric("flow_aggregator_aggregate_records_total") + dropped() >=
               records_of(owned, 4);
      },
      60s));
  EXPECT_EQ(t.shard(1).metric("flow_aggregator_aggregate_records_total") + dropped(),
            records_of(owned, 4));
  EXPECT_EQ(t.aggregated({0, 2}), records_of(others, 6));
  EXPECT_EQ(t.proxies_metric("flow_aggregator_records_dropped_total"), dropped());
  t.stop();

  for (std::size_t i : {0, 2})
    for (auto& [f, sums] : t.exports(i)) {
      EXPECT_EQ(owner(f, all), i) << "flow " << f;
      expect_flow_adds_up(sums, seed, f, 6);
    }
  // Nothing of shard 1's flows went anywhere else.
  for (auto& [f, sums] : t.exports(1, 1))
    EXPECT_EQ(owner(f, all), 1u) << "flow " << f;
}

TEST(scaleout, failover_sends_a_dead_shards_flows_to_their_next_shard_until_it_is_back) {
  shard_1_killed run{"scaleout_failover", {"block", true, true}};
  auto& t = run.t;
  const auto& all = run.flows.all;
  const auto& owned = run.flows.owned;
  const auto& others = run.flows.others;

  // Rounds 2..3 with shard 1 down: its flows go to their next choice, rendezvous over
  // shards 0 and 2, both halves alike (both proxies see it down), counted as re-routed.
  t.play(phase_pairs, 2, 2);
  t.wait_players();
  const double sent_to_others = records_of(others, 4) + records_of(owned, 2);
  ASSERT_TRUE(eventually(
      [&] {
        return t.aggregated({0, 2}) >= sent_to_others;
      },
      60s))
      << t.aggregated({0, 2});
  EXPECT_EQ(t.aggregated({0, 2}), sent_to_others);
  const auto rerouted = [&] {
    return t.proxies_metric("flow_aggregator_records_rerouted_total",
                            {{"destination", shard_name(1)}});
  };
  EXPECT_EQ(rerouted(), records_of(owned, 2));
  EXPECT_EQ(t.proxies_metric("flow_aggregator_records_rerouted_total"), rerouted());

  // Shard 1 back: from the proxies' next batch its flows go to it again (rounds 4..5).
  t.restart_shard(1);
  ASSERT_TRUE(eventually([&] { return t.proxies_see(1, true); }, 30s));
  t.play(phase_pairs, 4, 2);
  t.wait_players();
  ASSERT_TRUE(eventually(
      [&] {
        return t.shard(1).metric("flow_aggregator_aggregate_records_total") >= records_of(owned, 2);
      },
      60s));
  EXPECT_EQ(t.shard(1).metric("flow_aggregator_aggregate_records_total"), records_of(owned, 2));
  EXPECT_TRUE(eventually(
      [&] {
        return t.aggregated({0, 2}) >= sent_to_others + records_of(others, 2);
      },
      60s));
  EXPECT_EQ(t.aggregated({0, 2}), sent_to_others + records_of(others, 2));
  EXPECT_EQ(rerouted(), records_of(owned, 2));
  EXPECT_EQ(t.proxies_metric("flow_aggregator_records_dropped_total"), 0.0);
  t.stop();

  // Shard 1's flows are split in three parts: rounds 0..1 on the killed shard 1, 2..3 on
  // their next choice, 4..5 on the restarted shard 1; each part is correlated and its
  // deltas add up to its rounds; the flows of shards 0 and 2 are whole.
  auto before = t.exports(1, 0);
  auto after = t.exports(1, 1);
  std::map<std::size_t, std::map<std::uint64_t, flow_sums>> got{{0, t.exports(0)},
                                                                {2, t.exports(2)}};
  for (auto f : owned) {
    expect_part(before[f], f, 0, 2);
    auto next = owner(f, {0, 2});
    ASSERT_TRUE(got[next].count(f)) << "flow " << f;
    expect_part(got[next][f], f, 2, 4);
    got[next].erase(f);
    expect_part(after[f], f, 4, 6);
  }
  for (auto& [i, flows] : got)
    for (auto& [f, sums] : flows) {
      EXPECT_EQ(owner(f, all), i) << "flow " << f;
      expect_flow_adds_up(sums, seed, f, 6);
    }
  EXPECT_EQ(got[0].size() + got[2].size(), others.size());
}

TEST(scaleout, a_reload_that_adds_a_fourth_shard_moves_only_the_flows_it_wins) {
  // Shard 3 runs from the start; the proxies name it only after the reload.
  tier t{"scaleout_reload", 4, 2, {}, 3};
  const auto three = first_shards(3);
  const auto four = first_shards(4);
  auto moved = flows_where(phase_pairs, [&](auto f) { return owner(f, four) == 3; });
  auto stay = flows_where(phase_pairs, [&](auto f) { return owner(f, four) != 3; });
  // Rendezvous: the new shard takes about a quarter, each flow from its old owner.
  EXPECT_GT(moved.size(), 160u / 8);
  EXPECT_LT(moved.size(), 160u / 2);
  for (auto f : stay)
    EXPECT_EQ(owner(f, four), owner(f, three)) << "flow " << f;

  t.play(phase_pairs, 0, 2);
  t.wait_players();
  ASSERT_TRUE(eventually(
      [&] { return t.aggregated() >= records_of(moved, 2) + records_of(stay, 2); }, 60s));
  EXPECT_EQ(t.shard(3).metric("flow_aggregator_aggregate_records_total"), 0.0);

  auto ports = t.ports(4);
  for (auto& p : t.proxies())
    ASSERT_TRUE(p->reload(proxy_config(ports))) << p->log();
  ASSERT_TRUE(eventually([&] { return t.proxies_see(3, true); }, 30s));
  t.play(phase_pairs, 2, 2);
  t.wait_players();
  const double total = records_of(moved, 4) + records_of(stay, 4);
  ASSERT_TRUE(eventually([&] { return t.aggregated() >= total; }, 60s)) << t.aggregated();
  EXPECT_EQ(t.aggregated(), total);
  // The new shard has exactly the moved flows' later rounds, each flow created afresh
  // there and correlated (both proxies had reloaded).
  auto& s3 = t.shard(3);
  EXPECT_EQ(s3.metric("flow_aggregator_aggregate_records_total"), records_of(moved, 2));
  EXPECT_EQ(s3.metric("flow_aggregator_aggregate_records_total", {{"result", "created"}}),
            static_cast<double>(moved.size()));
  EXPECT_EQ(s3.metric("flow_aggregator_aggregate_records_total", {{"result", "correlated"}}),
            static_cast<double>(moved.size()));
  EXPECT_EQ(t.proxies_metric("flow_aggregator_records_dropped_total"), 0.0);
  t.stop();

  // Flows that stay: whole, on their owner. Moved flows: split in two aggregates, rounds
  // 0..1 on the old owner and 2..3 on shard 3, whose deltas add up to what was sent.
  std::vector<std::map<std::uint64_t, flow_sums>> got;
  for (std::size_t i = 0; i < 4; ++i)
    got.push_back(t.exports(i));
  std::set<std::uint64_t> on_new;
  for (auto& [f, sums] : got[3])
    on_new.insert(f);
  EXPECT_EQ(on_new, std::set<std::uint64_t>(moved.begin(), moved.end()));
  for (auto f : moved) {
    auto old = owner(f, three);
    ASSERT_TRUE(got[old].count(f)) << "flow " << f;
    expect_part(got[old][f], f, 0, 2);
    expect_part(got[3][f], f, 2, 4);
    got[old].erase(f);
  }
  std::size_t whole = 0;
  for (std::size_t i = 0; i < 3; ++i)
    for (auto& [f, sums] : got[i]) {
      EXPECT_EQ(owner(f, three), i) << "flow " << f;
      expect_flow_adds_up(sums, seed, f, 4);
      ++whole;
    }
  EXPECT_EQ(whole, stay.size());
}

} // namespace
} // namespace fa::test
