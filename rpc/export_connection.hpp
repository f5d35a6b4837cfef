#pragma once

// One HTTP/2 connection of the gRPC collector, without its socket: octets in, octets out.
// libnghttp2 does HTTP/2 (RFC 9113: framing, HPACK, SETTINGS, PING, GOAWAY, flow control);
// this class does gRPC's side of FlowExportService.Export (antrea-grpc-transport.md 1, 4;
// gRPC's "PROTOCOL-HTTP2"): the request headers, the 5-octet message prefix, messages
// reassembled across DATA frames, each converted straight into its stream's chunk
// (flow_writer::add_request, from the frame's own octets when the message lies in one),
// and the reply. rpc/export_server.cpp runs it on a socket; tests and the fuzzer feed it
// octets directly.
//
// Flow control is the backpressure (DESIGN 3): nghttp2 sends no WINDOW_UPDATE by itself
// (nghttp2_option_set_no_auto_window_update); a stream's received octets are given back
// to the client (nghttp2_session_consume) only while its session's and the process's
// budgets have room. A stream whose budget is spent thus stops receiving once its window
// is used up; nothing is dropped.

#include "net/inbound.hpp"
#include "rpc/data_frame_merger.hpp"
#include "rpc/flow_writer.hpp"

#include <asio/ip/address.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct nghttp2_session;

namespace fa::rpc {

/// What the owner gives an admitted stream: where its chunks go and who learns its end.
struct export_session {
  messages::session_budgets budgets;
  std::function<void(messages::chunk_ptr)> on_frames;
  /// Called exactly once, after the last chunk, from the server thread.
  std::function<void(const std::string& reason)> on_closed;
};

struct export_server_handlers {
  /// A stream from `address`:`port` opened: its session, or nullopt to refuse it
  /// (answered RESOURCE_EXHAUSTED). `in` closes the stream from any thread.
  std::function<std::optional<export_session>(const asio::ip::address& address, std::uint16_t port,
                                              net::inbound_ptr in)>
      open;
  /// A stream or connection refused before it became a session ("name_not_allowed",
  /// "shutdown", "bad_request", "compressed", "unknown_method", "not_grpc", "not_http2",
  /// "protocol_error"), with the peer text and detail.
  std::function<void(std::string_view reason, const std::string& peer, const std::string& detail)>
      refused;
  /// Flows refused in one request, by reason (never per accepted Flow).
  std::function<void(flow_error reason, std::uint64_t count, const std::string& peer)> rejected;
  /// ExportRequests and Flows received in one read of a connection (the request counter).
  std::function<void(std::uint64_t requests, std::uint64_t flows)> received;
  /// grpcs://: a TLS handshake that failed or did not end in time, with a reason from
  /// net::handshake_failure_reason (or "timeout"), the peer text and OpenSSL's account.
  std::function<void(std::string_view reason, const std::string& peer, const std::string& detail)>
      handshake_failed;
};

/// The limits of a connection (the `[collector.grpc]` keys).
struct export_limits {
  /// The largest ExportRequest accepted; a larger one ends its stream with
  /// RESOURCE_EXHAUSTED (grpc-go's default, which Antrea's aggregator keeps, is 4 MiB).
  std::size_t max_message_size = 4 * 1024 * 1024;
  /// Records carry the Flow's UIDs as the nine UUID elements (Antrea's includeK8sUIDs,
  /// off by default as there: antrea-aggregate-semantics.md f.2).
  bool include_k8s_uids = false;
  /// HTTP/2 flow-control windows (RFC 9113 6.9): what a client may send beyond what the
  /// budgets have taken, per stream and per connection.
  std::uint32_t stream_window = 1024 * 1024;
  std::uint32_t connection_window = 4 * 1024 * 1024;
};

class export_connection {
 public:
  /// Where the streams of the connection come from and what they may do.
  struct context {
    asio::ip::address address;
    std::uint16_t port = 0;
    std::string peer; ///< for logs: "127.0.0.1:5000", "[::1]:5000"
    /// grpcs:// with an allow-list: the client certificate's name is not in it (every
    /// stream is answered PERMISSION_DENIED); `names` says which it has.
    bool name_not_allowed = false;
    std::string names;
    /// The inbound handle of stream `id` (closes it from any thread).
    std::function<net::inbound_ptr(std::int32_t id)> make_inbound;
    /// What a spent budget calls when it has room again: resumes stream `id`.
    std::function<std::function<void()>(std::int32_t id)> make_resume;
    /// True once the listener stops: new streams are answered UNAVAILABLE.
    std::function<bool()> stopping;
  };

