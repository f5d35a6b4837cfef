#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// The typed configuration of flow-aggregator: the whole TOML surface of DESIGN.md 8.
///
/// Every struct is a plain value with the documented defaults as member initialisers, so
/// `config{}` is the effective configuration of an empty file (except that an empty file
/// has no listener and no destination, which `validate` rejects). `load.hpp` turns TOML
/// text into a `config`; `validate.hpp` checks one built by hand.
namespace fa::config {

/// All durations. Nanoseconds, so a value converts to `caf::timespan` without a cast.
using duration = std::chrono::nanoseconds;

/// Bytes on the wire and in memory.
using byte_size = std::uint64_t;

/// RFC 7011 3.1: the message length field is 16 bits.
inline constexpr std::uint32_t max_ipfix_message_size = 65535;

/// The smallest `max_message_size` we accept; RFC 7011 10.3.3 asks UDP exporters to fit
/// the path MTU, and below 512 octets a data record with a few strings no longer fits.
inline constexpr std::uint32_t min_ipfix_message_size = 512;

/// `max_message_size = 0` over TCP and TLS.
inline constexpr std::uint32_t default_tcp_message_size = 65535;

/// `max_message_size = 0` over UDP: an IPv6 minimum MTU of 1280 also fits 1400 on
/// Ethernet-sized paths, which is what collectors in practice expect (RFC 7011 10.3.3).
inline constexpr std::uint32_t default_udp_message_size = 1400;

/// The largest UDP payload over IPv4 (65535 - 20 IP - 8 UDP); a larger message could not
/// be sent in one datagram.
inline constexpr std::uint32_t max_udp_message_size = 65507;

/// IANA port for IPFIX over TCP and UDP (RFC 7011 10).
inline constexpr std::uint16_t ipfix_port = 4739;

/// IANA port for IPFIX over TLS and DTLS (RFC 7011 10).
inline constexpr std::uint16_t ipfix_tls_port = 4740;

/// ClickHouse's HTTP and HTTPS interface ports (its default config).
inline constexpr std::uint16_t clickhouse_http_port = 8123;
inline constexpr std::uint16_t clickhouse_https_port = 8443;

/// Antrea's gRPC flow export port (antrea-grpc-transport.md 1).
inline constexpr std::uint16_t antrea_grpc_port = 14739;

/// Antrea's flow stream service port (antrea-grpc-transport.md 5).
inline constexpr std::uint16_t antrea_flow_stream_port = 14740;

// -- enumerations -------------------------------------------------------------

/// Top-level `mode`.
enum class run_mode : std::uint8_t {
  proxy,     ///< stateless: enrich and forward every record
  aggregate, ///< correlate the two Node records of one connection (DESIGN.md 9)
};

/// The transport of a `collector.listen` URL.
enum class transport_kind : std::uint8_t {
  tcp,
  udp,
  tls,
  grpc,  ///< Antrea's FlowExportService over plain HTTP/2 (antrea-grpc-transport.md 1)
  grpcs, ///< the same over TLS, with `[collector.tls]`
};

/// The kind of a `destination.url`.
enum class destination_kind : std::uint8_t {
  ipfix_tcp, ///< "ipfix+tcp://host:port"
  ipfix_udp, ///< "ipfix+udp://host:port"
  ipfix_tls, ///< "ipfix+tls://host:port"
  jsonl,     ///< "jsonl:stdout" or "jsonl:/path": one JSON object per record
  /// "clickhouse+http://host:8123/?database=default&table=flows": rows of Antrea's
  /// `flows` table through ClickHouse's HTTP interface.
  clickhouse_http,
  clickhouse_https, ///< the same over HTTPS
  flowlog,          ///< "flowlog:/path/flows.csv": Antrea's flow-log CSV lines
  /// "grpc-stream://0.0.0.0:14740": Antrea's FlowStreamService (antrea-grpc-transport.md
  /// 5) served on this address; "grpcs-stream://" with TLS.
  grpc_stream,
  grpcs_stream,
};

/// `destination.on_full`: what happens when the destination's queue is full.
enum class on_full_policy : std::uint8_t {
  block, ///< keep the credits, so upstream readers pause (lossless over TCP)
  drop,  ///< discard and count (RFC 7011 4.3 accounting downstream)
};

/// `destination.compression`: ClickHouse request bodies.
enum class compression_kind : std::uint8_t { gzip, none };

/// `destination.format`: the body of a ClickHouse insert.
enum class clickhouse_format : std::uint8_t {
  row_binary,    ///< "RowBinary"
  json_each_row, ///< "JSONEachRow"
};

/// A NetworkPolicy rule action as Antrea names them in flow-log filters (`None`,
/// `Allow`, `Drop`, `Reject`: the values 0..3 of ingress/egressNetworkPolicyRuleAction).
enum class rule_action : std::uint8_t { none, allow, drop, reject };

/// `fanout.mode`.
enum class fanout_mode : std::uint8_t {
  all,  ///< every destination receives every record
  hash, ///< each exporter session sticks to one destination
  flow, ///< each record to one destination by rendezvous on its flow key (DESIGN 9)
};

/// `aggregate.uncorrelated`: what becomes of an inter-Node flow whose other Node's record
/// never arrives (reference antrea-aggregate-semantics.md e: Antrea deletes it unexported
/// after three expiries).
enum class uncorrelated_policy : std::uint8_t {
  export_flow, ///< export it with what it has, marked uncorrelated, and count it
  drop,        ///< Antrea's behaviour: delete it unexported, and count it
};

/// `labels.source`: where the Pod index comes from.
enum class label_source : std::uint8_t { none, file, kubernetes };

/// `runtime.log_level`.
enum class log_level : std::uint8_t { trace, debug, info, warn, error };

/// `runtime.log_format`.
enum class log_format : std::uint8_t { text, json };

/// The configuration spelling of each enumerator ("ipfix+tcp" for `ipfix_tcp`, the URL
/// scheme, is the exception: `destination_kind` is never spelled alone in TOML).
std::string_view to_string(run_mode x);
std::string_view to_string(transport_kind x);
std::string_view to_string(destination_kind x);
std::string_view to_string(on_full_policy x);
std::string_view to_string(compression_kind x);
std::string_view to_string(clickhouse_format x);
std::string_view to_string(rule_action x);
std::string_view to_string(fanout_mode x);
std::string_view to_string(uncorrelated_policy x);
std::string_view to_string(label_source x);
std::string_view to_string(log_level x);
std::string_view to_string(log_format x);

// -- endpoints ----------------------------------------------------------------

/// A host and a port. `host` holds no brackets: "::" for "[::]".
struct host_port {
  std::string host;
  std::uint16_t port = 0; ///< 0 = ephemeral (listeners only; useful in tests)

