// flow-aggregator: run, check-config, inspect, version (DESIGN 7).

#include "app/admin_server.hpp"
#include "app/cluster_identity.hpp"
#include "app/inspect.hpp"
#include "app/open_files.hpp"
#include "app/reload.hpp"
#include "app/supervisor.hpp"
#include "config/default_config.hpp"
#include "config/load.hpp"
#include "config/render.hpp"
#include "config/validate.hpp"
#include "monitoring/heap_trim.hpp"
#include "monitoring/log.hpp"
#include "sinks/clickhouse_rows.hpp"

#include <prometheus/registry.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <malloc.h>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view usage = R"(usage: flow-aggregator COMMAND [OPTIONS]

commands:
  run [-c FILE]           collect, enrich and forward IPFIX (default: the embedded config)
  check-config -c FILE    validate FILE, print the effective config, exit 1 on errors
  inspect VIEW            print a running instance's sessions, templates, destinations,
                          labels, actors, aggregators or flows from its admin API
  clickhouse-schema       print the CREATE TABLE for a clickhouse+http(s) destination
                          (ClickHouse 18.16 and later)
  version                 print the version

options:
  -c, --config FILE       TOML configuration file (inspect: where the admin API listens
                          and its token file)
  -o, --output FORMAT     inspect: table (default) or json
  --admin HOST:PORT       inspect: the admin API (default: [admin] listen of the config);
                          https://HOST:PORT for one serving TLS ([admin] tls_cert)
  --cacert FILE           inspect over https: PEM CA to verify the server (default with
                          the config's https: its [admin] tls_cert; else system CAs)
  --token-file FILE       inspect: bearer token (default: [admin] token_file)
  --ip ADDRESS            inspect labels: the Pods that held ADDRESS; inspect flows: the
                          flows from or to ADDRESS
  --port PORT             inspect flows: the flows from or to PORT
  --limit N               inspect flows: at most N flows (default 100, at most 1000)
  --database NAME         clickhouse-schema: the database (default: default)
  --table NAME            clickhouse-schema: the table (default: flows)
  -h, --help              this text
)";

struct cli {
  std::string command;
  std::string config_file;
  std::string view;
  std::string output = "table";
  std::string admin;
  std::string token_file;
  std::string ip;
  std::string cacert;
  std::string port;
  std::string limit;
  std::string database = "default";
  std::string table = "flows";
};

int fail_usage(std::string_view why) {
  std::cerr << "flow-aggregator: " << why << "\n\n" << usage;
  return 2;
}

fa::config::load_result load(const cli& c) {
  return c.config_file.empty() ? fa::config::load_default() : fa::config::load_file(c.config_file);
}

bool report_errors(const fa::config::load_result& r) {
  for (auto& e : r.errors)
    std::cerr << fa::config::to_string(e) << "\n";
  return !r.cfg;
}

fa::monitoring::log_level to_log_level(fa::config::log_level l) {
  return static_cast<fa::monitoring::log_level>(static_cast<int>(l));
}

/// The sum of a counter family over all its label sets (read once, at exit).
std::uint64_t counter_total(fa::monitoring::metrics& m, const std::string& name) {
  double total = 0;
  for (const auto& family : m.registry()->Collect())
    if (family.name == name)
      for (const auto& x : family.metric)
        total += x.counter.value;
  return static_cast<std::uint64_t>(total);
}

