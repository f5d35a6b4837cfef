// Several replicas behind one Service (issue 5): three flow-aggregator processes, 60
// exporter sessions spread over them, one collector. Stateless proxying means every
// record arrives exactly once whichever replica took its exporter, and each replica shows
// its own sessions in its own admin API.

#include "test/integration/harness.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>

using namespace std::chrono_literals;
using nlohmann::json;

namespace fa::test {
namespace {

struct replica {
  std::unique_ptr<process> proc;
  std::uint16_t port = 0;
  std::uint16_t admin = 0;
};

replica start_replica(const std::string& dir, int i, std::uint16_t collector_port) {
  auto cfg = dir + "/fa" + std::to_string(i) + ".toml";
  std::ofstream{cfg} << "cluster_id = \"0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11\"\n"
                        "[collector]\nlisten = [\"tcp://127.0.0.1:0\"]\n"
                        "[[destination]]\nname = \"col\"\nurl = \"ipfix+tcp://127.0.0.1:"
                     << collector_port
                     << "\"\nflush_interval = \"5ms\"\n"
                        "[admin]\nlisten = \"127.0.0.1:0\"\n";
  auto err = dir + "/fa" + std::to_string(i) + ".err";
  replica r;
  r.proc = std::make_unique<process>(
      std::vector<std::string>{binary("app/flow-aggregator"), "run", "-c", cfg}, "", err);
  std::smatch port, admin;
  std::string log;
  EXPECT_TRUE(eventually(
      [&] {
        log = read_file(err);
        return std::regex_search(log, port, std::regex{" port=([0-9]+)"}) &&
               std::regex_search(log, admin, std::regex{"admin_port=([0-9]+)"});
      },
      20s))
      << log;
  if (!port.empty())
    r.port = static_cast<std::uint16_t>(std::stoi(port[1]));
  if (!admin.empty())
    r.admin = static_cast<std::uint16_t>(std::stoi(admin[1]));
  return r;
}

TEST(replicas, sixty_sessions_over_three_replicas_arrive_exactly_once) {
  auto dir = scratch_dir("replicas");
  ::setenv("FA_STATE_DIR", dir.c_str(), 1);
  constexpr int per_replica = 20, records = 3000;
  collector col{dir,
                {"--verify", "1", "--expect-odids", "1000:60", "--expect-records",
                 std::to_string(records), "--expect-total", std::to_string(60 * records)}};
  std::vector<replica> replicas;
  for (int i = 0; i < 3; ++i)
    replicas.push_back(start_replica(dir, i, col.port()));
  for (auto& r : replicas)
    ASSERT_NE(r.admin, 0);
  // Paced, so the sessions are still open when the admin APIs are asked.
  std::vector<std::unique_ptr<process>> gens;
  for (int i = 0; i < 3; ++i)
    gens.push_back(start_loadgen(
        replicas[i].port, {"--sessions", std::to_string(per_replica), "--records",
                           std::to_string(records), "--rate", "12000", "--template", "antrea-v4",
                           "--seed", "1", "--odid-base", std::to_string(1000 + i * per_replica)}));
  for (auto& r : replicas) {
    json sessions;
    EXPECT_TRUE(eventually(
        [&] {
          sessions = json::parse(http_get(r.admin, "/api/v1/sessions").body);
          return sessions.size() == per_replica;
        },
        20s))
        << sessions.dump();
    for (auto& s : sessions)
      EXPECT_EQ(s["transport"], "tcp");
  }
  auto report = col.report(120s);
  EXPECT_EQ(report["records"], 60 * records);
  EXPECT_EQ(report["verified"], 60 * records);
  EXPECT_EQ(report["missing"], 0);
  EXPECT_EQ(report["duplicates"], 0);
  EXPECT_EQ(report["odids"], 60);
  for (auto& g : gens)
    EXPECT_EQ(g->wait(30s), 0);
  for (auto& r : replicas) {
    r.proc->signal(SIGTERM);
    EXPECT_EQ(r.proc->wait(30s), 0);
  }
}

} // namespace
} // namespace fa::test
