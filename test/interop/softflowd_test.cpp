// Interop: softflowd 1.1.0 (a flow meter no one here wrote) exports IPFIX into
// flow-aggregator over UDP and over TCP; the flows arrive at ipfix-collector enriched.
//
//   pcap written here -> softflowd -r FILE -v 10 -n 127.0.0.1:PORT [-P tcp]
//     -> flow-aggregator (in-process, udp:// and tcp:// listeners) -> ipfix-collector
//
// softflowd reading a capture file waits on its control socket before it reads; a
// `softflowctl statistics` lets it go, and `softflowctl shutdown` makes it expire every
// flow, export it and exit. Its IPFIX sequence numbers run one message behind (RFC 7011
// 3.1 counts data records; softflowd 1.1.0 counts the records before the previous
// message), so flow-aggregator reports sequence gaps for it: counted, never fatal.

#include "test/integration/harness.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

using namespace std::chrono_literals;
using fa::test::metric;

namespace {

constexpr const char* softflowd = "/usr/sbin/softflowd";
constexpr const char* softflowctl = "/usr/sbin/softflowctl";

// -- a small valid capture, written by hand ------------------------------------------------

/// One generated flow: all its packets go from `src` to `dst`.
struct flow {
  std::array<std::uint8_t, 4> src{}, dst{};
  std::uint16_t sport = 0, dport = 0;
  std::uint8_t proto = 0;
  std::uint32_t packets = 0;
  std::uint16_t payload = 0; ///< octets of payload per packet
};

void put16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

void put32le(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

/// RFC 791 header checksum.
std::uint16_t ip_checksum(const std::string& h) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2)
    sum += (static_cast<std::uint8_t>(h[i]) << 8) | static_cast<std::uint8_t>(h[i + 1]);
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

/// Ethernet + IPv4 + TCP/UDP frame of one packet of `f`; `tcp_flags` for TCP.
std::string frame(const flow& f, std::uint8_t tcp_flags) {
  std::string l4;
  if (f.proto == 6) {
    put16(l4, f.sport);
    put16(l4, f.dport);
    l4.append("\0\0\0\1\0\0\0\0", 8); // seq, ack
    l4.push_back(static_cast<char>(5 << 4));
    l4.push_back(static_cast<char>(tcp_flags));
    put16(l4, 65535); // window
    put16(l4, 0);     // checksum (softflowd does not check it)
    put16(l4, 0);     // urgent
  } else {
    put16(l4, f.sport);
    put16(l4, f.dport);
    put16(l4, static_cast<std::uint16_t>(8 + f.payload));
    put16(l4, 0);
  }
  l4.append(f.payload, 'x');
  std::string ip;
  ip.push_back(0x45);
  ip.push_back(0);
  put16(ip, static_cast<std::uint16_t>(20 + l4.size()));
  put16(ip, 1);
  put16(ip, 0);
  ip.push_back(64);
  ip.push_back(static_cast<char>(f.proto));
  put16(ip, 0);
  ip.append(reinterpret_cast<const char*>(f.src.data()), 4);
  ip.append(reinterpret_cast<const char*>(f.dst.data()), 4);
  auto sum = ip_checksum(ip);
  ip[10] = static_cast<char>(sum >> 8);
  ip[11] = static_cast<char>(sum & 0xff);
  std::string eth("\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00", 14);
  return eth + ip + l4;
}

/// A libpcap file (magic a1b2c3d4, version 2.4, LINKTYPE_ETHERNET) holding every flow's
/// packets, one second apart, TCP flows opening with SYN and closing with FIN.
void write_pcap(const std::string& path, const std::vector<flow>& flows) {
  std::string out;
  put32le(out, 0xa1b2c3d4);
  out.append("\x02\x00\x04\x00", 4); // version 2.4
  put32le(out, 0);                   // thiszone
  put32le(out, 0);                   // sigfigs
  put32le(out, 65535);               // snaplen
  put32le(out, 1);                   // LINKTYPE_ETHERNET
  std::uint32_t t = 1'700'000'000;
  for (auto& f : flows) {
    for (std::uint32_t i = 0; i < f.packets; ++i) {
      std::uint8_t flags = i == 0 ? 0x02 : (i + 1 == f.packets ? 0x11 : 0x18);
      auto fr = frame(f, flags);
      put32le(out, t++);
      put32le(out, 0);
      put32le(out, static_cast<std::uint32_t>(fr.size()));
      put32le(out, static_cast<std::uint32_t>(fr.size()));
      out += fr;
    }
  }
  std::ofstream{path, std::ios::binary} << out;
}

/// `tcp` TCP flows and `udp` UDP flows from 10.`net`.0.0/16, each its own 5-tuple.
std::vector<flow> make_flows(std::uint8_t net, int tcp, int udp) {
  std::vector<flow> out;
  for (int i = 0; i < tcp + udp; ++i) {
    flow f;
    f.src = {10, net, 0, static_cast<std::uint8_t>(1 + i % 200)};
    f.dst = {10, net, 1, static_cast<std::uint8_t>(1 + i / 200)};
    f.sport = static_cast<std::uint16_t>(30000 + i);
    f.proto = i < tcp ? 6 : 17;
    f.dport = f.proto == 6 ? 443 : 53;
    f.packets = f.proto == 6 ? 4 + i % 3 : 1 + i % 4;
    f.payload = static_cast<std::uint16_t>(10 * (i % 5));
    out.push_back(f);
  }
  return out;
}

std::string text(const std::array<std::uint8_t, 4>& a) {
  return std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." +
         std::to_string(a[3]);
}

// -- running softflowd ---------------------------------------------------------------------

/// softflowd over `pcap` to 127.0.0.1:`port` (TCP with `tcp`), to its end. Returns "" or
/// what went wrong.
std::string run_softflowd(const std::string& dir, const std::string& pcap, std::uint16_t port,
                          bool tcp) {
  static int n = 0;
  auto tag = std::to_string(++n);
  auto ctl = dir + "/softflowd" + tag + ".ctl";
  std::vector<std::string> argv{softflowd, "-d", "-r", pcap,
                                "-v",      "10", "-n", "127.0.0.1:" + std::to_string(port),
                                "-c",      ctl,  "-p", dir + "/softflowd" + tag + ".pid"};
  if (tcp) {
    argv.push_back("-P");
    argv.push_back("tcp");
  }
  auto log = dir + "/softflowd" + tag + ".log";
  fa::test::process p{argv, log, log};
  // It reads the capture once its control socket has been talked to.
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (fa::test::run_command({softflowctl, "-c", ctl, "statistics"}, out, 10s) != 0) {
    if (std::chrono::steady_clock::now() > deadline || !p.running())
      return "softflowctl statistics never answered: " + out + fa::test::read_file(log);
    std::this_thread::sleep_for(50ms);
  }
  // shutdown expires every flow, exports it and exits.
  if (fa::test::run_command({softflowctl, "-c", ctl, "shutdown"}, out, 10s) != 0)
    return "softflowctl shutdown failed: " + out;
  auto rc = p.wait(30s);
  if (rc != 0)
    return "softflowd exited with " + (rc ? std::to_string(*rc) : "a timeout") + ": " +
           fa::test::read_file(log);
  return "";
}

using flow_key = std::tuple<std::string, std::string, int, int, int>;

} // namespace

