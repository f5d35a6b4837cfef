// Interop tests (STYLE.md "Tests"): tools no one here wrote decode flow-aggregator's
// output, and python3-ipfix exports into it.
//
// Every test runs the real binaries over loopback:
//   exporters -> flow-aggregator -> ipfix-collector --save out.ipfix --print
// stops them in order (SIGTERM drains flow-aggregator; then the collector reads until
// its peer has closed), and decodes out.ipfix with tshark's cflow dissector, libfixbuf's
// ipfixDump or python3-ipfix. Each decoder check returns a list of problems. The tshark
// and ipfixDump tests also run their check on a corrupted copy of the same output and
// require it to complain, so a check that has gone blind fails too.

#include "test/support/process.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unistd.h>
#include <vector>

namespace fa::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr std::string_view cluster_id = "0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11";
/// The ODID flow-aggregator exports with (destination.observation_domain_id).
constexpr std::uint32_t export_odid = 4001;
/// python3-ipfix is installed for the system interpreter only.
constexpr const char* python = "/usr/bin/python3";

// ---------------------------------------------------------------------------------------
// Text helpers

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto pos = text.find(sep, start);
    out.emplace_back(text.substr(start, pos - start));
    if (pos == std::string_view::npos)
      return out;
    start = pos + 1;
  }
}

std::vector<std::string> lines(std::string_view text) {
  auto out = split(text, '\n');
  if (!out.empty() && out.back().empty())
    out.pop_back();
  return out;
}

bool contains(std::string_view text, std::string_view needle) {
  return text.find(needle) != std::string_view::npos;
}

/// The decimal number right before `suffix` in `text`, e.g. ("3 records", " records").
std::optional<std::uint64_t> number_before(std::string_view text, std::string_view suffix) {
  auto pos = text.find(suffix);
  if (pos == std::string_view::npos)
    return std::nullopt;
  auto begin = pos;
  while (begin > 0 && text[begin - 1] >= '0' && text[begin - 1] <= '9')
    --begin;
  if (begin == pos)
    return std::nullopt;
  return std::stoull(std::string{text.substr(begin, pos - begin)});
}

/// The text after `key` up to the end of the line (nullopt when `line` lacks `key`).
std::optional<std::string> value_after(std::string_view line, std::string_view key) {
  auto pos = line.find(key);
  if (pos == std::string_view::npos)
    return std::nullopt;
  return std::string{line.substr(pos + key.size())};
}

/// "ab" -> "6162": how tshark's -T fields shows an octet string it has no type for.
std::string hex(std::string_view text) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : text) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

/// Compares addresses, not their text: ipfixDump prints ::1 as "::0001".
bool same_address(const std::string& a, const std::string& b) {
  int family = a.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  unsigned char x[16] = {}, y[16] = {};
  return ::inet_pton(family, a.c_str(), x) == 1 && ::inet_pton(family, b.c_str(), y) == 1 &&
         std::equal(x, x + 16, y);
}

std::string tail(const std::string& text, std::size_t n = 4000) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

// ---------------------------------------------------------------------------------------
// Tools

struct tool_result {
  int rc = -1; ///< -2: killed at the deadline
  std::string out;
  std::string err;
};

/// Runs `argv` to completion within `timeout`; stdout and stderr go to `dir`/`name`.out
/// and .err and are returned apart.
tool_result run_tool(const std::string& dir, const std::string& name,
                     const std::vector<std::string>& argv,
                     std::chrono::milliseconds timeout = 60s) {
  tool_result r;
  auto out = dir + "/" + name + ".out";
  auto err = dir + "/" + name + ".err";
  {
    process p{argv, out, err};
    auto st = p.wait(timeout);
    r.rc = st ? *st : -2;
  } // a child still running is killed here
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

bool on_path(const std::string& tool) {
  if (tool.find('/') != std::string::npos)
    return ::access(tool.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  for (auto& d : split(path != nullptr ? path : "", ':'))
    if (!d.empty() && ::access((fs::path{d} / tool).c_str(), X_OK) == 0)
      return true;
  return false;
}

/// tshark warns on stderr when run as root; that is not a decoding problem.
std::string without_root_warning(const std::string& text) {
  std::string out;
  for (auto& l : lines(text))
    if (!contains(l, "Running as user \"root\""))
      out += l + "\n";
  return out;
}

// ---------------------------------------------------------------------------------------
// The IPFIX byte stream (RFC 5655 file: concatenated messages)

std::uint16_t be16(const std::string& b, std::size_t off) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(b[off]) << 8) |
                                    static_cast<unsigned char>(b[off + 1]));
}

struct message_scan {
  std::vector<std::size_t> offsets; ///< where each message starts
  std::string error;                ///< empty when the file is whole messages
};

