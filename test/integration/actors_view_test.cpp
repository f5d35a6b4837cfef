// The ACTORS view (issue 5): /api/v1/actors and `flow-aggregator inspect actors` list
// every live actor of a running service with what it reports about itself, and an
// exporter's session actor leaves the list when the exporter closes.

#include "test/integration/harness.hpp"

#include <gtest/gtest.h>

#include <asio.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <set>
#include <sstream>

using namespace std::chrono_literals;
using nlohmann::json;

namespace fa::test {
namespace {

/// An exporter holding its TCP session open, sending one IPFIX message at a time: a
/// template (first message only) and `n` 16-octet records.
class exporter {
 public:
  explicit exporter(std::uint16_t port)
      : socket_(ctx_) {
    socket_.connect({asio::ip::address_v4::loopback(), port});
  }

  std::string peer() const {
    auto local = socket_.local_endpoint();
    return local.address().to_string() + ":" + std::to_string(local.port());
  }

  void send(int n) {
    auto bytes = flow_message(sequence_, 7, flow_records(n), sequence_ == 0,
                              static_cast<std::uint32_t>(std::time(nullptr)));
    sequence_ += static_cast<std::uint32_t>(n);
    asio::write(socket_, asio::buffer(bytes));
  }

  void close() {
    asio::error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

 private:
  asio::io_context ctx_;
  asio::ip::tcp::socket socket_;
  std::uint32_t sequence_ = 0;
};

json actors(std::uint16_t admin_port) {
  auto r = http_get(admin_port, "/api/v1/actors");
  EXPECT_EQ(r.status, 200) << r.body;
  auto body = json::parse(r.body, nullptr, false);
  EXPECT_TRUE(body.is_array()) << r.body;
  return body.is_array() ? body : json::array();
}

std::map<std::string, int> roles(const json& rows) {
  std::map<std::string, int> out;
  for (const auto& a : rows)
    ++out[a["role"].get<std::string>()];
  return out;
}

const json* find(const json& rows, const std::string& name) {
  for (const auto& a : rows)
    if (a["name"] == name)
      return &a;
  return nullptr;
}

std::uint64_t handled(const json& rows, const std::string& name) {
  auto* a = find(rows, name);
  EXPECT_NE(a, nullptr) << name << " not in " << rows.dump();
  return a ? (*a)["handled"].get<std::uint64_t>() : 0;
}

std::uint64_t handled_by_role(const json& rows, const std::string& role) {
  std::uint64_t n = 0;
  for (const auto& a : rows)
    if (a["role"] == role)
      n += a["handled"].get<std::uint64_t>();
  return n;
}

std::uint64_t jsonl_lines(const std::string& path) {
  auto text = read_file(path);
  return static_cast<std::uint64_t>(std::count(text.begin(), text.end(), '\n'));
}

class actors_view : public ::testing::Test {
 protected:
  actors_view()
      : dir(scratch_dir("actors_view"))
      , col(dir, {}) {}

  /// Two destinations (IPFIX over TCP to the collector, JSON lines to a file), two
  /// enrichers, the admin API on an ephemeral port.
  config::config make_config() {
    auto cfg = test_config(tcp_destination(col.port()) + "[[destination]]\nname = \"file\"\n" +
                               "url = \"jsonl:" + dir + "/records.jsonl\"\n",
                           "[runtime]\nenrichers = 2\n");
    cfg.admin.listen = config::host_port{"127.0.0.1", 0};
    return cfg;
  }

