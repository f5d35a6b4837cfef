// scratch_dir: every call its own directory, so tests that pass the same name cannot
// delete each other's files under ctest -j (each test runs in a process of its own).

#include "test/support/process.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

namespace fa::test {
namespace {

namespace fs = std::filesystem;

TEST(scratch_dir, every_call_gets_a_fresh_directory_and_leaves_the_others_alone) {
  auto a = scratch_dir("scratch_dir_test");
  std::ofstream{fs::path{a} / "mine"} << "kept";
  auto b = scratch_dir("scratch_dir_test");
  EXPECT_NE(a, b);
  EXPECT_TRUE(fs::is_empty(b));
  EXPECT_EQ(read_file((fs::path{a} / "mine").string()), "kept");
  // The process id is part of the path: another test process of the same name gets
  // another directory.
  EXPECT_NE(a.find(std::to_string(::getpid())), std::string::npos) << a;
}

TEST(scratch_dir, directories_of_exited_processes_are_removed_and_live_ones_kept) {
  auto mine = fs::path{scratch_dir("scratch_dir_reap")};
  auto parent = mine.parent_path();
  // A process that has exited, and one that is alive (ours: ctest or the shell).
  pid_t dead = 0;
  {
    process p{{"true"}};
    ASSERT_EQ(p.wait(std::chrono::seconds{30}), 0);
    dead = p.pid();
  }
  auto stale = parent / (std::to_string(dead) + "-0");
  auto live = parent / (std::to_string(::getppid()) + "-0");
  fs::create_directories(stale);
  fs::create_directories(live);
  scratch_dir("scratch_dir_reap");
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(mine));
  fs::remove_all(live);
}

} // namespace
} // namespace fa::test