/// Splits the file at each header's length (RFC 7011 3.1).
message_scan scan_messages(const std::string& bytes) {
  message_scan s;
  std::size_t off = 0;
  while (off < bytes.size()) {
    if (bytes.size() - off < 16) {
      s.error = "truncated message header at offset " + std::to_string(off);
      break;
    }
    auto version = be16(bytes, off);
    auto length = be16(bytes, off + 2);
    if (version != 10 || length < 16 || off + length > bytes.size()) {
      s.error = "bad message header at offset " + std::to_string(off) + ": version " +
                std::to_string(version) + ", length " + std::to_string(length);
      break;
    }
    s.offsets.push_back(off);
    off += length;
  }
  return s;
}

/// A copy of `bytes` whose second message's first set claims to be 2 octets long, less
/// than its own header: malformed (RFC 7011 3.3.2, 9.1).
std::string corrupted(const std::string& bytes) {
  auto scan = scan_messages(bytes);
  std::string out = bytes;
  if (scan.offsets.size() >= 2) {
    auto set_length = scan.offsets[1] + 16 + 2;
    out[set_length] = 0;
    out[set_length + 1] = 2;
  }
  return out;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out{path, std::ios::binary};
  out << bytes;
}

// ---------------------------------------------------------------------------------------
// What flow-aggregator must have sent

/// Output template field counts: the loadgen templates plus what flow-aggregator
/// appends, provenance (403, 404, 405) on every data template and, on templates with
/// Antrea elements, source/destinationPodLabels, clusterId and flowDirection.
constexpr int antrea_fields = 42 + 3 + 4;
constexpr int minimal_fields = 10 + 3;
constexpr int python_fields = 11 + 3; // pyipfix.py's FIELDS

struct expected_output {
  std::map<std::uint32_t, std::uint64_t> per_odid; ///< originalObservationDomainId -> records
  std::string exporter4 = "127.0.0.1";             ///< originalExporterIPv4Address
  std::string exporter6 = "::";                    ///< originalExporterIPv6Address
  std::uint64_t antrea_records = 0;                ///< records that must carry clusterId
  std::vector<int> template_fields;                ///< field count of each output template
  std::size_t antrea_templates = 0;

  std::uint64_t total() const {
    std::uint64_t n = 0;
    for (auto& [_, k] : per_odid)
      n += k;
    return n;
  }
};

struct loadgen_run {
  std::string kind;
  std::uint32_t sessions;
  std::uint64_t records; ///< per session
  std::uint32_t odid_base;
};

void expect_loadgen(expected_output& want, const loadgen_run& r) {
  bool antrea = r.kind != "minimal";
  for (std::uint32_t s = 0; s < r.sessions; ++s)
    want.per_odid[r.odid_base + s] += r.records;
  if (antrea) {
    want.antrea_records += r.sessions * r.records;
    ++want.antrea_templates;
  }
  // Identical templates from several sessions share one output template.
  want.template_fields.push_back(antrea ? antrea_fields : minimal_fields);
}

/// A few sessions of each loadgen template kind, a few thousand records.
const std::vector<loadgen_run> mixed_runs = {
    {"antrea-v4", 2, 1200, 1000},
    {"antrea-v6", 2, 600, 2000},
    {"minimal", 2, 500, 3000},
};

// ---------------------------------------------------------------------------------------
// Decoder checks. Each returns what is wrong; empty means the decoder agrees.

using problems = std::vector<std::string>;