  std::string dir;
  collector col;
};

TEST_F(actors_view, lists_every_actor_counts_messages_and_drops_closed_sessions) {
  running fa{make_config()};
  auto admin = fa.sup.admin_port();
  ASSERT_NE(admin, 0);
  auto now = static_cast<std::int64_t>(std::time(nullptr));

  exporter e1{fa.port};
  exporter e2{fa.port};
  e1.send(10);
  e2.send(10);
  auto records = dir + "/records.jsonl";
  ASSERT_TRUE(eventually([&] { return jsonl_lines(records) == 20; })) << read_file(records);

  auto rows = actors(admin);
  EXPECT_EQ(roles(rows), (std::map<std::string, int>{{"registry", 1},
                                                     {"label_cache", 1},
                                                     {"enricher", 2},
                                                     {"destination", 2},
                                                     {"agent_session", 2}}))
      << rows.dump(2);
  std::set<std::uint64_t> ids;
  for (const auto& a : rows) {
    EXPECT_TRUE(a["answered"].get<bool>()) << a.dump();
    EXPECT_TRUE(a["mailbox"].is_number_unsigned()) << a.dump();
    EXPECT_TRUE(a["handled"].is_number_unsigned()) << a.dump();
    EXPECT_GE(a["since"].get<std::int64_t>(), now - 60) << a.dump();
    EXPECT_LE(a["since"].get<std::int64_t>(), now + 60) << a.dump();
    ids.insert(a["id"].get<std::uint64_t>());
  }
  EXPECT_EQ(ids.size(), rows.size()) << "CAF actor ids are unique: " << rows.dump(2);
  std::map<std::string, std::string> types;
  for (auto name : {"template_registry", "label_cache", "enricher-0", "enricher-1",
                    "destination:col", "destination:file"}) {
    auto* a = find(rows, name);
    ASSERT_NE(a, nullptr) << name << " missing: " << rows.dump(2);
    types[name] = (*a)["type"];
  }
  EXPECT_EQ(types["destination:col"], "exporter_session");
  EXPECT_EQ(types["destination:file"], "jsonl_sink");
  EXPECT_EQ(types["enricher-0"], "enricher");
  EXPECT_EQ(types["template_registry"], "template_registry");
  auto s1 = "agent_session:" + e1.peer();
  auto s2 = "agent_session:" + e2.peer();
  ASSERT_NE(find(rows, s1), nullptr) << rows.dump(2);
  ASSERT_NE(find(rows, s2), nullptr) << rows.dump(2);
  EXPECT_EQ((*find(rows, s1))["type"], "agent_session");
  // Each session handled at least its exporter's one message; each destination at least
  // one batch; the enrichers at least one batch per session.
  EXPECT_GE(handled(rows, s1), 1u);
  EXPECT_GE(handled(rows, "destination:file"), 1u);
  EXPECT_GE(handled(rows, "destination:col"), 1u);
  EXPECT_GE(handled_by_role(rows, "enricher"), 2u);

  // Traffic on the first session only: its count and the pipeline's grow, the idle
  // session's stays exactly where it was (nothing else sends it anything).
  auto idle_before = handled(rows, s2);
  auto busy_before = handled(rows, s1);
  auto file_before = handled(rows, "destination:file");
  auto enrichers_before = handled_by_role(rows, "enricher");
  e1.send(5);
  ASSERT_TRUE(eventually([&] { return jsonl_lines(records) == 25; })) << read_file(records);
  rows = actors(admin);
  EXPECT_GT(handled(rows, s1), busy_before);
  EXPECT_GT(handled(rows, "destination:file"), file_before);
  EXPECT_GT(handled_by_role(rows, "enricher"), enrichers_before);
  EXPECT_EQ(handled(rows, s2), idle_before);

  // `inspect actors`: an aligned table with a row per actor, and the JSON as it came.
  auto where = "127.0.0.1:" + std::to_string(admin);
  std::string out;
  ASSERT_EQ(
      run_command({binary("app/flow-aggregator"), "inspect", "actors", "--admin", where}, out), 0)
      << out;
  EXPECT_EQ(out.rfind("NAME", 0), 0u) << out;
  for (auto column : {"ROLE", "ID", "TYPE", "MAILBOX", "HANDLED", "AGE"})
    EXPECT_NE(out.find(column), std::string::npos) << column << "\n" << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1 + 8) << out; // header + 8 actors
  for (auto name : {"template_registry", "label_cache", "enricher-0", "enricher-1",
                    "destination:col", "destination:file"})
    EXPECT_NE(out.find(std::string{name} + " "), std::string::npos) << name << "\n" << out;
  EXPECT_NE(out.find(s1 + " "), std::string::npos) << out;
  EXPECT_NE(out.find(s2 + " "), std::string::npos) << out;
  // Columns line up: ROLE starts at the same offset on every line.
  {
    std::istringstream lines{out};
    std::string line, header;
    std::getline(lines, header);
    auto role_at = header.find("ROLE");
    while (std::getline(lines, line)) {
      ASSERT_GT(line.size(), role_at) << out;
      EXPECT_NE(line[role_at], ' ') << out;
      EXPECT_EQ(line[role_at - 1], ' ') << out;
    }
  }
  ASSERT_EQ(run_command({binary("app/flow-aggregator"), "inspect", "actors", "--admin", where, "-o",
                         "json"},
                        out),
            0)
      << out;
  auto parsed = json::parse(out, nullptr, false);
  ASSERT_TRUE(parsed.is_array()) << out;
  EXPECT_EQ(parsed.size(), 8u) << out;