int run(const cli& c) {
  // Receive chunks and enriched payloads are 64-256 KiB. Above glibc's default mmap
  // threshold each would be a fresh mmap, zeroed page by page by the kernel; kept on
  // the heap they are reused. They are freed on other threads than the ones that took
  // them, which leaves the free space at the top of a thread's heap: above the trim
  // threshold (128 KiB unless set) glibc hands it back to the kernel, and the next
  // chunk faults its pages in zeroed again (page faults and clear_page were 10% of the
  // CPU with TLS in). What stays cached is bounded by the receive budget and queues.
  mallopt(M_MMAP_THRESHOLD, 16 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  // One heap for every thread. With glibc's default (an arena per thread, up to 8 per
  // core), a flow table's long-lived pieces, made by whichever worker runs its shard, sit
  // in arenas among the receive chunks and payloads that other threads free, and what the
  // trim cannot hand back after a burst varied from run to run: 474-553 B/flow settled at
  // 1 M flows against 470-473 with one arena, at the same CPU (README, Aggregate mode).
  // Nothing allocates per record (STYLE), so a shared heap's lock is taken per batch.
  mallopt(M_ARENA_MAX, 1);
  auto loaded = load(c);
  if (report_errors(loaded))
    return 1;
  auto cfg = *loaded.cfg;
  fa::monitoring::set_log_level(to_log_level(cfg.runtime.log_level));
  fa::monitoring::set_log_format(cfg.runtime.log_format == fa::config::log_format::json
                                     ? fa::monitoring::log_format::json
                                     : fa::monitoring::log_format::text);
  for (const auto& w : fa::config::warnings(cfg))
    fa::monitoring::log(fa::monitoring::log_level::warn, "config", {{"warning", w}});
  std::string where;
  cfg.cluster_id = fa::app::resolve_cluster_id(cfg.cluster_id, where);
  // Signals are taken synchronously by this thread; every thread started from here on
  // inherits the mask, so none of them is interrupted.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP); // reload the config and the tls:// certificate, key and CA
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // Each TCP/TLS session holds a descriptor: as many as allowed, and a warning when the
  // configuration cannot fit (issue 16, defect 4).
  fa::app::raise_fd_limit(cfg.collector.max_sessions);
  fa::app::supervisor sup{cfg};
  if (auto err = sup.start()) {
    fa::monitoring::log(fa::monitoring::log_level::error, "start failed", {{"error", *err}});
    sup.stop(std::chrono::milliseconds{0});
    return 1;
  }
  fa::monitoring::log(fa::monitoring::log_level::info, "started",
                      {{"cluster_id", cfg.cluster_id},
                       {"cluster_id_source", where},
                       {"admin_port", std::to_string(sup.admin_port())}});
  // SIGHUP reloads the TLS files and the config file; the config file is also polled
  // once a second (app/reload.hpp), so an edit or a ConfigMap update applies by itself.
  // A failure is logged and counted and changes nothing. SIGTERM and SIGINT stop.
  std::optional<fa::app::config_file_watch> watch;
  if (!c.config_file.empty())
    watch.emplace(c.config_file);
  fa::monitoring::heap_trimmer trimmer{*sup.metrics().registry(), cfg.runtime.memory_trim_interval};
  int sig = 0;
  for (;;) {
    const timespec poll{1, 0};
    sig = sigtimedwait(&set, nullptr, &poll);
    if (sig == SIGTERM || sig == SIGINT)
      break;
    if (sig == SIGHUP) {
      sup.reload_tls();
      if (watch) {
        fa::app::reload_file(sup, c.config_file, "SIGHUP");
        watch->settle();
        trimmer.set_interval(sup.effective_config().runtime.memory_trim_interval);
      }
      continue;
    }
    // A timeout (or EINTR): look at the file.
    if (watch && watch->changed()) {
      fa::app::reload_file(sup, c.config_file, "file_change");
      trimmer.set_interval(sup.effective_config().runtime.memory_trim_interval);
    }
    trimmer.tick(std::chrono::steady_clock::now());
  }
  fa::monitoring::log(fa::monitoring::log_level::info, "stopping",
                      {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  // Listeners stop, sessions read no more and hand over what they have, enrichers and
  // destinations drain within runtime.shutdown_timeout (supervisor::stop).
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      sup.effective_config().runtime.shutdown_timeout);
  auto left = sup.stop(timeout);
  // The totals a zero-loss check compares with what the collectors got: records read
  // from exporters in complete messages, records written to destinations, and drops.
  auto& m = sup.metrics();
  fa::monitoring::log(
      fa::monitoring::log_level::info, "stopped",
      {{"undelivered_bytes", std::to_string(left)},
       {"records_received",
        std::to_string(counter_total(m, "flow_aggregator_records_received_total"))},
       {"records_sent", std::to_string(counter_total(m, "flow_aggregator_records_sent_total"))},
       {"records_dropped",
        std::to_string(counter_total(m, "flow_aggregator_records_dropped_total"))},
       {"enrich_dropped",
        std::to_string(counter_total(m, "flow_aggregator_enrich_dropped_records_total"))}});
  return left == 0 ? 0 : 1;
}

int check_config(const cli& c) {
  if (c.config_file.empty())
    return fail_usage("check-config needs -c FILE");
  auto loaded = load(c);
  if (report_errors(loaded))
    return 1;
  std::cout << fa::config::render_effective(*loaded.cfg, true);
  for (const auto& w : fa::config::warnings(*loaded.cfg))
    std::cerr << c.config_file << ": warning: " << w << "\n";
  std::cerr << c.config_file << ": ok\n";
  return 0;
}

int inspect(const cli& c) {
  if (c.view.empty())
    return fail_usage("inspect needs a view: sessions, templates, destinations, labels, actors, "
                      "aggregators or flows");
  if (c.output != "table" && c.output != "json")
    return fail_usage("-o takes table or json");
  fa::app::inspect_options o;
  o.what = c.view;
  o.json = c.output == "json";
  o.ip = c.ip;
  o.port = c.port;
  o.limit = c.limit;
  auto loaded = load(c);
  if (report_errors(loaded))
    return 1;
  const auto& admin = loaded.cfg->admin;
  o.admin = c.admin;
  if (o.admin.empty()) {
    if (!admin.listen)
      return fail_usage("the config turns the admin API off ([admin] listen = \"\"); pass --admin");
    auto where = *admin.listen;
    // A wildcard bind is reached on loopback.
    if (where.host == "0.0.0.0")
      where.host = "127.0.0.1";
    if (where.host == "::")
      where.host = "::1";
    o.admin = fa::config::to_string(where);
    // [admin] tls_cert set: the server speaks only HTTPS. Without --cacert its own
    // certificate is the trust anchor (fits a self-signed one; libcurl's OpenSSL also
    // accepts a CA-issued leaf given this way, as a partial chain).
    if (!admin.tls_cert.empty()) {
      o.admin = "https://" + o.admin;
      o.cacert = admin.tls_cert;
    }
  }
  if (!c.cacert.empty()) {
    if (!o.admin.starts_with("https://"))
      return fail_usage(
          "--cacert needs an https:// admin API (--admin https://HOST:PORT or [admin] "
          "tls_cert in the config)");
    o.cacert = c.cacert;
  }
  auto token_file = c.token_file.empty() ? admin.token_file : c.token_file;
  if (!token_file.empty()) {
    if (auto err = fa::app::read_token_file(token_file, o.token)) {
      std::cerr << "flow-aggregator inspect: token file " << token_file << ": " << *err << "\n";
      return 1;
    }
  }
  return fa::app::inspect(o);
}

/// Antrea's `flows` table for a clickhouse+ destination, as SQL on stdout.
int clickhouse_schema(const cli& c) {
  for (const auto* name : {&c.database, &c.table})
    if (!fa::sinks::plain_identifier(*name))
      return fail_usage(
          "'" + *name +
          "' is not a plain name (letters, digits and '_', not starting with a digit)");
  std::cout << fa::sinks::create_table_statement(c.database, c.table);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  cli c;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "-h" || a == "--help") {
      std::cout << usage;
      return 0;
    } else if (a == "-c" || a == "--config") {
      if (i + 1 >= argc)
        return fail_usage("-c needs a file");
      c.config_file = argv[++i];
    } else if (a == "-o" || a == "--output" || a == "--admin" || a == "--token-file" ||
               a == "--ip" || a == "--cacert" || a == "--port" || a == "--limit" ||
               a == "--database" || a == "--table") {
      if (i + 1 >= argc)
        return fail_usage(std::string{a} + " needs a value");
      std::string v = argv[++i];
      (a == "--admin"        ? c.admin
       : a == "--token-file" ? c.token_file
       : a == "--ip"         ? c.ip
       : a == "--cacert"     ? c.cacert
       : a == "--port"       ? c.port
       : a == "--limit"      ? c.limit
       : a == "--database"   ? c.database
       : a == "--table"      ? c.table
                             : c.output) = v;
    } else if (c.command.empty() && !a.starts_with("-")) {
      c.command = a;
    } else if (c.command == "inspect" && c.view.empty() && !a.starts_with("-")) {
      c.view = a;
    } else {
      return fail_usage("unknown argument '" + std::string{a} + "'");
    }
  }
  if (c.command == "run")
    return run(c);
  if (c.command == "check-config")
    return check_config(c);
  if (c.command == "inspect")
    return inspect(c);
  if (c.command == "clickhouse-schema")
    return clickhouse_schema(c);
  if (c.command == "version") {
    std::cout << "flow-aggregator " << FA_VERSION << "\n";
    return 0;
  }
  return fail_usage(c.command.empty() ? "missing command" : "unknown command '" + c.command + "'");
}