  bool operator==(const host_port&) const = default;
};

/// One `collector.listen` entry, parsed from "tcp://0.0.0.0:4739", "udp://[::]:4739" or
/// "tls://0.0.0.0:4740".
struct listen_endpoint {
  transport_kind transport = transport_kind::tcp;
  std::string host = "0.0.0.0";
  std::uint16_t port = ipfix_port;

  bool operator==(const listen_endpoint&) const = default;
};

/// A parsed `destination.url`.
struct destination_url {
  destination_kind kind = destination_kind::jsonl;
  std::string host;       ///< ipfix+*, clickhouse+*: host name or address; *-stream: bind address
  std::uint16_t port = 0; ///< ipfix+*, clickhouse+*: 1..65535; *-stream: 0..65535 (0 = ephemeral)
  std::string path = "stdout";      ///< jsonl: "stdout" or a file path; flowlog: a file path
  std::string database = "default"; ///< clickhouse+*: the `database` query parameter
  std::string table = "flows";      ///< clickhouse+*: the `table` query parameter

  bool operator==(const destination_url&) const = default;

  /// True for the IPFIX kinds.
  bool is_ipfix() const noexcept {
    return kind == destination_kind::ipfix_tcp || kind == destination_kind::ipfix_udp ||
           kind == destination_kind::ipfix_tls;
  }

