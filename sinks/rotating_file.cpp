#include "sinks/rotating_file.hpp"

#include "sinks/gzip.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

namespace fa::sinks {

namespace fs = std::filesystem;

namespace {

std::string sys_error(const std::string& what, int err) {
  return what + ": " + std::strerror(err);
}

/// "2006-01-02T15-04-05.000", lumberjack's backup time format, in UTC.
constexpr std::size_t stamp_length = 23;

std::string stamp(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96]; // room for any int, so that GCC sees no truncation
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d-%02d-%02d.%03d", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

/// The time in a backup's stamp; nullopt when `text` is not one.
std::optional<std::time_t> parse_stamp(std::string_view text) {
  if (text.size() != stamp_length)
    return std::nullopt;
  std::tm tm{};
  int ms = 0;
  std::string s{text};
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d-%2d-%2d.%3d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return timegm(&tm);
}

} // namespace

rotating_file::rotating_file(rotating_file_options o)
    : opt_(std::move(o)) {}

rotating_file::~rotating_file() {
  join_background();
  if (fd_ >= 0)
    ::close(fd_);
}

std::optional<std::string> rotating_file::open() {
  fd_ = ::open(opt_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0)
    return sys_error("cannot open " + opt_.path, errno);
  struct stat st {};
  if (::fstat(fd_, &st) != 0)
    return sys_error("cannot stat " + opt_.path, errno);
  if (!S_ISREG(st.st_mode))
    return "cannot log to " + opt_.path + ": not a regular file";
  size_ = static_cast<std::uint64_t>(st.st_size);
  return std::nullopt;
}

fs::path rotating_file::backup_name(const fs::path& file, std::chrono::system_clock::time_point t) {
  auto name = file.stem().string() + "-" + stamp(t) + file.extension().string();
  return file.parent_path() / name;
}

rotating_file::append_result rotating_file::append(std::string_view lines) {
  append_result r;
  if (fd_ < 0) {
    if (auto err = open()) {
      r.error = err;
      return r;
    }
  }
  while (r.written < lines.size()) {
    auto rest = lines.substr(r.written);
    std::size_t take = rest.size();
    if (opt_.max_size != 0 && size_ + take > opt_.max_size) {
      // The whole lines that still fit; a rotation first when none does.
      std::size_t room = size_ < opt_.max_size ? opt_.max_size - size_ : 0;
      auto cut = rest.substr(0, std::min(room, rest.size())).rfind('\n');
      if (cut != std::string_view::npos) {
        take = cut + 1;
      } else if (size_ > 0) {
        if (auto err = rotate()) {
          r.error = err;
          return r;
        }
        continue;
      } else {
        // One line longer than max_size: alone in a fresh file.
        take = rest.find('\n');
        take = take == std::string_view::npos ? rest.size() : take + 1;
      }
    }
    if (auto err = write_all(rest.substr(0, take))) {
      r.error = err;
      return r;
    }
    r.written += take;
  }
  return r;
}

std::optional<std::string> rotating_file::write_all(std::string_view text) {
  const auto before = size_;
  std::size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(fd_, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      // No partial line stays behind: cut back to the last whole line.
      if (done > 0 && ::ftruncate(fd_, static_cast<off_t>(before)) != 0)
        return sys_error("cannot write " + opt_.path, err) +
               "; cutting the partial line failed: " + std::strerror(errno);
      return sys_error("cannot write " + opt_.path, err);
    }
    done += static_cast<std::size_t>(n);
  }
  size_ = before + text.size();
  return std::nullopt;
}

std::optional<std::string> rotating_file::rotate() {
  // One background job at a time: the next rotation waits for the previous gzip.
  join_background();
  auto now = std::chrono::system_clock::now();
  fs::path file{opt_.path};
  auto target = backup_name(file, now);
  std::error_code ec;
  // Two rotations within a millisecond: the next free stamp.
  for (int i = 1; i < 1000 && (fs::exists(target, ec) || fs::exists(target.string() + ".gz", ec));
       ++i)
    target = backup_name(file, now + std::chrono::milliseconds{i});
  if (::rename(opt_.path.c_str(), target.c_str()) != 0)
    return sys_error("cannot rotate " + opt_.path + " to " + target.string(), errno);
  ::close(fd_);
  fd_ = -1;
  ++rotations_;
  auto opened = open();
  worker_ = std::thread{[this, target] { background(target); }};
  return opened;
}

void rotating_file::background(fs::path rotated) {
  std::optional<std::string> err;
  if (opt_.compress)
    err = gzip_file(rotated, rotated.string() + ".gz");
  prune();
  if (err) {
    std::lock_guard guard{error_mtx_};
    background_error_ = err;
  }
}

void rotating_file::prune() {
  if (opt_.max_backups == 0 && opt_.max_age.count() == 0)
    return;
  fs::path file{opt_.path};
  auto dir = file.parent_path().empty() ? fs::path{"."} : file.parent_path();
  const auto prefix = file.stem().string() + "-";
  const auto ext = file.extension().string();
  struct backup {
    std::time_t t;
    fs::path path;
  };
  std::vector<backup> backups;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator{dir, ec}) {
    auto name = entry.path().filename().string();
    std::string_view rest{name};
    if (!rest.starts_with(prefix))
      continue;
    rest.remove_prefix(prefix.size());
    if (rest.ends_with(".gz"))
      rest.remove_suffix(3);
    if (!rest.ends_with(ext))
      continue;
    rest.remove_suffix(ext.size());
    if (auto t = parse_stamp(rest))
      backups.push_back({*t, entry.path()});
  }
  std::sort(backups.begin(), backups.end(), [](const auto& a, const auto& b) { return a.t > b.t; });
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  for (std::size_t i = 0; i < backups.size(); ++i) {
    bool too_many = opt_.max_backups != 0 && i >= opt_.max_backups;
    bool too_old = opt_.max_age.count() != 0 && now - backups[i].t > opt_.max_age.count();
    if (too_many || too_old)
      fs::remove(backups[i].path, ec);
  }
}

void rotating_file::join_background() {
  if (worker_.joinable())
    worker_.join();
}

std::optional<std::string> rotating_file::take_background_error() {
  std::lock_guard guard{error_mtx_};
  auto err = std::move(background_error_);
  background_error_.reset();
  return err;
}

} // namespace fa::sinks
