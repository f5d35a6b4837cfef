#include "tools/common/cli.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace fa::tools {

std::optional<std::uint64_t> parse_uint(std::string_view text) {
  std::uint64_t v = 0;
  if (text.empty())
    return std::nullopt;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || ptr != text.data() + text.size())
    return std::nullopt;
  return v;
}

std::optional<double> parse_number(std::string_view text) {
  if (text.empty() || text.size() > 64)
    return std::nullopt;
  std::string s(text);
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || end != s.c_str() + s.size() || !std::isfinite(v) || v < 0)
    return std::nullopt;
  return v;
}

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  auto split = text.find_first_not_of("0123456789.");
  auto number = text.substr(0, split);
  auto unit = split == std::string_view::npos ? std::string_view{} : text.substr(split);
  double scale = 0;
  if (unit.empty() || unit == "s")
    scale = 1e9;
  else if (unit == "ms")
    scale = 1e6;
  else if (unit == "us")
    scale = 1e3;
  else if (unit == "ns")
    scale = 1;
  else if (unit == "m")
    scale = 60e9;
  else if (unit == "h")
    scale = 3600e9;
  auto v = parse_number(number);
  if (scale == 0 || !v || *v * scale > 1e18)
    return std::nullopt;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(*v * scale));
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  static constexpr std::pair<std::string_view, std::uint64_t> units[] = {
      {"KiB", 1ULL << 10}, {"MiB", 1ULL << 20}, {"GiB", 1ULL << 30},
      {"K", 1000},         {"M", 1000000},      {"G", 1000000000}};
  std::uint64_t scale = 1;
  for (auto& [suffix, factor] : units) {
    if (text.size() > suffix.size() && text.ends_with(suffix)) {
      text.remove_suffix(suffix.size());
      scale = factor;
      break;
    }
  }
  auto v = parse_uint(text);
  if (!v || *v > UINT64_MAX / scale)
    return std::nullopt;
  return *v * scale;
}

std::optional<host_port> parse_host_port(std::string_view text) {
  host_port hp;
  std::string_view port;
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    hp.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon)
      return std::nullopt; // IPv6 literals need brackets
    hp.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  auto p = parse_uint(port);
  if (hp.host.empty() || !p || *p > 65535)
    return std::nullopt;
  if (hp.host == "localhost")
    hp.host = "127.0.0.1";
  hp.port = static_cast<std::uint16_t>(*p);
  return hp;
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
}

std::string write_file_atomically(const std::string& path, std::string_view content) {
  auto tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f)
      return "cannot write " + tmp + ": " + std::strerror(errno);
    f.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!f.flush())
      return "cannot write " + tmp + ": " + std::strerror(errno);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return "cannot rename " + tmp + " to " + path + ": " + std::strerror(errno);
  return {};
}

void arg_parser::flag(std::string name, std::string help, std::function<void()> set) {
  entries_.push_back({std::move(name), {}, std::move(help), {}, std::move(set), {}});
}

void arg_parser::option(std::string name, std::string metavar, std::string help,
                        std::string expected, std::function<bool(std::string_view)> set) {
  entries_.push_back({std::move(name),
                      std::move(metavar),
                      std::move(help),
                      std::move(expected),
                      {},
                      std::move(set)});
}

std::string arg_parser::help() const {
  std::string s = "Usage: " + program_ + " [OPTIONS]\n\n" + summary_ + "\n\nOptions:\n";
  for (auto& e : entries_) {
    std::string left = "  --" + e.name + (e.metavar.empty() ? "" : " " + e.metavar);
    s += left;
    if (left.size() < 30)
      s.append(30 - left.size(), ' ');
    else
      s += "\n" + std::string(30, ' ');
    // Indent continuation lines of the help text.
    for (char c : e.help) {
      s += c;
      if (c == '\n')
        s.append(30, ' ');
    }
    s += '\n';
  }
  s += "  --help                      show this help and exit\n";
  return s;
}

void arg_parser::fail(const std::string& message) const {
  std::fprintf(stderr, "%s: %s\nTry '%s --help'.\n", program_.c_str(), message.c_str(),
               program_.c_str());
  std::exit(2);
}

void arg_parser::parse(int argc, char** argv) const {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(help().c_str(), stdout);
      std::exit(0);
    }
    if (!arg.starts_with("--"))
      fail("unexpected argument '" + std::string(arg) + "' (options start with --)");
    arg.remove_prefix(2);
    std::optional<std::string_view> value;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    const entry* e = nullptr;
    for (auto& candidate : entries_)
      if (candidate.name == arg)
        e = &candidate;
    if (e == nullptr)
      fail("unknown option --" + std::string(arg));
    if (e->metavar.empty()) {
      if (value)
        fail("--" + e->name + " takes no value");
      e->set_flag();
      continue;
    }
    if (!value) {
      if (i + 1 >= argc)
        fail("--" + e->name + " needs a value: " + e->metavar);
      value = argv[++i];
    }
    if (!e->set_value(*value))
      fail("bad value for --" + e->name + ": '" + std::string(*value) + "' (expected " +
           e->expected + ")");
  }
}

} // namespace fa::tools