  /// True for clickhouse+http and clickhouse+https.
  bool is_clickhouse() const noexcept {
    return kind == destination_kind::clickhouse_http || kind == destination_kind::clickhouse_https;
  }

  /// True for "grpc-stream://" and "grpcs-stream://": a server we listen on.
  bool is_flow_stream() const noexcept {
    return kind == destination_kind::grpc_stream || kind == destination_kind::grpcs_stream;
  }

  /// True for "jsonl:stdout".
  bool is_stdout() const noexcept { return kind == destination_kind::jsonl && path == "stdout"; }
};

/// Renders the URL back: "tcp://[::]:4739".
std::string to_string(const listen_endpoint& x);

/// Renders the URL back: "ipfix+tcp://collector:4739", "jsonl:stdout",
/// "clickhouse+http://ch:8123/?database=default&table=flows", "flowlog:/var/log/flows.csv".
std::string to_string(const destination_url& x);

/// Renders "127.0.0.1:10348" or "[::1]:10348".
std::string to_string(const host_port& x);

// -- sections -----------------------------------------------------------------

/// `[collector.tls]`: used by tls:// listeners.
struct tls_config {
  std::string cert = "/etc/flow-aggregator/tls/tls.crt";
  std::string key = "/etc/flow-aggregator/tls/tls.key";
  std::string client_ca;                  ///< set => client certificates required (mTLS)
  std::vector<std::string> allowed_names; ///< empty = any name the CA signed
  duration handshake_timeout = std::chrono::seconds{10}; ///< a handshake not done by then fails
  std::uint32_t max_handshakes = 64; ///< handshakes in progress at once; more wait in accept
  std::string min_version = "1.2";   ///< "1.2" or "1.3"

  bool operator==(const tls_config&) const = default;
};

/// `[collector.grpc]`: used by grpc:// and grpcs:// listeners (TLS from `[collector.tls]`).
struct grpc_config {
  /// The largest ExportRequest; a larger one ends its stream with RESOURCE_EXHAUSTED
  /// (grpc-go's default, which Antrea keeps).
  byte_size max_message_size = 4 * 1024 * 1024;
  /// HTTP/2 keepalive: pings this often, and a peer silent for `keepalive_timeout` after
  /// a ping is gone (its session ends). Agents never close their stream.
  duration keepalive_time = std::chrono::seconds{30};
  duration keepalive_timeout = std::chrono::seconds{20};
  /// Antrea's includeK8sUIDs (default false there too): the Flows' Pod, Node, Service,
  /// policy and Egress UIDs become the nine UUID elements of their records.
  bool include_k8s_uids = false;

