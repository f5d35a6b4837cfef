#pragma once

// flow-aggregator as a child process (the real binary, `run -c FILE`) for lifecycle
// tests: reload on SIGHUP or a changed file, SIGTERM. Its log is JSON lines on stderr;
// its admin API answers on an ephemeral port read from the "started" line.

#include "test/integration/harness.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <regex>
#include <sstream>

namespace fa::test {

/// The sum of a Prometheus text-format sample over the series whose labels include all
/// of `labels` (`{"result", "success"}`); 0 when there is none.
inline double prom_value(const std::string& text, const std::string& name,
                         const std::vector<std::pair<std::string, std::string>>& labels = {}) {
  double total = 0;
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    auto space = line.rfind(' ');
    if (space == std::string::npos)
      continue;
    auto series = line.substr(0, space);
    auto brace = series.find('{');
    if (series.substr(0, brace) != name)
      continue;
    bool match = true;
    for (const auto& [k, v] : labels)
      match = match && series.find(k + "=\"" + v + "\"") != std::string::npos;
    if (match)
      total += std::stod(line.substr(space + 1));
  }
  return total;
}

/// The JSON log lines of `log` whose "event" is `event`.
inline std::vector<nlohmann::json> log_events(const std::string& log, const std::string& event) {
  std::vector<nlohmann::json> out;
  std::istringstream in{log};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] != '{')
      continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.value("event", "") == event)
      out.push_back(std::move(j));
  }
  return out;
}

class fa_process {
 public:
  /// Writes `config_toml` to `config_path` (unless empty: the file is there already) and
  /// starts flow-aggregator on it, behind `wrapper` if given (such as prlimit and its
  /// arguments); waits for its listener and admin ports.
  fa_process(const std::string& dir, const std::string& config_path,
             const std::string& config_toml = "", std::vector<std::string> wrapper = {})
      : config_(config_path)
      , log_(dir + "/fa.err") {
    if (!config_toml.empty())
      write_config(config_toml);
    auto argv = std::move(wrapper);
    for (auto a : {binary("app/flow-aggregator"), std::string{"run"}, std::string{"-c"}, config_})
      argv.push_back(a);
    proc_ = std::make_unique<process>(std::move(argv), "", log_);
    std::smatch port, admin;
    std::string text;
    bool up = eventually(
        [&] {
          text = log();
          return std::regex_search(text, port, std::regex{"\"port\":\"([0-9]+)\""}) &&
                 std::regex_search(text, admin, std::regex{"\"admin_port\":\"([0-9]+)\""});
        },
        std::chrono::seconds{30});
    EXPECT_TRUE(up) << text;
    if (up) {
      port_ = static_cast<std::uint16_t>(std::stoi(port[1]));
      admin_ = static_cast<std::uint16_t>(std::stoi(admin[1]));
    }
  }

  std::uint16_t port() const { return port_; }
  std::uint16_t admin() const { return admin_; }
  process& proc() { return *proc_; }
  std::string log() const { return read_file(log_); }

  /// Replaces the config file in place (same inode), as an editor would.
  void write_config(const std::string& toml) const {
    std::ofstream out{config_, std::ios::trunc};
    out << toml;
  }

  /// Rewrites the config and sends SIGHUP; waits until the reload is counted (either
  /// result) and returns true for a success.
  bool reload(const std::string& toml) {
    auto ok = reloads("success");
    auto all = reloads();
    write_config(toml);
    proc_->signal(SIGHUP);
    EXPECT_TRUE(eventually([&] { return reloads() > all; }, std::chrono::seconds{60})) << log();
    return reloads("success") > ok;
  }

  /// flow_aggregator_config_reloads_total, of one result or all.
  double reloads(const std::string& result = "") {
    if (result.empty())
      return metric("flow_aggregator_config_reloads_total");
    return metric("flow_aggregator_config_reloads_total", {{"result", result}});
  }

  std::string metrics_text() { return http_get(admin_, "/metrics").body; }
  double metric(const std::string& name,
                const std::vector<std::pair<std::string, std::string>>& labels = {}) {
    return prom_value(metrics_text(), name, labels);
  }
  nlohmann::json api(const std::string& path) {
    auto r = http_get(admin_, path);
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    return j.is_discarded() ? nlohmann::json{} : j;
  }
  /// The ids of the open exporter sessions.
  std::vector<std::uint64_t> session_ids() {
    std::vector<std::uint64_t> ids;
    for (const auto& s : api("/api/v1/sessions"))
      ids.push_back(s.value("id", std::uint64_t{0}));
    return ids;
  }
  /// A destination's status from /api/v1/destinations (null when it is not listed).
  nlohmann::json destination(const std::string& name) {
    for (const auto& d : api("/api/v1/destinations"))
      if (d.value("name", "") == name)
        return d;
    return nullptr;
  }

  /// SIGTERM and the exit code (nullopt: it did not exit in time).
  std::optional<int> terminate(std::chrono::milliseconds timeout = std::chrono::seconds{60}) {
    proc_->signal(SIGTERM);
    return proc_->wait(timeout);
  }

 private:
  std::string config_;
  std::string log_;
  std::unique_ptr<process> proc_;
  std::uint16_t port_ = 0;
  std::uint16_t admin_ = 0;
};

} // namespace fa::test