/// tshark's IPFIX dissector over a pcap of the saved stream (test/interop/ipfix2pcap.py
/// wraps it in one TCP session to port 4739).
problems tshark_problems(const std::string& dir, const std::string& name,
                         const std::string& ipfix_file, const expected_output& want) {
  problems p;
  auto pcap = dir + "/" + name + ".pcap";
  auto conv = run_tool(dir, name + "-ipfix2pcap",
                       {python, source("test/interop/ipfix2pcap.py"), ipfix_file, pcap});
  if (conv.rc != 0)
    return {"ipfix2pcap failed (" + std::to_string(conv.rc) + "): " + conv.err};
  // ipfix2pcap prints "messages=M bytes=B".
  auto messages = std::stoull(value_after(conv.out, "messages=").value_or("0"));
  // Wireshark refuses templates of more than 60 fields by default; Antrea's own aggregate
  // template has 70 (antrea-aggregate-semantics.md f.2), so the limit is lifted (README,
  // Aggregate mode).
  const std::vector<std::string> base = {"tshark", "-n",
                                         "-r",     pcap,
                                         "-d",     "tcp.port==4739,cflow",
                                         "-o",     "cflow.max_template_fields:0"};

  // 1. Nothing malformed, no expert error, and not even a warning: the IPFIX dissector
  // warns about sequence numbers (RFC 7011 3.1) and odd lengths at that level. The pcap
  // is a clean TCP session, so TCP has nothing to warn about.
  auto argv = base;
  argv.insert(argv.end(), {"-Y", "_ws.malformed || _ws.expert.severity >= warning", "-T", "fields",
                           "-e", "frame.number", "-e", "_ws.expert.message"});
  auto bad = run_tool(dir, name + "-tshark-errors", argv);
  if (bad.rc != 0)
    p.push_back("tshark failed (" + std::to_string(bad.rc) + "): " + bad.err);
  if (!bad.out.empty())
    p.push_back("tshark reports malformed packets or warnings (frame, message):\n" +
                tail(bad.out, 2000));
  if (auto err = without_root_warning(bad.err); !err.empty())
    p.push_back("tshark stderr: " + err);

  // 2. Fields, all occurrences, one line per frame.
  const std::vector<std::string> fields = {
      "cflow.od_id",                          // 0: message header ODID
      "cflow.template_id",                    // 1
      "cflow.template_field_count",           // 2
      "cflow.original_observation_domain_id", // 3: 405
      "cflow.original_exporter_ipv4_address", // 4: 403
      "cflow.original_exporter_ipv6_address", // 5: 404
      "cflow.srcport",                        // 6: sourceTransportPort, once per record
      "cflow.enterprise_private_entry",       // 7: Antrea elements, as hex
  };
  argv = base;
  argv.insert(argv.end(), {"-Y", "cflow", "-T", "fields", "-E", "occurrence=a", "-E",
                           "aggregator=,", "-E", "separator=/t"});
  for (auto& f : fields) {
    argv.push_back("-e");
    argv.push_back(f);
  }
  auto dec = run_tool(dir, name + "-tshark-fields", argv);
  if (dec.rc != 0) {
    p.push_back("tshark failed (" + std::to_string(dec.rc) + "): " + dec.err);
    return p;
  }
  std::vector<std::vector<std::string>> values(fields.size());
  for (auto& row : lines(dec.out)) {
    auto cols = split(row, '\t');
    for (std::size_t i = 0; i < fields.size() && i < cols.size(); ++i)
      if (!cols[i].empty())
        for (auto& v : split(cols[i], ','))
          values[i].push_back(v);
  }
  auto count = [](const std::vector<std::string>& vs, const std::string& v) {
    return static_cast<std::uint64_t>(std::count(vs.begin(), vs.end(), v));
  };
  auto check = [&p](bool ok, const std::string& what) {
    if (!ok)
      p.push_back(what);
  };

  check(values[0].size() == messages, "tshark decoded " + std::to_string(values[0].size()) +
                                          " message headers, the file holds " +
                                          std::to_string(messages) + " messages");
  check(count(values[0], std::to_string(export_odid)) == values[0].size(),
        "a message header ODID is not " + std::to_string(export_odid));
  std::vector<int> tfields;
  for (auto& v : values[2])
    tfields.push_back(std::stoi(v));
  std::sort(tfields.begin(), tfields.end());
  auto want_tfields = want.template_fields;
  std::sort(want_tfields.begin(), want_tfields.end());
  check(values[1].size() == want_tfields.size() && tfields == want_tfields,
        "tshark decoded " + std::to_string(values[1].size()) +
            " templates, or field counts differ from the expected " +
            std::to_string(want_tfields.size()));

  std::map<std::uint32_t, std::uint64_t> per_odid;
  for (auto& v : values[3])
    ++per_odid[static_cast<std::uint32_t>(std::stoul(v))];
  if (per_odid != want.per_odid) {
    std::string got;
    for (auto& [odid, n] : per_odid)
      got += " " + std::to_string(odid) + ":" + std::to_string(n);
    p.push_back("originalObservationDomainId record counts (odid:records) differ:" + got);
  }
  auto total = want.total();
  check(values[4].size() == total && count(values[4], want.exporter4) == total,
        std::to_string(count(values[4], want.exporter4)) + " of " +
            std::to_string(values[4].size()) + " originalExporterIPv4Address values are " +
            want.exporter4 + ", want " + std::to_string(total));
  check(values[5].size() == total && count(values[5], want.exporter6) == total,
        std::to_string(count(values[5], want.exporter6)) + " of " +
            std::to_string(values[5].size()) + " originalExporterIPv6Address values are " +
            want.exporter6 + ", want " + std::to_string(total));
  check(values[6].size() == total, "tshark decoded " + std::to_string(values[6].size()) +
                                       " data records (sourceTransportPort), want " +
                                       std::to_string(total));
  auto cluster = count(values[7], hex(cluster_id));
  check(cluster == want.antrea_records,
        std::to_string(cluster) + " Antrea records carry clusterId " + std::string{cluster_id} +
            ", want " + std::to_string(want.antrea_records));
  return p;
}