  bool operator==(const grpc_config&) const = default;
};

/// `[collector]`: the receiving side.
struct collector_config {
  std::vector<listen_endpoint> listen;
  std::uint32_t max_sessions = 10000;
  std::uint32_t max_message_size = max_ipfix_message_size;
  /// Bytes of received data one exporter session may have in flight before its reader
  /// pauses (TCP/TLS) or drops (UDP); DESIGN.md 3.
  byte_size session_budget = 4 * 1024 * 1024;
  /// Received bytes all sessions together may have in flight (DESIGN 3: memory stays
  /// bounded however many exporters connect).
  byte_size receive_budget = 32 * 1024 * 1024;
  std::uint32_t max_templates_per_session = 4096;
  /// RFC 7011 8.4: templates received over UDP expire unless refreshed.
  duration template_lifetime = std::chrono::seconds{1800};
  /// SO_RCVBUF of udp:// listeners; 0 = the system default.
  byte_size udp_receive_buffer = 8 * 1024 * 1024;
  /// A UDP exporter (address, port) silent this long has its session closed.
  duration udp_idle_timeout = std::chrono::minutes{30};
  /// TCP/TLS: a message whose first octets arrived must be complete within this time, or
  /// the session is closed (its partial message is charged to the budgets meanwhile).
  duration message_timeout = std::chrono::seconds{30};
  /// Issue 16: session slots. TCP and TLS sessions at once, UDP sessions at once, and
  /// sessions of one source address (TCP and TLS together, UDP apart); `max_sessions`
  /// bounds them all together.
  std::uint32_t max_tcp_sessions = 10000;
  std::uint32_t max_udp_sessions = 5000;
  std::uint32_t max_sessions_per_address = 1000;
  /// TCP and TLS: a session with no complete message this long after it opened (after
  /// the handshake for TLS), or none for `tcp_idle_timeout` since the last one, closes.
  duration first_message_timeout = std::chrono::seconds{30};
  duration tcp_idle_timeout = std::chrono::minutes{30};
  /// UDP: a session that never sent a template set closes after this much silence, and
  /// is the first reclaimed (as is any UDP session silent this long) when a cap is hit.
  duration udp_untemplated_idle_timeout = std::chrono::seconds{60};
  /// Issue 16: memory all sessions' templates may hold, and one exporter address's
  /// share of it (ipfix/template_budget.hpp).
  byte_size template_budget = 64 * 1024 * 1024;
  byte_size template_budget_per_exporter = 4 * 1024 * 1024;
  /// An output template id no data used for this long is given back by its session.
  duration output_id_idle_timeout = std::chrono::minutes{10};
  tls_config tls;
  grpc_config grpc;

  bool operator==(const collector_config&) const = default;
};

/// One entry of a flow-log destination's `filters` (Antrea `flowLogger.filters`): a
/// record is logged when its rule action is in each non-empty list.
struct flow_log_filter {
  std::vector<rule_action> ingress_network_policy_rule_actions;
  std::vector<rule_action> egress_network_policy_rule_actions;

  bool operator==(const flow_log_filter&) const = default;
};

/// One `[[destination]]`.
struct destination_config {
  std::string name;
  destination_url url;
  /// Absent (or 0 in TOML) = `default_export_odid(cluster_id)`.
  std::optional<std::uint32_t> observation_domain_id;
  /// 0 = the transport default: `effective_max_message_size`.
  std::uint32_t max_message_size = 0;
  duration flush_interval = std::chrono::milliseconds{10};
  /// RFC 7011 8.4: templates are re-sent this often over UDP.
  duration template_refresh = std::chrono::seconds{600};
  /// UDP: templates are also re-sent every this many messages; 0 = only by time.
  std::uint32_t template_refresh_messages = 0;
  /// ipfix+udp: runs of equal-sized messages go as one UDP GSO send (UDP_SEGMENT).
  bool udp_gso = true;
  byte_size queue_size = 64 * 1024 * 1024;
  on_full_policy on_full = on_full_policy::block;
  /// ipfix+tcp/tls: after a connection ends without a clean close, the records in this
  /// many octets before the last one the collector's TCP acknowledged are sent again
  /// (at least once across a collector crash; README "Architecture").
  byte_size replay_window = 4 * 1024 * 1024;
  /// Reconnect backoff doubles from `reconnect_min` up to `reconnect_max`; RFC 7011
  /// 10.4.4: after repeated failures, no more than once per minute by default.
  duration reconnect_min = std::chrono::seconds{1};
  duration reconnect_max = std::chrono::seconds{60};
  /// ipfix+tls: CA bundle that verifies the collector; "" = the system's CAs.
  std::string tls_ca;
  std::string tls_cert; ///< ipfix+tls: client certificate (mutual TLS); "" = none
  std::string tls_key;  ///< ipfix+tls: client key, with tls_cert
  /// ipfix+tls: the name verified and sent as SNI; "" = the URL's host.
  std::string tls_server_name;
  std::string tls_min_version = "1.2"; ///< "1.2" or "1.3"
  /// clickhouse+*: the user (X-ClickHouse-User); "" = the server's default user.
  std::string user;
  /// clickhouse+*: a file holding the password; "" = none. A secret: never shown.
  std::string password_file;
  /// clickhouse+*: one insert at most this long after its oldest row was queued ...
  duration commit_interval = std::chrono::seconds{1};
  /// ... or as soon as this many rows are queued.
  std::uint32_t max_rows = 100000;
  /// clickhouse+*: request bodies gzipped or not. Not by default: gzip costs several
  /// times the CPU of the rest of a row's way (README, benchmark).
  compression_kind compression = compression_kind::none;
  /// clickhouse+*: the insert format.
  clickhouse_format format = clickhouse_format::row_binary;
  /// flowlog: protocol, rule actions and policy types as names, not numbers.
  bool pretty_print = true;
  /// flowlog: the file is rotated before a line would take it past this size.
  byte_size max_size = 100 * 1024 * 1024;
  /// flowlog: rotated files kept (the newest); 0 = all.
  std::uint32_t max_backups = 3;
  /// flowlog: rotated files older than this are removed; 0 = no age limit.
  duration max_age = duration::zero();
  /// flowlog: rotated files are gzipped (Antrea `compress`).
  bool compress = true;
  /// flowlog: records logged; none = every record.
  std::vector<flow_log_filter> filters;
  /// *-stream: records kept for subscribers (Antrea's recordBufferSize), oldest
  /// overwritten; a subscriber that falls further behind misses records (counted).
  std::uint32_t stream_buffer = 8192;
  /// *-stream: subscribers served at once; more are refused (RESOURCE_EXHAUSTED).
  std::uint32_t stream_max_subscribers = 16;