  export_connection(context ctx, export_limits limits, const export_server_handlers& handlers);
  ~export_connection();
  export_connection(const export_connection&) = delete;
  export_connection& operator=(const export_connection&) = delete;

  /// Feeds octets read from the socket, then hands each stream's chunk on and gives back
  /// the windows the budgets allow. False: the connection is done for (why in `reason()`);
  /// write what `output` still has, then close. The octets are rewritten in place (a
  /// stream's DATA frames merged, rpc/data_frame_merger.hpp); const octets are copied
  /// first.
  template <class Octet>
  bool receive(Octet* data, std::size_t size) {
    const bool ok = feed(data, size);
    flush();
    return ok;
  }
  /// `receive` in two steps, for a reader that gathers several reads into one hand-on.
  bool feed(std::uint8_t* data, std::size_t size);
  bool feed(const std::uint8_t* data, std::size_t size);
  void flush();
  /// Converted octets not yet handed on, over every stream.
  std::size_t pending() const { return pending_; }

  /// Appends what nghttp2 has to send to `out`.
  void output(std::string& out);

  /// Whether the connection is over (both sides said so, or a GOAWAY went out).
  bool done() const;
  const std::string& reason() const { return reason_; }

  /// The owner closes stream `id`'s session (shutdown, or the session ended): what was
  /// read is handed on first, then the stream is answered UNAVAILABLE.
  void close_stream(std::int32_t id, const std::string& reason);
  /// Stream `id`'s budget has room again: its window is given back.
  void resume(std::int32_t id);

  /// Sends a keepalive PING (RFC 9113 6.7); `ping_outstanding` until its ACK comes.
  void ping();
  bool ping_outstanding() const { return ping_outstanding_; }

  /// The connection is going away (socket closed, keepalive timed out, shutdown): every
  /// open session ends with `reason`, after its last chunk.
  void close_all(const std::string& reason);

  struct stream;

 private:
  friend struct callbacks;
  stream* find(std::int32_t id);
  void on_headers_done(stream& s, bool end_stream);
  void on_data(stream& s, const std::uint8_t* data, std::size_t size);
  void on_end_stream(stream& s);
  bool on_message(stream& s, std::string_view message);
  void give_back(stream& s);
  /// Counts and logs the refusal (`reason`), ends the stream's session (with
  /// `session_reason`, default `reason`) and answers `status`.
  void refuse(stream& s, int status, std::string_view reason, const std::string& detail,
              std::string_view message, std::string_view session_reason = {});
  void reply(stream& s, int status, std::string_view message);
  void end_session(stream& s, const std::string& reason);
  void fail(std::string reason);

  context ctx_;
  export_limits limits_;
  const export_server_handlers& handlers_;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, std::unique_ptr<stream>> streams_;
  data_frame_merger merger_;
  std::vector<std::uint8_t> copy_; ///< const octets fed, to merge in place
  std::uint64_t requests_ = 0;
  std::uint64_t flows_ = 0;
  std::uint32_t now_ = 0; ///< unix seconds of the read being converted
  std::size_t pending_ = 0;
  bool ping_outstanding_ = false;
  bool failed_ = false;
  std::string reason_;
};

} // namespace fa::rpc