/// libfixbuf's ipfixDump over the saved file, with the Antrea elements loaded from an
/// XML registry generated from ipfix/elements/antrea-elements.csv.
problems ipfixdump_problems(const std::string& dir, const std::string& name,
                            const std::string& ipfix_file, std::size_t messages,
                            const expected_output& want) {
  auto xml = dir + "/antrea-elements.xml";
  auto gen = run_tool(dir, name + "-antrea-xml",
                      {python, source("test/interop/antrea_xml.py"),
                       source("ipfix/elements/antrea-elements.csv"), xml});
  if (gen.rc != 0)
    return {"antrea_xml.py failed: " + gen.err};
  auto dump =
      run_tool(dir, name + "-ipfixdump", {"ipfixDump", "--in", ipfix_file, "--element-file", xml});
  problems p;
  auto check = [&p](bool ok, const std::string& what) {
    if (!ok)
      p.push_back(what);
  };
  check(dump.rc == 0, "ipfixDump exited with " + std::to_string(dump.rc));
  // ipfixDump exits 0 even on a broken stream; it says what is wrong on stderr.
  check(dump.err.empty(), "ipfixDump stderr: " + tail(dump.err, 2000));

  std::optional<std::string> stats;
  std::uint64_t data_records = 0, templates = 0, headers = 0, header_odid_ok = 0;
  std::map<std::string, std::uint64_t> template_field_names;
  std::map<std::uint32_t, std::uint64_t> per_odid;
  std::uint64_t v4_ok = 0, v6_ok = 0, cluster_ok = 0, cluster_all = 0;
  std::string bad_example;
  const std::string cluster_value =
      "(len: " + std::to_string(cluster_id.size()) + ") " + std::string{cluster_id};
  for (auto& l : lines(dump.out)) {
    if (l.rfind("*** File Stats: ", 0) == 0) {
      stats = l;
    } else if (l.rfind("--- data record ", 0) == 0) {
      ++data_records;
    } else if (l == "--- template record ---") {
      ++templates;
    } else if (auto v = value_after(l, "observation domain id: ")) {
      ++headers;
      if (*v == std::to_string(export_odid))
        ++header_odid_ok;
    } else if (l.rfind("\tent:", 0) == 0) {
      auto words = split(l, ' ');
      ++template_field_names[words.back()];
    } else if (auto odid = value_after(l, "originalObservationDomainId : ")) {
      ++per_odid[static_cast<std::uint32_t>(std::stoul(*odid))];
    } else if (auto v4 = value_after(l, "originalExporterIPv4Address : ")) {
      v4_ok += same_address(*v4, want.exporter4);
    } else if (auto v6 = value_after(l, "originalExporterIPv6Address : ")) {
      v6_ok += same_address(*v6, want.exporter6);
    } else if (auto c = value_after(l, " clusterId : ")) {
      ++cluster_all;
      if (*c == cluster_value)
        ++cluster_ok;
      else if (bad_example.empty())
        bad_example = *c;
    }
  }
  auto total = want.total();
  check(stats.has_value(), "ipfixDump printed no file statistics");
  if (stats) {
    auto want_stats = "*** File Stats: " + std::to_string(messages) + " Messages, " +
                      std::to_string(total) + " Data Records, " +
                      std::to_string(want.template_fields.size()) + " Template Records ***";
    check(*stats == want_stats, "ipfixDump: \"" + *stats + "\", want \"" + want_stats + "\"");
  }
  check(data_records == total, "ipfixDump printed " + std::to_string(data_records) +
                                   " data records, want " + std::to_string(total));
  check(templates == want.template_fields.size(),
        "ipfixDump printed " + std::to_string(templates) + " templates");
  check(headers == messages && header_odid_ok == messages,
        std::to_string(header_odid_ok) + " of " + std::to_string(headers) +
            " message headers have ODID " + std::to_string(export_odid) + ", want " +
            std::to_string(messages));
  auto ntemplates = want.template_fields.size();
  for (auto [field, n] : std::vector<std::pair<std::string, std::size_t>>{
           {"originalObservationDomainId", ntemplates},
           {"originalExporterIPv4Address", ntemplates},
           {"originalExporterIPv6Address", ntemplates},
           {"sourcePodLabels", want.antrea_templates},
           {"destinationPodLabels", want.antrea_templates},
           {"clusterId", want.antrea_templates},
           {"flowDirection", want.antrea_templates},
           {"_alienInformationElement", 0}})
    check(template_field_names[field] == n, "templates name " + field + " " +
                                                std::to_string(template_field_names[field]) +
                                                " times, want " + std::to_string(n));
  if (per_odid != want.per_odid) {
    std::string got;
    for (auto& [odid, n] : per_odid)
      got += " " + std::to_string(odid) + ":" + std::to_string(n);
    p.push_back("originalObservationDomainId record counts (odid:records) differ:" + got);
  }
  check(v4_ok == total, std::to_string(v4_ok) + " records have originalExporterIPv4Address " +
                            want.exporter4 + ", want " + std::to_string(total));
  check(v6_ok == total, std::to_string(v6_ok) + " records have originalExporterIPv6Address " +
                            want.exporter6 + ", want " + std::to_string(total));
  check(cluster_all == want.antrea_records && cluster_ok == want.antrea_records,
        std::to_string(cluster_ok) + " of " + std::to_string(cluster_all) +
            " clusterId values are \"" + cluster_value + "\", want " +
            std::to_string(want.antrea_records) +
            (bad_example.empty() ? "" : "; e.g. " + bad_example));
  return p;
}

std::string describe(const problems& p) {
  std::string out;
  for (auto& s : p)
    out += "\n  - " + s;
  return out;
}

// ---------------------------------------------------------------------------------------
// The pipeline

