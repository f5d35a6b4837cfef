#pragma once

// The flow log's file (reference antrea-grpc-transport.md 6.3, Antrea's lumberjack
// settings): appended to in whole lines, rotated before a line would take it past
// `max_size`, rotated files renamed `<name>-<UTC 2006-01-02T15-04-05.000><ext>`,
// gzipped in the background, and pruned to `max_backups` files younger than `max_age`.
//
// A write that fails (disk full, file size limit, I/O error) leaves no partial line: the
// file is cut back to its last whole line written, and the caller learns how much of
// its text went in, so that a retry writes the rest exactly once. Blocking: call it
// from a thread that may block (the flow-log destination's own thread).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace fa::sinks {

struct rotating_file_options {
  std::string path;
  std::uint64_t max_size = 100 * 1024 * 1024; ///< 0 = never rotate
  std::uint32_t max_backups = 3;              ///< rotated files kept; 0 = all
  std::chrono::seconds max_age{0};            ///< rotated files older are removed; 0 = kept
  bool compress = true;                       ///< gzip rotated files (`.gz`)
};

class rotating_file {
 public:
  explicit rotating_file(rotating_file_options o);
  ~rotating_file(); ///< closes; waits for a compression in progress
  rotating_file(const rotating_file&) = delete;
  rotating_file& operator=(const rotating_file&) = delete;

  /// Opens the file for appending (creating it). The error names the file and the
  /// system's reason ("cannot open /x/flows.csv: Read-only file system").
  std::optional<std::string> open();

  struct append_result {
    std::size_t written = 0; ///< octets of the text now in the file(s), whole lines only
    std::optional<std::string> error;
  };

  /// Appends `lines` (whole lines, each ending in "\n"), rotating between lines as
  /// needed. On an error, `written` says how much of `lines` went in; nothing of the
  /// line that failed stays in the file.
  append_result append(std::string_view lines);

  /// The current file's size.
  std::uint64_t size() const { return size_; }
  /// Rotations done so far.
  std::uint64_t rotations() const { return rotations_; }
  /// A problem of the background work (compressing, pruning) since the last call, once.
  std::optional<std::string> take_background_error();

  /// The name a file rotated at `t` gets: `flows.csv` -> `flows-2026-08-21T10-00-00.000.csv`.
  static std::filesystem::path backup_name(const std::filesystem::path& file,
                                           std::chrono::system_clock::time_point t);

 private:
  std::optional<std::string> rotate();
  std::optional<std::string> write_all(std::string_view text);
  void background(std::filesystem::path rotated);
  void prune();
  void join_background();

  rotating_file_options opt_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::uint64_t rotations_ = 0;
  std::thread worker_;
  std::mutex error_mtx_;
  std::optional<std::string> background_error_;
};

} // namespace fa::sinks