  bool operator==(const destination_config&) const = default;
};

/// `[fanout]`.
struct fanout_config {
  fanout_mode mode = fanout_mode::all;
  /// mode = "flow": a record whose destination is down goes to its flow's next
  /// destination by rendezvous order (splitting the flow's aggregate), counted.
  bool failover = false;

  bool operator==(const fanout_config&) const = default;
};

/// `[aggregate]`: the flow table of `mode = "aggregate"` (DESIGN.md 9; reference
/// antrea-aggregate-semantics.md e for the timeouts, whose defaults are Antrea's).
struct aggregate_config {
  /// A live flow is exported this often (Antrea's activeFlowRecordTimeout).
  duration active_timeout = std::chrono::seconds{60};
  /// A flow with no new record for this long is exported one last time and forgotten
  /// (Antrea's inactiveFlowRecordTimeout).
  duration inactive_timeout = std::chrono::seconds{90};
  uncorrelated_policy uncorrelated = uncorrelated_policy::export_flow;
  /// A hard bound on the flows held (all shards together); when full, the oldest flows
  /// are exported early and evicted, counted. Never unlimited.
  std::uint64_t max_flows = 2'000'000;
  /// Aggregator shards (actors), each owning the flows whose key hashes to it; 0 = the
  /// number of workers.
  std::uint32_t shards = 0;
  /// This instance is one of several shards behind fanout-flow proxies (README "Scaling
  /// out aggregate mode"): check-config warns of listeners only agents would use.
  bool scaled_out = false;

  bool operator==(const aggregate_config&) const = default;
};

/// `[enrichment]`: which fields are appended to data templates.
struct enrichment_config {
  bool provenance = true;                  ///< IANA 403/404/405 on every data template
  bool antrea = true;                      ///< labels, clusterId, flowDirection on Antrea templates
  bool pod_labels = true;                  ///< source/destination Pod labels
  bool fill_k8s_names = true;              ///< fill empty Pod names of InterNode records
  bool labels_for_foreign_records = false; ///< look labels up for non-Antrea records too

  bool operator==(const enrichment_config&) const = default;
};

/// `[labels]`: the Pod index.
struct labels_config {
  label_source source = label_source::none;
  std::string file; ///< JSON lines, for source = "file"
  duration deleted_pod_retention = std::chrono::minutes{5};

  bool operator==(const labels_config&) const = default;
};

/// `[kubernetes]`: the API client for labels.source = "kubernetes".
struct kubernetes_config {
  std::string api_server;  ///< empty = in-cluster
  std::string token_file;  ///< empty = in-cluster service account token
  std::string ca_file;     ///< empty = in-cluster CA
  std::string client_cert; ///< optional client certificate (instead of, or with, a token)
  std::string client_key;  ///< key of client_cert
  /// A watch that delivers nothing (not even a bookmark) this long is restarted.
  duration watch_idle_timeout = std::chrono::minutes{2};