class interop : public ::testing::Test {
 protected:
  void SetUp() override {
    // binary(), source() and scratch_dir() read these (see CMakeLists.txt for why they
    // are compiled in); an explicit environment wins.
    ::setenv("FA_SOURCE_DIR", FA_INTEROP_SOURCE_DIR, 0);
    ::setenv("FA_BINARY_DIR", FA_INTEROP_BINARY_DIR, 0);
    auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = scratch_dir(std::string{"interop-"} + info->name());
    fs::create_directories(file("state"));
    for (auto tool : {"tshark", "ipfixDump", python})
      ASSERT_TRUE(on_path(tool)) << tool << " is missing: run scripts/install-deps.sh";
  }

  void TearDown() override {
    if (HasFailure())
      for (auto name : {"fa.err", "collector.err"})
        if (fs::exists(file(name)))
          std::fprintf(stderr, "--- %s (in %s)\n%s\n", name, dir_.c_str(),
                       tail(read_file(file(name))).c_str());
  }

  std::string file(std::string_view name) const { return dir_ + "/" + std::string{name}; }

  /// Starts ipfix-collector, then flow-aggregator listening on `listen` (config URLs)
  /// and forwarding to the collector; waits until every listener is bound.
  /// `top_toml`: more top-level keys of the config (`mode = "aggregate"`).
  void start(const std::vector<std::string>& listen,
             const std::vector<std::string>& collector_args = {},
             const std::string& top_toml = "") {
    std::vector<std::string> argv = {binary("tools/ipfix-collector"),
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--port-file",
                                     file("collector.port"),
                                     "--save",
                                     file("out.ipfix"),
                                     "--print",
                                     "--duration",
                                     "110s"};
    argv.insert(argv.end(), collector_args.begin(), collector_args.end());
    collector_ = std::make_unique<process>(argv, file("records.jsonl"), file("collector.err"));
    auto port = wait_for_file(file("collector.port"), 20s);
    ASSERT_TRUE(port) << "ipfix-collector did not start";

    std::ofstream cfg{file("fa.toml")};
    cfg << "cluster_id = \"" << cluster_id << "\"\n" << top_toml << "[collector]\nlisten = [";
    for (std::size_t i = 0; i < listen.size(); ++i)
      cfg << (i > 0 ? ", " : "") << '"' << listen[i] << '"';
    cfg << "]\n[[destination]]\nname = \"col\"\nurl = \"ipfix+tcp://127.0.0.1:" << *port
        << "\"\nflush_interval = \"5ms\"\nobservation_domain_id = " << export_odid
        << "\n[admin]\nlisten = \"127.0.0.1:0\"\n";
    cfg.close();
    ::setenv("FA_STATE_DIR", file("state").c_str(), 1);
    fa_ = std::make_unique<process>(
        std::vector<std::string>{binary("app/flow-aggregator"), "run", "-c", file("fa.toml")},
        file("fa.out"), file("fa.err"));

    // One "event=listening transport=tcp address=A port=P" line per listener. (Search
    // " port=": "transport=" contains "port=" too.)
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (listeners_.size() < listen.size()) {
      listeners_.clear();
      for (auto& l : lines(read_file(file("fa.err")))) {
        if (!contains(l, "event=listening"))
          continue;
        auto addr = value_after(l, " address=");
        auto port_text = value_after(l, " port=");
        if (addr && port_text)
          listeners_.emplace_back(split(*addr, ' ').front(), split(*port_text, ' ').front());
      }
      if (listeners_.size() >= listen.size())
        break;
      ASSERT_TRUE(fa_->running()) << "flow-aggregator exited at startup";
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "flow-aggregator did not log " << listen.size() << " listeners";
      std::this_thread::sleep_for(20ms);
    }
  }

  /// "HOST:PORT" of listener `i`, IPv6 in brackets.
  std::string target(std::size_t i) const {
    auto& [host, port] = listeners_.at(i);
    return host.find(':') != std::string::npos ? "[" + host + "]:" + port : host + ":" + port;
  }

  /// Says so when flow-aggregator is gone: an exporter failing is then its fault.
  std::string fa_state() {
    if (!fa_ || fa_->running())
      return "";
    return "; flow-aggregator has exited with status " +
           std::to_string(fa_->wait(0ms).value_or(-1)) + " (its log follows)";
  }

  void run_loadgen(const std::string& to, const loadgen_run& r) {
    auto res = run_tool(dir_, "loadgen-" + r.kind + "-" + std::to_string(r.odid_base),
                        {binary("tools/ipfix-loadgen"), "--target", to, "--sessions",
                         std::to_string(r.sessions), "--records", std::to_string(r.records),
                         "--template", r.kind, "--odid-base", std::to_string(r.odid_base),
                         "--records-per-message", "40"});
    ASSERT_EQ(res.rc, 0) << "ipfix-loadgen " << r.kind << ": " << res.err << fa_state();
  }

