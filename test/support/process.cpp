#include "test/support/process.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace fa::test {

process::process(std::vector<std::string> argv, std::string stdout_file, std::string stderr_file) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (!stdout_file.empty())
    posix_spawn_file_actions_addopen(&fa, 1, stdout_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
  if (!stderr_file.empty())
    posix_spawn_file_actions_addopen(&fa, 2, stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(a.data());
  args.push_back(nullptr);
  int rc = posix_spawnp(&pid_, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
}

process::~process() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    wait(std::chrono::seconds{10});
  }
}

bool process::running() {
  if (status_)
    return false;
  int st = 0;
  auto r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }
  return true;
}

void process::signal(int sig) {
  if (!status_)
    ::kill(pid_, sig);
}

std::optional<int> process::wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return status_;
}

static std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// The environment wins (ctest sets it); the build's own paths are compiled in for a test
// binary run by hand.
std::string binary(const std::string& relative) {
  return env_or("FA_BINARY_DIR", FA_DEFAULT_BINARY_DIR) + "/" + relative;
}

std::string source(const std::string& relative) {
  return env_or("FA_SOURCE_DIR", FA_DEFAULT_SOURCE_DIR) + "/" + relative;
}

// Each call gets its own directory, <name>/<pid>-<n>: ctest -j runs every test in a process
// of its own, so two tests (or two calls in one test) never share files even when they pass
// the same name. The directories of processes that have exited are removed here, so the
// tree keeps only the last run's files for inspection and does not grow.
std::string scratch_dir(const std::string& name) {
  namespace fs = std::filesystem;
  static std::atomic<unsigned> calls{0};
  auto parent = fs::path{env_or("FA_BINARY_DIR", FA_DEFAULT_BINARY_DIR)} / "test-scratch" / name;
  std::error_code ec;
  for (auto it = fs::directory_iterator{parent, ec}; !ec && it != fs::directory_iterator{};
       it.increment(ec)) {
    auto leaf = it->path().filename().string();
    auto pid = static_cast<pid_t>(std::strtol(leaf.c_str(), nullptr, 10));
    if (pid > 0 && pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH) {
      std::error_code ignored; // another test of the same name may be removing it too
      fs::remove_all(it->path(), ignored);
    }
  }
  auto dir = parent / (std::to_string(::getpid()) + "-" + std::to_string(calls++));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::optional<std::string> wait_for_file(const std::string& path,
                                         std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in{path};
    std::string line;
    if (in && std::getline(in, line) && !line.empty())
      return line;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return std::nullopt;
}

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int run_command(const std::vector<std::string>& argv, std::string& output,
                std::chrono::milliseconds timeout) {
  char tmpl[] = "/tmp/fa-test-cmd-XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd < 0)
    return -1;
  ::close(fd);
  int rc;
  {
    process p{argv, tmpl, tmpl};
    auto st = p.wait(timeout);
    rc = st ? *st : -2;
  }
  output = read_file(tmpl);
  ::unlink(tmpl);
  return rc;
}

} // namespace fa::test
