// The flow log's file (sinks/rotating_file.hpp): rotation by size between whole lines,
// backup names, gzip of rotated files, pruning by count and age, and write errors that
// leave no partial line and lose or double nothing when retried.

#include "sinks/gzip.hpp"
#include "sinks/rotating_file.hpp"
#include "test/support/process.hpp"

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

using namespace fa::sinks;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string gunzip(const fs::path& p) {
  gzFile in = gzopen(p.c_str(), "rb");
  if (in == nullptr)
    return "<cannot open " + p.string() + ">";
  std::string out;
  char buf[4096];
  int n;
  while ((n = gzread(in, buf, sizeof buf)) > 0)
    out.append(buf, static_cast<std::size_t>(n));
  gzclose(in);
  return out;
}

/// The backups of `file` (names with a stamp), oldest first.
std::vector<fs::path> backups(const fs::path& file) {
  std::vector<fs::path> out;
  std::regex name{file.stem().string() + R"(-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3})" +
                  file.extension().string() + R"((\.gz)?)"};
  for (const auto& e : fs::directory_iterator{file.parent_path()})
    if (std::regex_match(e.path().filename().string(), name))
      out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string line(int i) {
  auto s = "line " + std::to_string(i) + " " + std::string(40, 'x');
  return s + "\n";
}

/// Waits (bounded) for the background gzip of every backup.
void wait_compressed(const fs::path& file) {
  for (int i = 0; i < 500; ++i) {
    auto b = backups(file);
    if (std::all_of(b.begin(), b.end(), [](const auto& p) { return p.extension() == ".gz"; }))
      return;
    std::this_thread::sleep_for(10ms);
  }
}

TEST(rotating_file, backup_names_follow_lumberjack) {
  auto t = std::chrono::system_clock::time_point{std::chrono::milliseconds{1787306400123}};
  EXPECT_EQ(rotating_file::backup_name("/var/log/flows.csv", t),
            fs::path{"/var/log/flows-2026-08-21T10-00-00.123.csv"});
}

TEST(rotating_file, rotates_between_lines_and_gzips_backups) {
  auto dir = fa::test::scratch_dir("rotating_file_rotates");
  fs::path file = dir + "/flows.csv";
  std::string all;
  {
    rotating_file f{{file.string(), 1024, 0, 0s, true}};
    ASSERT_EQ(f.open(), std::nullopt);
    for (int i = 0; i < 100; ++i) {
      // Several lines per append, as the destination writes a batch at once.
      std::string chunk = line(3 * i) + line(3 * i + 1) + line(3 * i + 2);
      all += chunk;
      auto r = f.append(chunk);
      ASSERT_EQ(r.error, std::nullopt);
      ASSERT_EQ(r.written, chunk.size());
      ASSERT_LE(f.size(), 1024u);
    }
    EXPECT_GT(f.rotations(), 10u);
    EXPECT_EQ(f.take_background_error(), std::nullopt);
  }
  auto b = backups(file);
  ASSERT_GT(b.size(), 10u);
  std::string joined;
  for (const auto& p : b) {
    EXPECT_EQ(p.extension(), ".gz") << p;
    auto text = gunzip(p);
    EXPECT_LE(text.size(), 1024u);
    EXPECT_EQ(text.back(), '\n') << "no line split across files: " << p;
    joined += text;
  }
  joined += fa::test::read_file(file.string());
  EXPECT_EQ(joined, all) << "every line once, in order";
}

TEST(rotating_file, keeps_max_backups_and_uncompressed_when_asked) {
  auto dir = fa::test::scratch_dir("rotating_file_backups");
  fs::path file = dir + "/flows.log";
  rotating_file f{{file.string(), 1024, 3, 0s, false}};
  ASSERT_EQ(f.open(), std::nullopt);
  for (int i = 0; i < 200; ++i)
    ASSERT_EQ(f.append(line(i)).error, std::nullopt);
  ASSERT_GT(f.rotations(), 5u);
  // Pruning runs in the background after each rotation; the next rotation waits for it,
  // and one more append that rotates makes sure the last one finished.
  std::string big(1000, 'y');
  big += "\n";
  ASSERT_EQ(f.append(big).error, std::nullopt);
  ASSERT_EQ(f.append(big).error, std::nullopt);
  std::vector<fs::path> b;
  for (int i = 0; i < 500 && (b = backups(file)).size() != 3; ++i)
    std::this_thread::sleep_for(10ms);
  ASSERT_EQ(b.size(), 3u);
  for (const auto& p : b)
    EXPECT_EQ(p.extension(), ".log") << "not gzipped: " << p;
}

TEST(rotating_file, removes_backups_older_than_max_age) {
  auto dir = fa::test::scratch_dir("rotating_file_age");
  fs::path file = dir + "/flows.csv";
  // A backup from 2001, and one from now.
  std::ofstream{dir + "/flows-2001-01-01T00-00-00.000.csv.gz"} << "old";
  std::ofstream{dir + "/flows-2001-01-01T00-00-00.000.txt"} << "not ours";
  rotating_file f{{file.string(), 1024, 0, 24h, true}};
  ASSERT_EQ(f.open(), std::nullopt);
  for (int i = 0; i < 40; ++i)
    ASSERT_EQ(f.append(line(i)).error, std::nullopt);
  ASSERT_GE(f.rotations(), 1u);
  wait_compressed(file);
  for (int i = 0; i < 500 && fs::exists(dir + "/flows-2001-01-01T00-00-00.000.csv.gz"); ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(fs::exists(dir + "/flows-2001-01-01T00-00-00.000.csv.gz"));
  EXPECT_TRUE(fs::exists(dir + "/flows-2001-01-01T00-00-00.000.txt"));
  EXPECT_GE(backups(file).size(), 1u);
}

TEST(rotating_file, a_failed_write_leaves_no_partial_line_and_resumes_exactly) {
  auto dir = fa::test::scratch_dir("rotating_file_efbig");
  fs::path file = dir + "/flows.csv";
  rotating_file f{{file.string(), 0, 0, 0s, false}};
  ASSERT_EQ(f.open(), std::nullopt);
  std::string text;
  for (int i = 0; i < 20; ++i)
    text += line(i);
  // The file size limit (RLIMIT_FSIZE) makes a write fail part-way, as a full disk
  // does: EFBIG instead of ENOSPC, for root too and with no mount.
  struct rlimit old {};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old;
  small.rlim_cur = 300;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  auto r = f.append(text);
  setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
  ASSERT_TRUE(r.error.has_value());
  EXPECT_NE(r.error->find("cannot write " + file.string() + ": File too large"), std::string::npos)
      << *r.error;
  EXPECT_EQ(r.written, 0u) << "one write of the whole text failed";
  EXPECT_EQ(fs::file_size(file), 0u) << "the partial line was cut";
  auto again = f.append(std::string_view{text}.substr(r.written));
  EXPECT_EQ(again.error, std::nullopt);
  EXPECT_EQ(fa::test::read_file(file.string()), text);
}

TEST(rotating_file, open_errors_name_the_file) {
  auto dir = fa::test::scratch_dir("rotating_file_open");
  rotating_file missing{{dir + "/no/such/dir/flows.csv"}};
  auto err = missing.open();
  ASSERT_TRUE(err);
  EXPECT_EQ(*err, "cannot open " + dir + "/no/such/dir/flows.csv: No such file or directory");
  rotating_file a_dir{{dir}};
  err = a_dir.open();
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("cannot open " + dir + ": Is a directory"), std::string::npos) << *err;
  if (geteuid() != 0) {
    // Root writes anywhere; the read-only case for root is in the integration tests
    // (a read-only mount in a private mount namespace).
    fs::create_directory(dir + "/ro");
    fs::permissions(dir + "/ro", fs::perms::owner_read | fs::perms::owner_exec);
    rotating_file ro{{dir + "/ro/flows.csv"}};
    err = ro.open();
    ASSERT_TRUE(err);
    EXPECT_EQ(*err, "cannot open " + dir + "/ro/flows.csv: Permission denied");
  }
}

TEST(gzip, compresses_to_a_member_gunzip_reads) {
  gzip_compressor z;
  std::string text;
  for (int i = 0; i < 1000; ++i)
    text += line(i);
  std::string out;
  z.compress(text, out);
  EXPECT_LT(out.size(), text.size() / 5);
  auto dir = fa::test::scratch_dir("gzip_member");
  std::ofstream{dir + "/a.gz", std::ios::binary} << out;
  EXPECT_EQ(gunzip(dir + "/a.gz"), text);
  // The state is reused: a second body is a member of its own.
  z.compress("second\n", out);
  std::ofstream{dir + "/b.gz", std::ios::binary} << out;
  EXPECT_EQ(gunzip(dir + "/b.gz"), "second\n");
}

} // namespace