  /// Starts test/interop/pyipfix.py export (python3-ipfix as the exporter).
  std::unique_ptr<process> start_python_exporter(const std::string& to, std::uint32_t odid,
                                                 std::uint64_t records, int per_message) {
    auto name = "pyexport-" + std::to_string(odid);
    return std::make_unique<process>(
        std::vector<std::string>{python, source("test/interop/pyipfix.py"), "export", "--target",
                                 to, "--odid", std::to_string(odid), "--records",
                                 std::to_string(records), "--per-message",
                                 std::to_string(per_message)},
        file(name + ".out"), file(name + ".err"));
  }

  void wait_python_exporter(process& p, std::uint32_t odid) {
    auto rc = p.wait(60s);
    auto err = read_file(file("pyexport-" + std::to_string(odid) + ".err"));
    ASSERT_TRUE(rc) << "python exporter " << odid << " did not finish" << fa_state();
    ASSERT_EQ(*rc, 0) << "python exporter " << odid << ": " << err << fa_state();
  }

  /// SIGTERM flow-aggregator, which drains every session, enricher and destination
  /// before it exits; then stops the collector, which reads until its peer closed, and
  /// loads what it saved.
  void stop() {
    fa_->signal(SIGTERM);
    auto rc = fa_->wait(60s);
    ASSERT_TRUE(rc) << "flow-aggregator did not stop within 60 s of SIGTERM";
    auto log = read_file(file("fa.err"));
    EXPECT_EQ(*rc, 0) << "flow-aggregator exit status";
    EXPECT_TRUE(contains(log, "event=stopped undelivered_bytes=0"))
        << "flow-aggregator did not drain its destination";
    EXPECT_FALSE(contains(log, "level=error")) << "flow-aggregator logged errors";

    collector_->signal(SIGTERM);
    auto crc = collector_->wait(60s);
    ASSERT_TRUE(crc) << "ipfix-collector did not stop within 60 s of SIGTERM";
    auto clog = read_file(file("collector.err"));
    EXPECT_EQ(*crc, 0) << "ipfix-collector found a problem";
    EXPECT_TRUE(contains(clog, "malformed 0, unknown-template sets 0, sequence errors 0"));
    collector_records_ = number_before(clog, " records, ").value_or(0);
    saved_ = read_file(file("out.ipfix"));
    auto scan = scan_messages(saved_);
    ASSERT_TRUE(scan.error.empty()) << "out.ipfix: " << scan.error;
    messages_ = scan.offsets.size();
    ASSERT_GT(messages_, 1u);
  }

  /// The loadgen mix over listener 0, then stop: what the decoder tests read.
  void run_mixed_loadgen(expected_output& want) {
    ASSERT_NO_FATAL_FAILURE(start({"tcp://127.0.0.1:0"}, {"--verify", "1"}));
    for (auto& r : mixed_runs) {
      ASSERT_NO_FATAL_FAILURE(run_loadgen(target(0), r));
      expect_loadgen(want, r);
    }
    ASSERT_NO_FATAL_FAILURE(stop());
    ASSERT_EQ(collector_records_, want.total());
  }

  /// --print JSON lines: records per originalObservationDomainId, and the records whose
  /// 403/404 are not `want`'s.
  void check_printed(const expected_output& want) {
    std::map<std::uint32_t, std::uint64_t> per_odid;
    std::uint64_t wrong = 0;
    for (auto& l : lines(read_file(file("records.jsonl")))) {
      auto j = nlohmann::json::parse(l);
      ++per_odid[j.at("originalObservationDomainId").get<std::uint32_t>()];
      if (j.at("originalExporterIPv4Address") != want.exporter4 ||
          j.at("originalExporterIPv6Address") != want.exporter6)
        ++wrong;
    }
    EXPECT_EQ(per_odid, want.per_odid);
    EXPECT_EQ(wrong, 0u) << "records with originalExporterIPv4/IPv6Address other than "
                         << want.exporter4 << " / " << want.exporter6;
  }

  /// pyipfix.py check: python3-ipfix reads the saved output and compares the records of
  /// exporter `odid` with what pyipfix.py export sent.
  void check_python_records(std::uint32_t odid, std::uint64_t records, const std::string& v4,
                            const std::string& v6) {
    auto res = run_tool(dir_, "pycheck-" + std::to_string(odid),
                        {python, source("test/interop/pyipfix.py"), "check", file("out.ipfix"),
                         "--odid", std::to_string(odid), "--records", std::to_string(records),
                         "--exporter4", v4, "--exporter6", v6});
    ASSERT_EQ(res.rc, 0) << res.out << res.err;
    auto j = nlohmann::json::parse(res.out);
    EXPECT_EQ(j.at("records"), records);
    EXPECT_EQ(j.at("unique_records"), records);
    EXPECT_EQ(j.at("num_problems"), 0) << j.dump(2);
  }

  std::string dir_;
  std::unique_ptr<process> collector_;
  std::unique_ptr<process> fa_;
  std::vector<std::pair<std::string, std::string>> listeners_; ///< (address, port)
  std::uint64_t collector_records_ = 0;
  std::string saved_; ///< the collector's --save file
  std::size_t messages_ = 0;
};

