#include "tools/loadgen/options.hpp"

#include <string_view>
#include <type_traits>

namespace fa::tools {

loadgen_config parse_args(int argc, char** argv) {
  loadgen_config cfg;
  arg_parser p("ipfix-loadgen",
               "Sends IPFIX over TCP from many concurrent exporter sessions. Each session sends "
               "its template,\nthen data records whose every field is a function of (seed, "
               "ODID, index), so ipfix-collector\n--verify can check them byte for byte.");
  auto uint_opt = [](auto& target, std::uint64_t lo, std::uint64_t hi) {
    return [&target, lo, hi](std::string_view v) {
      auto n = parse_uint(v);
      if (!n || *n < lo || *n > hi)
        return false;
      target = static_cast<std::remove_reference_t<decltype(target)>>(*n);
      return true;
    };
  };
  p.option("target", "HOST:PORT", "collector or mediator to send to (default 127.0.0.1:4739)",
           "127.0.0.1:4739 or [::1]:4739", [&](std::string_view v) {
             auto hp = parse_host_port(v);
             if (hp)
               cfg.target = *hp;
             return hp.has_value();
           });
  p.option("sessions", "N", "concurrent TCP exporter sessions (default 1)", "1..100000",
           uint_opt(cfg.sessions, 1, 100000));
  p.option("records", "N", "data records per session (default 100000 unless --duration)",
           "a number", [&](std::string_view v) {
             cfg.records = parse_uint(v);
             return cfg.records.has_value();
           });
  p.option("duration", "TIME",
           "send for this long (10s, 500ms, 2m); with --records, whichever\n"
           "ends first",
           "a duration like 10s", [&](std::string_view v) {
             cfg.duration = parse_duration(v);
             return cfg.duration && cfg.duration->count() > 0;
           });
  p.option("rate", "R", "total records/s over all sessions, paced smoothly (0 = unlimited)",
           "a number >= 0", [&](std::string_view v) {
             auto r = parse_number(v);
             if (r)
               cfg.rate = *r;
             return r.has_value();
           });
  p.option("records-per-message", "K",
           "data records per message (default 32; messages never "
           "exceed\n65535 octets)",
           "1..65535", uint_opt(cfg.records_per_message, 1, 65535));
  p.option("template", "KIND", "antrea-v4, antrea-v6 or minimal (default minimal)",
           "antrea-v4, antrea-v6 or minimal", [&](std::string_view v) {
             auto k = parse_template_kind(v);
             if (k)
               cfg.kind = *k;
             return k.has_value();
           });
  p.option("template-id", "ID", "template id to use (default 256)", "256..65535",
           uint_opt(cfg.template_id, 256, 65535));
  p.option("seed", "S", "content seed (default 1); give the same to ipfix-collector --verify",
           "a number", uint_opt(cfg.seed, 0, UINT64_MAX));
  p.option("odid-base", "B", "session i uses observation domain id B + i (default 1000)",
           "a 32-bit number", uint_opt(cfg.odid_base, 0, UINT32_MAX));
  p.flag("stamp",
         "write CLOCK_MONOTONIC nanoseconds at send time into every record's\n"
         "octetDeltaCount (ipfix-collector --stamp measures latency)",
         [&] { cfg.stamp = true; });
  p.option("connect-timeout", "TIME", "give up connecting after this long (default 5s)",
           "a duration like 5s", [&](std::string_view v) {
             auto d = parse_duration(v);
             if (d)
               cfg.connect_timeout = *d;
             return d.has_value();
           });
  p.option("close-timeout", "TIME",
           "after sending, wait this long for the peer to close "
           "(default 5s)",
           "a duration like 5s", [&](std::string_view v) {
             auto d = parse_duration(v);
             if (d)
               cfg.close_timeout = *d;
             return d.has_value();
           });
  p.option("report", "FILE",
           "write a JSON report (sessions, records, messages, bytes, "
           "seconds,\nrecords_per_s, complete)",
           "a file name", [&](std::string_view v) {
             cfg.report = std::string(v);
             return !v.empty();
           });
  p.option("io-threads", "N", "threads running the sessions (default 1)", "1..64",
           uint_opt(cfg.io_threads, 1, 64));
  p.option("pregen-limit", "SIZE",
           "with --records, without --rate and --stamp, build all "
           "messages\nbefore connecting when they fit in SIZE (default 512MiB; 0 disables);\n"
           "with --tls-ca each session also encrypts its stream after the handshake,\nand all "
           "start sending together",
           "a size like 512MiB", [&](std::string_view v) {
             auto s = parse_size(v);
             if (s)
               cfg.pregen_limit = *s;
             return s.has_value();
           });
  p.flag("quiet", "no summary line on stderr", [&] { cfg.quiet = true; });
  auto text_opt = [](std::string& target) {
    return [&target](std::string_view v) {
      target = std::string(v);
      return !v.empty();
    };
  };
  p.option("tls-ca", "FILE",
           "speak TLS (RFC 7011 11); verify the target's certificate with\nthis PEM CA",
           "a file name", [&](std::string_view v) {
             cfg.tls = true;
             return text_opt(cfg.tls_ca)(v);
           });
  p.option("tls-cert", "FILE", "TLS: client certificate (PEM) for mutual authentication",
           "a file name", text_opt(cfg.tls_cert));
  p.option("tls-key", "FILE", "TLS: the key of --tls-cert (PEM)", "a file name",
           text_opt(cfg.tls_key));
  p.option("tls-server-name", "NAME",
           "TLS: the name the target's certificate must hold, sent as SNI\n"
           "(default: the --target host)",
           "a host name or address", text_opt(cfg.tls_server_name));
  p.option("write", "FILE",
           "write each session's messages (template first) to FILE, one session\n"
           "after the other, instead of sending them (needs --records)",
           "a file name", text_opt(cfg.write_file));
  p.option("transport", "T",
           "tcp (default) or udp: one datagram per message, --max-datagram\n"
           "octets at most, sent in sendmmsg batches; pace with --rate",
           "tcp or udp", [&](std::string_view v) {
             cfg.udp = v == "udp";
             return v == "udp" || v == "tcp";
           });
  p.option("max-datagram", "SIZE",
           "UDP: largest message, i.e. datagram payload (default 1400, RFC 7011\n10.3.3)",
           "64..65507", uint_opt(cfg.max_datagram, 64, 65507));
  p.option("udp-ring", "N",
           "UDP: encode N records per session once and send them round and round,\n"
           "patching only the message headers (sequence number, export time): a\n"
           "cheap sender for benchmarks. Content then repeats every N records, so\n"
           "ipfix-collector --verify fails past N. Default: all of --records when\n"
           "they fit --pregen-limit (exact content), else encoded while sending",
           "a number >= 1", uint_opt(cfg.udp_ring, 1, UINT64_MAX));
  p.option("template-refresh", "TIME", "UDP: re-send the template this often (default 1s)",
           "a duration like 1s", [&](std::string_view v) {
             auto d = parse_duration(v);
             if (d && d->count() > 0)
               cfg.template_refresh = *d;
             return d && d->count() > 0;
           });
  p.option("pairs", "F",
           "aggregate-mode content: sessions 2p and 2p+1 play the source and the\n"
           "destination Node of the F inter-Node flows of pair p; record i of a\n"
           "session is flow i % F in round i / F, its counters growing each round\n"
           "(needs an antrea template)",
           "1..4194304", uint_opt(cfg.pair_flows, 1, 1ULL << 22));
  p.option("first-record", "N",
           "index of each session's first record (default 0): with --pairs F,\n"
           "N = R * F starts at round R, so this run continues the flows of an\n"
           "earlier one that sent rounds 0..R-1",
           "a number", uint_opt(cfg.first_record, 0, UINT64_MAX));
  p.option("odid-step", "K",
           "session i uses observation domain id B + i * K (default 1): with --pair-base,\n"
           "several load generators play interleaved sessions of one pair content",
           "1..65536", uint_opt(cfg.odid_step, 1, 65536));
  p.option("pair-base", "B",
           "--pairs: the ODID of pair content session 0 (default --odid-base); a session\n"
           "with ODID o plays pair content session o - B",
           "a 32-bit number", [&](std::string_view v) {
             std::uint32_t b = 0;
             if (!uint_opt(b, 0, UINT32_MAX)(v))
               return false;
             cfg.pair_base = b;
             return true;
           });
  p.parse(argc, argv);
  if (cfg.pair_base && cfg.pair_base > cfg.odid_base)
    p.fail("--pair-base must not exceed --odid-base");
  if (cfg.pair_flows > 0 && cfg.kind == template_kind::minimal)
    p.fail("--pairs needs --template antrea-v4 or antrea-v6");
  if (!cfg.records && !cfg.duration)
    cfg.records = 100000;
  if (std::uint64_t{cfg.odid_base} + std::uint64_t{cfg.sessions - 1} * cfg.odid_step > UINT32_MAX)
    p.fail("--odid-base + --sessions exceeds the 32-bit ODID range");
  if (!cfg.tls && (!cfg.tls_cert.empty() || !cfg.tls_key.empty() || !cfg.tls_server_name.empty()))
    p.fail("--tls-cert, --tls-key and --tls-server-name need --tls-ca");
  if (cfg.tls_cert.empty() != cfg.tls_key.empty())
    p.fail("--tls-cert and --tls-key go together");
  if (!cfg.write_file.empty() && cfg.duration)
    p.fail("--write needs --records, not --duration");
  return cfg;
}

} // namespace fa::tools
