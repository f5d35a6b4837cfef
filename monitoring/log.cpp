#include "monitoring/log.hpp"

#include "base/json_string.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace fa::monitoring {

namespace {

std::atomic<log_level> current_level{log_level::info};
std::atomic<log_format> current_format{log_format::text};

const char* level_name(log_level l) {
  switch (l) {
  case log_level::trace:
    return "trace";
  case log_level::debug:
    return "debug";
  case log_level::info:
    return "info";
  case log_level::warn:
    return "warn";
  case log_level::error:
    return "error";
  }
  return "info";
}

// Text values with spaces, quotes or '=' are quoted so lines stay machine-splittable.
void append_text_value(std::string& out, std::string_view s) {
  bool plain = !s.empty() && s.find_first_of(" \"=\t\n") == std::string_view::npos;
  if (plain)
    out.append(s);
  else
    base::append_json_string(out, s);
}

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto t = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

} // namespace

void set_log_level(log_level level) {
  current_level = level;
}

void set_log_format(log_format format) {
  current_format = format;
}

bool log_enabled(log_level level) {
  return level >= current_level.load();
}

void log(log_level level, std::string_view event, std::initializer_list<log_field> fields) {
  if (!log_enabled(level))
    return;
  std::string line;
  line.reserve(128);
  if (current_format.load() == log_format::json) {
    line += "{\"ts\":\"" + timestamp() + "\",\"level\":\"" + level_name(level) + "\",\"event\":";
    base::append_json_string(line, event);
    for (auto& [k, v] : fields) {
      line.push_back(',');
      base::append_json_string(line, k);
      line.push_back(':');
      base::append_json_string(line, v);
    }
    line += "}\n";
  } else {
    line += "ts=" + timestamp() + " level=" + level_name(level) + " event=";
    append_text_value(line, event);
    for (auto& [k, v] : fields) {
      line.push_back(' ');
      line.append(k);
      line.push_back('=');
      append_text_value(line, v);
    }
    line.push_back('\n');
  }
  std::fwrite(line.data(), 1, line.size(), stderr);
}

} // namespace fa::monitoring