// 1. tshark's IPFIX dissector decodes the enriched output of all three loadgen templates.
TEST_F(interop, tshark_decodes_enriched_output) {
  expected_output want;
  ASSERT_NO_FATAL_FAILURE(run_mixed_loadgen(want));
  auto found = tshark_problems(dir_, "out", file("out.ipfix"), want);
  EXPECT_TRUE(found.empty()) << "tshark disagrees with what flow-aggregator was sent:"
                             << describe(found);

  // The same check on a corrupted copy must complain about malformed packets.
  write_file(file("corrupted.ipfix"), corrupted(saved_));
  auto guard = tshark_problems(dir_, "corrupted", file("corrupted.ipfix"), want);
  EXPECT_TRUE(
      std::any_of(guard.begin(), guard.end(), [](auto& s) { return contains(s, "malformed"); }))
      << "tshark did not flag a set running past its message:" << describe(guard);
}

// 2. ipfixDump (libfixbuf) decodes it too, Antrea strings included.
TEST_F(interop, ipfixdump_decodes_enriched_output) {
  expected_output want;
  ASSERT_NO_FATAL_FAILURE(run_mixed_loadgen(want));
  auto found = ipfixdump_problems(dir_, "out", file("out.ipfix"), messages_, want);
  EXPECT_TRUE(found.empty()) << "ipfixDump disagrees with what flow-aggregator was sent:"
                             << describe(found);

  write_file(file("corrupted.ipfix"), corrupted(saved_));
  auto guard = ipfixdump_problems(dir_, "corrupted", file("corrupted.ipfix"), messages_, want);
  EXPECT_TRUE(std::any_of(guard.begin(), guard.end(),
                          [](auto& s) { return contains(s, "ipfixDump stderr"); }))
      << "ipfixDump did not warn about a set running past its message:" << describe(guard);
}

// Bonus: python3-ipfix's reader decodes the same output (Antrea elements registered from
// the CSV) and finds the sequence numbers right.
TEST_F(interop, python_ipfix_decodes_enriched_output) {
  expected_output want;
  ASSERT_NO_FATAL_FAILURE(run_mixed_loadgen(want));
  auto res = run_tool(dir_, "pydecode",
                      {python, source("test/interop/pyipfix.py"), "decode", file("out.ipfix"),
                       "--antrea-csv", source("ipfix/elements/antrea-elements.csv")});
  ASSERT_EQ(res.rc, 0) << res.out << res.err;
  auto j = nlohmann::json::parse(res.out);
  EXPECT_EQ(j.at("num_problems"), 0) << j.dump(2);
  EXPECT_EQ(j.at("records"), want.total());
  EXPECT_EQ(j.at("messages"), messages_);
  EXPECT_EQ(j.at("templates"), want.template_fields.size());
  std::map<std::string, std::uint64_t> per_odid;
  for (auto& [odid, n] : want.per_odid)
    per_odid[std::to_string(odid)] = n;
  EXPECT_EQ(j.at("per_odid").get<decltype(per_odid)>(), per_odid);
  EXPECT_EQ(j.at("exporters4"), nlohmann::json::array({"127.0.0.1"}));
  EXPECT_EQ(j.at("exporters6"), nlohmann::json::array({"::"}));
  EXPECT_EQ(j.at("cluster_ids"), nlohmann::json::array({std::string{cluster_id}}));
}

// 3. python3-ipfix as an independent exporter: two concurrent sessions of plain IANA
// records (one string field, some in the 3-octet length form) arrive unchanged, with
// provenance appended.
TEST_F(interop, python_ipfix_exporter_over_ipv4) {
  ASSERT_NO_FATAL_FAILURE(start({"tcp://127.0.0.1:0"}));
  auto a = start_python_exporter(target(0), 4242, 2000, 50);
  auto b = start_python_exporter(target(0), 77, 300, 7);
  ASSERT_NO_FATAL_FAILURE(wait_python_exporter(*a, 4242));
  ASSERT_NO_FATAL_FAILURE(wait_python_exporter(*b, 77));
  ASSERT_NO_FATAL_FAILURE(stop());

  expected_output want;
  want.per_odid = {{4242, 2000}, {77, 300}};
  want.template_fields = {python_fields};
  EXPECT_EQ(collector_records_, want.total());
  ASSERT_NO_FATAL_FAILURE(check_printed(want));
  ASSERT_NO_FATAL_FAILURE(check_python_records(4242, 2000, "127.0.0.1", "::"));
  ASSERT_NO_FATAL_FAILURE(check_python_records(77, 300, "127.0.0.1", "::"));
  auto found = tshark_problems(dir_, "out", file("out.ipfix"), want);
  EXPECT_TRUE(found.empty()) << "tshark:" << describe(found);
  found = ipfixdump_problems(dir_, "out", file("out.ipfix"), messages_, want);
  EXPECT_TRUE(found.empty()) << "ipfixDump:" << describe(found);
}

