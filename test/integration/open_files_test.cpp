// The open-file limit (issue 16, defect 4): the real binary run under a low RLIMIT_NOFILE
// (prlimit) with more exporter connections than descriptors. Its accept loops pause
// instead of spinning (the CPU it uses stays low), count and log the failures, and it
// serves again once the connections close. At start the soft limit is raised to the hard
// one, with a warning when max_sessions cannot fit.

#include "monitoring/process_metrics.hpp"
#include "test/integration/fa_process.hpp"

#include <gtest/gtest.h>

#include <asio.hpp>

#include <fstream>

#include <sys/resource.h>
#include <unistd.h>

using namespace std::chrono_literals;

namespace fa::test {
namespace {

std::string config_toml(const std::string& dir) {
  return "[collector]\nlisten = [\"tcp://127.0.0.1:0\"]\n"
         "[admin]\nlisten = \"127.0.0.1:0\"\n"
         "[runtime]\nlog_format = \"json\"\nworkers = 2\n"
         "[[destination]]\nname = \"out\"\nurl = \"jsonl:" +
         dir + "/out.jsonl\"\n";
}

/// User + system CPU seconds of process `pid` so far (/proc/PID/stat).
double cpu_seconds(pid_t pid) {
  monitoring::process_sample s;
  auto text = read_file("/proc/" + std::to_string(pid) + "/stat");
  EXPECT_TRUE(monitoring::parse_proc_stat(text, static_cast<double>(::sysconf(_SC_CLK_TCK)),
                                          static_cast<double>(::sysconf(_SC_PAGESIZE)), 0, s))
      << text;
  return s.cpu_seconds.value_or(0);
}

std::size_t open_fds(pid_t pid) {
  std::string out;
  run_command({"sh", "-c", "ls /proc/" + std::to_string(pid) + "/fd | wc -l"}, out);
  return static_cast<std::size_t>(std::stoul(out));
}

} // namespace

/// In the sanitizer build, UBSan's vptr check reads a vtable only after probing its
/// memory through a new pipe (compiler-rt 14, IsAccessibleMemoryRange); at the open-file
/// limit pipe() fails, so every check its small cache does not answer "fails" and aborts
/// the process: comparing error codes (<system_error>, error_category's operator==, in
/// every read), an actor's state (agent_session.cpp), whatever runs first at the limit.
/// The process at the limit reports no vptr check (a runtime suppression, matched by the
/// check's source file without symbolizing; the other checks stay); a Release build
/// ignores it.
void suppress_vptr_check_at_the_limit(const std::string& dir) {
  auto file = dir + "/ubsan.supp";
  std::ofstream{file} << "vptr:*\n";
  ::setenv("UBSAN_OPTIONS", ("suppressions=" + file).c_str(), 1);
}

TEST(open_files, the_accept_loop_pauses_at_the_limit_and_recovers) {
  auto dir = scratch_dir("fd_limit");
  ::setenv("FA_STATE_DIR", dir.c_str(), 1);
  suppress_vptr_check_at_the_limit(dir);
  // Measure what the process needs idle, then run it with 24 descriptors more than that.
  std::size_t idle = 0;
  {
    fa_process probe{dir, dir + "/fa.toml", config_toml(dir)};
    idle = open_fds(probe.proc().pid());
    ASSERT_EQ(probe.terminate(), 0);
  }
  auto limit = std::to_string(idle + 24);
  fa_process fa{
      dir, dir + "/fa.toml", config_toml(dir), {"prlimit", "--nofile=" + limit + ":" + limit}};
  ASSERT_GT(fa.port(), 0);
  EXPECT_FALSE(log_events(fa.log(), "open file limit below max_sessions").empty()) << fa.log();

  // Twice as many connections as there are descriptors left: the rest wait in the
  // kernel's accept queue, and every accept fails with EMFILE.
  asio::io_context io;
  std::vector<asio::ip::tcp::socket> conns;
  for (int i = 0; i < 48; ++i) {
    conns.emplace_back(io);
    conns.back().connect({asio::ip::address_v4::loopback(), fa.port()});
  }
  ASSERT_TRUE(eventually([&] { return !log_events(fa.log(), "accept failed").empty(); }))
      << fa.log();
  auto line = log_events(fa.log(), "accept failed").front();
  EXPECT_EQ(line.value("reason", ""), "fd_limit") << line.dump();
  // Spinning on accept() took a whole core; pausing takes next to nothing. Generous:
  // a fifth of a core over 3 s, on a loaded machine and a sanitizer build.
  auto pid = fa.proc().pid();
  auto before = cpu_seconds(pid);
  std::this_thread::sleep_for(3s);
  auto used = cpu_seconds(pid) - before;
  EXPECT_LT(used, 0.6) << used << " s of CPU in 3 s at the open-file limit";

  // The connections go: descriptors come back, the waiting connections are accepted
  // (and end), and the admin API answers with the failures counted.
  conns.clear();
  http_result health;
  ASSERT_TRUE(eventually([&] {
    health = http_get(fa.admin(), "/healthz");
    return health.status == 200;
  })) << fa.log();
  EXPECT_GT(fa.metric("flow_aggregator_accept_failures_total",
                      {{"transport", "tcp"}, {"reason", "fd_limit"}}),
            0);
  ASSERT_TRUE(eventually([&] { return fa.metric("flow_aggregator_sessions_closed_total") >= 48; }))
      << "every waiting connection was accepted in the end";
  EXPECT_EQ(fa.terminate(), 0);
}

// The soft limit is raised to the hard one at start.
TEST(open_files, the_soft_limit_is_raised_to_the_hard_limit) {
  auto dir = scratch_dir("fd_raise");
  ::setenv("FA_STATE_DIR", dir.c_str(), 1);
  rlimit rl{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max <= 200)
    GTEST_SKIP() << "needs a finite hard limit above 200";
  auto hard = std::to_string(rl.rlim_max);
  fa_process fa{dir, dir + "/fa.toml", config_toml(dir), {"prlimit", "--nofile=200:" + hard}};
  ASSERT_GT(fa.port(), 0);
  auto lines = log_events(fa.log(), "open file limit");
  ASSERT_EQ(lines.size(), 1u) << fa.log();
  EXPECT_EQ(lines[0].value("was", ""), "200");
  EXPECT_EQ(lines[0].value("soft", ""), hard);
  EXPECT_EQ(fa.metric("process_max_fds"), static_cast<double>(rl.rlim_max));
  // max_sessions (10000) and the headroom fit, or the start says they do not.
  EXPECT_EQ(log_events(fa.log(), "open file limit below max_sessions").empty(),
            rl.rlim_max >= 10000 + 256)
      << fa.log();
  EXPECT_EQ(fa.terminate(), 0);
}

} // namespace fa::test