TEST(softflowd, flows_arrive_enriched_over_udp_and_tcp) {
  if (::access(softflowd, X_OK) != 0 || ::access(softflowctl, X_OK) != 0)
    GTEST_SKIP() << "softflowd is not installed (scripts/install-deps.sh installs it)";
  auto dir = fa::test::scratch_dir("softflowd");
  // Enough flows for several export messages per run.
  auto over_udp = make_flows(1, 90, 30), over_tcp = make_flows(2, 70, 20);
  write_pcap(dir + "/udp.pcap", over_udp);
  write_pcap(dir + "/tcp.pcap", over_tcp);

  fa::test::collector col{dir, {"--print"}};
  std::string toml = "cluster_id = \"0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11\"\n[collector]\n"
                     "listen = [\"udp://127.0.0.1:0\", \"tcp://127.0.0.1:0\"]\n" +
                     fa::test::tcp_destination(col.port()) + "\n[admin]\nlisten = \"\"\n";
  auto loaded = fa::config::load_string(toml, "softflowd.toml");
  ASSERT_TRUE(loaded.cfg) << (loaded.errors.empty() ? "" : fa::config::to_string(loaded.errors[0]));
  fa::test::running fa{*loaded.cfg};
  auto ports = fa.sup.listen_ports();
  ASSERT_EQ(ports.size(), 2u);

  auto err = run_softflowd(dir, dir + "/udp.pcap", ports[0], false);
  ASSERT_EQ(err, "");
  // Every flow (and softflowd's options records) reached the UDP session.
  ASSERT_TRUE(fa::test::eventually([&] {
    return metric(fa.sup, "flow_aggregator_records_received_total", {{"transport", "udp"}}) >=
           static_cast<double>(over_udp.size());
  })) << metric(fa.sup, "flow_aggregator_records_received_total", {{"transport", "udp"}});
  err = run_softflowd(dir, dir + "/tcp.pcap", ports[1], true);
  ASSERT_EQ(err, "");
  ASSERT_TRUE(fa::test::eventually([&] {
    return metric(fa.sup, "flow_aggregator_records_received_total", {{"transport", "tcp"}}) >=
           static_cast<double>(over_tcp.size());
  })) << metric(fa.sup, "flow_aggregator_records_received_total", {{"transport", "tcp"}});
  auto received = metric(fa.sup, "flow_aggregator_records_received_total");
  ASSERT_TRUE(fa::test::eventually(
      [&] { return metric(fa.sup, "flow_aggregator_records_sent_total") == received; }));
  // softflowd's sequence numbers run a message behind: gaps are counted, nothing breaks.
  RecordProperty("records_lost_upstream",
                 std::to_string(metric(fa.sup, "flow_aggregator_records_lost_upstream_total")));
  RecordProperty("messages_out_of_order",
                 std::to_string(metric(fa.sup, "flow_aggregator_messages_out_of_order_total")));
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_malformed_total"), 0);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_data_sets_unknown_template_total"), 0);
  EXPECT_EQ(metric(fa.sup, "flow_aggregator_udp_datagrams_dropped_total"), 0);
  fa.sup.stop(10s);
  col.stop();
  auto report = col.report();
  EXPECT_EQ(report.value("mismatched", -1), 0) << report.dump();

  // Every generated flow arrived once, with its counters, enriched with its exporter
  // (403 = 127.0.0.1, 404 zeros) and softflowd's observation domain (405).
  std::map<flow_key, const flow*> want;
  for (auto* v : {&over_udp, &over_tcp})
    for (auto& f : *v)
      want[{text(f.src), text(f.dst), f.sport, f.dport, f.proto}] = &f;
  std::map<flow_key, int> seen;
  std::set<std::int64_t> odids;
  std::istringstream lines{fa::test::read_file(col.out_file())};
  std::string line;
  int flows = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    if (!j.contains("sourceIPv4Address"))
      continue; // softflowd's options records (its metering process)
    ++flows;
    flow_key k{j["sourceIPv4Address"], j["destinationIPv4Address"], j["sourceTransportPort"],
               j["destinationTransportPort"], j["protocolIdentifier"]};
    ++seen[k];
    auto it = want.find(k);
    ASSERT_NE(it, want.end()) << "a flow that was not in the capture: " << line;
    EXPECT_EQ(j.value("packetDeltaCount", 0u), it->second->packets) << line;
    EXPECT_EQ(j.value("originalExporterIPv4Address", ""), "127.0.0.1") << line;
    EXPECT_EQ(j.value("originalExporterIPv6Address", ""), "::") << line;
    ASSERT_TRUE(j.contains("originalObservationDomainId")) << line;
    odids.insert(j["originalObservationDomainId"].get<std::int64_t>());
  }
  EXPECT_EQ(flows, static_cast<int>(want.size()));
  for (auto& [k, n] : seen)
    EXPECT_EQ(n, 1) << std::get<0>(k) << " -> " << std::get<1>(k) << " arrived " << n << " times";
  // softflowd 1.1.0 exports with observation domain 0, in both runs.
  EXPECT_EQ(odids, std::set<std::int64_t>{0});
}