// 4. Exporters over IPv6 ([::1]): provenance names ::1 in originalExporterIPv6Address and
// leaves originalExporterIPv4Address 0.0.0.0.
TEST_F(interop, exporters_over_ipv6) {
  ASSERT_NO_FATAL_FAILURE(start({"tcp://[::1]:0"}));
  ASSERT_EQ(listeners_.at(0).first, "::1");
  auto py = start_python_exporter(target(0), 6666, 1000, 40);
  ASSERT_NO_FATAL_FAILURE(wait_python_exporter(*py, 6666));
  loadgen_run lg{"antrea-v6", 1, 800, 5000};
  ASSERT_NO_FATAL_FAILURE(run_loadgen(target(0), lg));
  ASSERT_NO_FATAL_FAILURE(stop());

  expected_output want;
  want.exporter4 = "0.0.0.0";
  want.exporter6 = "::1";
  want.per_odid[6666] = 1000;
  want.template_fields = {python_fields};
  expect_loadgen(want, lg);
  EXPECT_EQ(collector_records_, want.total());
  ASSERT_NO_FATAL_FAILURE(check_printed(want));
  ASSERT_NO_FATAL_FAILURE(check_python_records(6666, 1000, "0.0.0.0", "::1"));
  auto found = tshark_problems(dir_, "out", file("out.ipfix"), want);
  EXPECT_TRUE(found.empty()) << "tshark:" << describe(found);
  found = ipfixdump_problems(dir_, "out", file("out.ipfix"), messages_, want);
  EXPECT_TRUE(found.empty()) << "ipfixDump:" << describe(found);
}

// 5. Aggregate mode (issue 11): the correlated records of two Nodes, with the 24
// aggregation elements, decode with tshark and ipfixDump, every element named.
TEST_F(interop, aggregated_output_decodes) {
  ASSERT_NO_FATAL_FAILURE(start({"tcp://127.0.0.1:0"}, {}, "mode = \"aggregate\"\n"));
  constexpr std::uint64_t flows = 300;
  // Sessions 1000 (source Nodes) and 1001 (destination Nodes) of the same flows, twice.
  auto res =
      run_tool(dir_, "loadgen-pairs",
               {binary("tools/ipfix-loadgen"), "--target", target(0), "--sessions", "2", "--pairs",
                std::to_string(flows), "--records", std::to_string(2 * flows), "--template",
                "antrea-v4", "--odid-base", "1000", "--records-per-message", "40"});
  ASSERT_EQ(res.rc, 0) << "ipfix-loadgen --pairs: " << res.err << fa_state();
  ASSERT_NO_FATAL_FAILURE(stop());
  // Each flow once when it was correlated, and again at shutdown if news came after.
  ASSERT_GE(collector_records_, flows);
  ASSERT_LE(collector_records_, 2 * flows);

  expected_output want;
  // A merged record names the source Node's exporter (README, Aggregate mode).
  want.per_odid[1000] = collector_records_;
  want.antrea_records = collector_records_;
  want.antrea_templates = 1;
  want.template_fields = {42 + 24 + 4 + 3}; // agent, aggregation, Antrea and provenance fields
  auto found = tshark_problems(dir_, "out", file("out.ipfix"), want);
  EXPECT_TRUE(found.empty()) << "tshark:" << describe(found);
  found = ipfixdump_problems(dir_, "out", file("out.ipfix"), messages_, want);
  EXPECT_TRUE(found.empty()) << "ipfixDump:" << describe(found);

  // ipfixDump names each aggregation element once in the template (Antrea v2.7's order).
  std::vector<std::string> names;
  for (auto& l : lines(read_file(file("out-ipfixdump.out"))))
    if (l.rfind("\tent:", 0) == 0)
      names.push_back(split(l, ' ').back());
  const std::vector<std::string> aggregation = {
      "octetDeltaCountFromSourceNode",
      "octetDeltaCountFromDestinationNode",
      "octetTotalCountFromSourceNode",
      "octetTotalCountFromDestinationNode",
      "packetDeltaCountFromSourceNode",
      "packetDeltaCountFromDestinationNode",
      "packetTotalCountFromSourceNode",
      "packetTotalCountFromDestinationNode",
      "reverseOctetDeltaCountFromSourceNode",
      "reverseOctetDeltaCountFromDestinationNode",
      "reverseOctetTotalCountFromSourceNode",
      "reverseOctetTotalCountFromDestinationNode",
      "reversePacketDeltaCountFromSourceNode",
      "reversePacketDeltaCountFromDestinationNode",
      "reversePacketTotalCountFromSourceNode",
      "reversePacketTotalCountFromDestinationNode",
      "flowEndSecondsFromSourceNode",
      "flowEndSecondsFromDestinationNode",
      "throughput",
      "throughputFromSourceNode",
      "throughputFromDestinationNode",
      "reverseThroughput",
      "reverseThroughputFromSourceNode",
      "reverseThroughputFromDestinationNode",
  };
  auto first = std::find(names.begin(), names.end(), aggregation.front());
  ASSERT_NE(first, names.end()) << "no aggregation element in the template";
  EXPECT_EQ(
      std::vector<std::string>(first, first + std::min<std::ptrdiff_t>(24, names.end() - first)),
      aggregation);
}

} // namespace
} // namespace fa::test
