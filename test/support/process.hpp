#pragma once

// Child processes for integration and interop tests: started with posix_spawn, stopped
// with a signal, waited for with a deadline. Every wait is bounded.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace fa::test {

class process {
 public:
  /// Starts `argv[0]` with `argv`; stdout and stderr go to the given files ("" = inherit).
  process(std::vector<std::string> argv, std::string stdout_file = "",
          std::string stderr_file = "");
  ~process(); ///< kills (SIGKILL) and reaps a child still running
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  bool running();
  void signal(int sig);
  /// Waits for the exit; returns the exit code (128 + signal when killed), or nullopt
  /// when the deadline passed.
  std::optional<int> wait(std::chrono::milliseconds timeout);

  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

/// Path of a built binary: $FA_BINARY_DIR/<relative>.
std::string binary(const std::string& relative);
/// Path of a source file: $FA_SOURCE_DIR/<relative>.
std::string source(const std::string& relative);
/// A fresh empty directory under the build tree for one test's files, unique to this call
/// and process (`test-scratch/<name>/<pid>-<n>`): tests that pass the same name cannot
/// delete each other's files under `ctest -j`. Call it once per test and keep the path.
std::string scratch_dir(const std::string& name);
/// Waits until `path` exists and is non-empty, then returns its first line.
std::optional<std::string> wait_for_file(const std::string& path,
                                         std::chrono::milliseconds timeout);
std::string read_file(const std::string& path);
/// Runs a command to completion (bounded), capturing stdout+stderr into `output`.
int run_command(const std::vector<std::string>& argv, std::string& output,
                std::chrono::milliseconds timeout = std::chrono::seconds{120});

} // namespace fa::test
