// ipfix-collector: a strict IPFIX collector (TCP, or UDP with --udp) for tests, demos and
// benchmarks.

#include "tools/collector/collector.hpp"
#include "tools/common/cli.hpp"

#include <string>

namespace fa::tools {
namespace {

collector_config parse_args(int argc, char** argv) {
  collector_config cfg;
  arg_parser p(
      "ipfix-collector",
      "Collects IPFIX over TCP (or UDP with --udp) from many exporters, validates every message, "
      "set, template "
      "and\nrecord strictly, checks sequence numbers per connection and ODID, and counts. With "
      "--verify\nit checks the content ipfix-loadgen sent byte for byte (also behind a mediator "
      "that appends\nfields). Stops on --expect-total, --idle-exit, --duration, or SIGTERM/SIGINT "
      "(graceful: it\nshuts down its sending side and reads until each peer closes). Exit "
      "status 0 when nothing\nwas wrong, 1 when a check failed, 2 for a usage error.");
  auto duration_opt = [](auto& target) {
    return [&target](std::string_view v) {
      auto d = parse_duration(v);
      if (d && d->count() > 0)
        target = *d;
      return d && d->count() > 0;
    };
  };
  auto uint_opt = [](std::optional<std::uint64_t>& target) {
    return [&target](std::string_view v) {
      target = parse_uint(v);
      return target.has_value();
    };
  };
  auto text_opt = [](std::string& target) {
    return [&target](std::string_view v) {
      target = std::string(v);
      return !v.empty();
    };
  };
  p.option("listen", "HOST:PORT", "address to listen on (default 127.0.0.1:4739; port 0 picks one)",
           "127.0.0.1:4739 or [::1]:0", [&](std::string_view v) {
             auto hp = parse_host_port(v);
             if (hp)
               cfg.listen = *hp;
             return hp.has_value();
           });
  p.option("port-file", "FILE", "write the bound port to FILE once listening (atomically)",
           "a file name", text_opt(cfg.port_file));
  p.option("verify", "SEED", "check every record against ipfix-loadgen content of this seed",
           "the loadgen --seed", uint_opt(cfg.verify_seed));
  p.flag("stamp",
         "octetDeltaCount holds the send time (ipfix-loadgen --stamp):\nreport "
         "latency, and do not compare that field with --verify",
         [&] { cfg.stamp = true; });
  p.option("expect-odids", "B:N", "with --verify: records come from original ODIDs B..B+N-1",
           "B:N, e.g. 1000:10", [&](std::string_view v) {
             auto colon = v.find(':');
             if (colon == std::string_view::npos)
               return false;
             auto b = parse_uint(v.substr(0, colon));
             auto n = parse_uint(v.substr(colon + 1));
             if (!b || !n || *b > UINT32_MAX || *n == 0 || *b + *n - 1 > UINT32_MAX)
               return false;
             cfg.expect_odid_base = static_cast<std::uint32_t>(*b);
             cfg.expect_odid_count = static_cast<std::uint32_t>(*n);
             return true;
           });
  p.option("expect-records", "K", "with --verify: each ODID sent indices 0..K-1", "a number",
           uint_opt(cfg.expect_records));
  p.option("expect-exporter", "ADDR",
           "with --verify: originalExporterIPv4Address/IPv6Address "
           "(403/404)\nmust name ADDR (the other family's field all zeros)",
           "an IP address like 127.0.0.1 or ::1", text_opt(cfg.expect_exporter));
  p.option("expect-total", "N", "exit once N data records were received", "a number",
           uint_opt(cfg.expect_total));
  p.option("idle-exit", "TIME", "exit when no data arrived for TIME after the first record",
           "a duration like 2s", [&](std::string_view v) {
             auto d = parse_duration(v);
             if (d && d->count() > 0)
               cfg.idle_exit = *d;
             return d && d->count() > 0;
           });
  p.option("duration", "TIME", "stop gracefully after TIME", "a duration like 30s",
           [&](std::string_view v) {
             auto d = parse_duration(v);
             if (d && d->count() > 0)
               cfg.duration = *d;
             return d && d->count() > 0;
           });
  p.option("drain-timeout", "TIME",
           "graceful stop: wait at most TIME for peers to close "
           "(default 10s)",
           "a duration like 10s", duration_opt(cfg.drain_timeout));
  p.flag("print", "print each data record as one JSON line on stdout", [&] { cfg.print = true; });
  p.option("save", "FILE", "write the received messages, whole, to FILE (RFC 5655 file format)",
           "a file name", text_opt(cfg.save));
  p.option("report", "FILE", "write a JSON report to FILE at exit", "a file name",
           text_opt(cfg.report));
  p.option("read-buffer", "SIZE",
           "receive buffer per connection (default 256KiB, at least "
           "128KiB)",
           "a size like 256KiB", [&](std::string_view v) {
             auto s = parse_size(v);
             if (!s || *s < (128 << 10) || *s > (1ULL << 30))
               return false;
             cfg.read_buffer = static_cast<std::size_t>(*s);
             return true;
           });
  p.flag("udp",
         "receive IPFIX over UDP (RFC 7011 10.3): each datagram must be exactly one\n"
         "message; each exporter address and port is one transport session",
         [&] { cfg.udp = true; });
  p.option("max-datagram", "N", "with --udp: count datagrams larger than N octets as malformed",
           "a number of octets", [&](std::string_view v) {
             auto n = parse_uint(v);
             if (n)
               cfg.max_datagram = static_cast<std::size_t>(*n);
             return n.has_value() && *n > 0;
           });
  p.flag("quiet", "no messages on stderr but errors", [&] { cfg.quiet = true; });
  p.parse(argc, argv);
  if (!cfg.verify_seed &&
      (cfg.expect_odid_base || cfg.expect_records || !cfg.expect_exporter.empty()))
    p.fail("--expect-odids, --expect-records and --expect-exporter need --verify SEED");
  return cfg;
}

} // namespace
} // namespace fa::tools

int main(int argc, char** argv) {
  auto cfg = fa::tools::parse_args(argc, argv);
  return fa::tools::run_collector(cfg);
}