  bool operator==(const kubernetes_config&) const = default;
};

/// `[admin]`: the HTTP inspection API.
struct admin_config {
  /// Absent = the admin server is disabled (`listen = ""`).
  std::optional<host_port> listen = host_port{"127.0.0.1", 10348};
  std::string token_file; ///< set => requests need this bearer token
  std::string tls_cert;   ///< PEM certificate (chain); set (with tls_key) => HTTPS
  std::string tls_key;    ///< PEM private key of tls_cert; a secret, never shown

  bool operator==(const admin_config&) const = default;
};

/// `[runtime]`.
struct runtime_config {
  std::uint32_t workers = 0;    ///< CAF scheduler threads; 0 = number of cores
  std::uint32_t io_threads = 1; ///< threads running the Asio io_context
  std::uint32_t enrichers = 0;  ///< enricher actors; 0 = number of workers
  /// How an idle scheduler worker waits for work (app/scheduler_settings.hpp): it looks
  /// `idle_spin` times, then every 50 us for `idle_poll`, then sleeps until a message
  /// arrives for it or `idle_sleep` passes (it then looks at the other workers' queues).
  std::uint32_t idle_spin = 10;
  duration idle_poll = duration::zero();
  duration idle_sleep = std::chrono::milliseconds{10};
  /// How many messages an actor may handle before its worker moves on to another
  /// (CAF `scheduler.max-throughput`); 0 = no limit (CAF's default): an actor whose
  /// mailbox stays full keeps its worker until the mailbox is empty.
  std::uint32_t max_throughput = 0;
  fa::config::log_level log_level = log_level::info;
  fa::config::log_format log_format = log_format::text;
  /// SIGTERM/SIGINT: how long queued records may take to reach the destinations before
  /// the process gives up on them (also the bound for draining a destination a reload
  /// removes).
  duration shutdown_timeout = std::chrono::seconds{10};
  /// How often the heap's free pages go back to the kernel (monitoring/heap_trim.hpp);
  /// 0 = never.
  duration memory_trim_interval = std::chrono::seconds{10};

  bool operator==(const runtime_config&) const = default;
};

/// The whole file.
struct config {
  run_mode mode = run_mode::proxy;
  /// Empty = the application generates a UUID once (`generate_cluster_uuid`) and stores it.
  std::string cluster_id;
  collector_config collector;
  std::vector<destination_config> destinations;
  fanout_config fanout;
  aggregate_config aggregate;
  enrichment_config enrichment;
  labels_config labels;
  kubernetes_config kubernetes;
  admin_config admin;
  runtime_config runtime;

  bool operator==(const config&) const = default;
};

// -- derived values -----------------------------------------------------------

/// The message size limit a destination packs to: its `max_message_size`, or the
/// transport default when it is 0 (TCP/TLS 65535, UDP 1400; jsonl has no messages and
/// reports 65535).
std::uint32_t effective_max_message_size(const destination_config& x) noexcept;

/// The observation domain ID a destination exports with: its own, or
/// `default_export_odid(cfg.cluster_id)`. Call after the cluster ID is resolved.
std::uint32_t export_odid(const config& cfg, const destination_config& x) noexcept;

/// `runtime.workers`, with 0 resolved to `hardware_threads` (at least 1).
std::uint32_t resolved_workers(const runtime_config& x, unsigned hardware_threads) noexcept;

/// `aggregate.shards`, with 0 resolved to the resolved number of workers.
std::uint32_t resolved_shards(const config& x, unsigned hardware_threads) noexcept;

/// `runtime.enrichers`, with 0 resolved to the resolved number of workers.
std::uint32_t resolved_enrichers(const runtime_config& x, unsigned hardware_threads) noexcept;

} // namespace fa::config