  // The first exporter closes: its session actor leaves the list, the other stays.
  e1.close();
  ASSERT_TRUE(eventually([&] { return find(actors(admin), s1) == nullptr; }, 20s))
      << actors(admin).dump(2);
  rows = actors(admin);
  EXPECT_EQ(roles(rows)["agent_session"], 1) << rows.dump(2);
  EXPECT_NE(find(rows, s2), nullptr) << rows.dump(2);
  e2.close();
  ASSERT_TRUE(eventually([&] { return roles(actors(admin)).count("agent_session") == 0; }, 20s))
      << actors(admin).dump(2);
  rows = actors(admin);
  EXPECT_EQ(rows.size(), 6u) << rows.dump(2);
  col.stop();
}

// An actor that cannot answer (a JSON-lines destination whose file is a FIFO nobody
// reads: opening it blocks the actor's thread) is listed, unanswered, with the error,
// after the bounded wait; the others answer as usual, and inspect shows "-" for it.
TEST_F(actors_view, an_actor_that_does_not_answer_is_listed_as_such) {
  auto fifo = dir + "/stuck.jsonl";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Opened for reading at the end, which lets the blocked open return so the actor can
  // stop; closed after flow-aggregator stopped (declared before it).
  struct reader {
    int fd = -1;
    ~reader() {
      if (fd >= 0)
        ::close(fd);
    }
  } unblock;
  auto cfg = test_config("[[destination]]\nname = \"stuck\"\nurl = \"jsonl:" + fifo + "\"\n",
                         "[runtime]\nenrichers = 1\n");
  cfg.admin.listen = config::host_port{"127.0.0.1", 0};
  running fa{cfg};
  // Runs before flow-aggregator stops, however the test ends.
  struct opener {
    reader& r;
    std::string path;
    ~opener() {
      if (r.fd < 0)
        r.fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK);
    }
  } open_at_exit{unblock, fifo};
  auto admin = fa.sup.admin_port();
  auto started = std::chrono::steady_clock::now();
  auto rows = actors(admin);
  auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_LT(waited, 9s) << "one bounded wait for all actors, not one per actor";
  ASSERT_EQ(rows.size(), 4u) << rows.dump(2);
  auto* stuck = find(rows, "destination:stuck");
  ASSERT_NE(stuck, nullptr) << rows.dump(2);
  EXPECT_FALSE((*stuck)["answered"].get<bool>()) << stuck->dump();
  EXPECT_TRUE((*stuck)["mailbox"].is_null()) << stuck->dump();
  EXPECT_TRUE((*stuck)["handled"].is_null()) << stuck->dump();
  EXPECT_FALSE((*stuck)["error"].get<std::string>().empty()) << stuck->dump();
  for (const auto& a : rows)
    if (a["name"] != "destination:stuck")
      EXPECT_TRUE(a["answered"].get<bool>()) << a.dump();

  std::string out;
  ASSERT_EQ(run_command({binary("app/flow-aggregator"), "inspect", "actors", "--admin",
                         "127.0.0.1:" + std::to_string(admin)},
                        out),
            0)
      << out;
  std::istringstream lines{out};
  std::string line;
  bool seen = false;
  while (std::getline(lines, line))
    if (line.rfind("destination:stuck ", 0) == 0) {
      seen = true;
      EXPECT_NE(line.find(" - "), std::string::npos) << line;
    }
  EXPECT_TRUE(seen) << out;
  col.stop();
}

} // namespace
} // namespace fa::test
