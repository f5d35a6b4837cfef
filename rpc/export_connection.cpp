#include "rpc/export_connection.hpp"

#include "base/unix_time.hpp"

#include <nghttp2/nghttp2.h>

#include <array>
#include <cstring>

namespace fa::rpc {

namespace {

/// rpc/proto/service.proto: package antrea_io.antrea.pkg.apis.flow.v1alpha1, service
/// FlowExportService, rpc Export (gRPC's ":path" is "/" Service-Name "/" Method-Name).
constexpr std::string_view export_path =
    "/antrea_io.antrea.pkg.apis.flow.v1alpha1.FlowExportService/Export";

// gRPC status codes (grpc/include/grpc/impl/codegen/status.h).
constexpr int status_ok = 0;
constexpr int status_internal = 13;
constexpr int status_unimplemented = 12;
constexpr int status_resource_exhausted = 8;
constexpr int status_permission_denied = 7;
constexpr int status_unavailable = 14;

/// The empty ExportResponse as one gRPC message: uncompressed, length 0.
constexpr std::array<std::uint8_t, 5> empty_response{};

nghttp2_nv header(std::string_view name, std::string_view value) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
          value.size(), NGHTTP2_NV_FLAG_NONE};
}

} // namespace

struct export_connection::stream {
  std::int32_t id = 0;
  std::string path, method, content_type;
  std::optional<export_session> session;
  std::optional<flow_writer> writer;
  // The message being read: its prefix (gRPC: compressed flag, 4-octet length), then its
  // octets when they span DATA frames.
  std::array<std::uint8_t, 5> prefix{};
  std::size_t prefix_size = 0;
  std::size_t message_size = 0;
  std::string message;
  bool in_message = false;
  std::size_t unconsumed = 0; ///< received octets not yet given back to the window
  std::size_t response_sent = 0;
  int status = status_ok; ///< of the trailers that follow the response message
  bool answered = false;  ///< response submitted: what comes next is discarded
  bool remote_closed = false;
  bool paused = false;
  bool dirty = false;
};

/// nghttp2's callbacks, into the connection.
struct callbacks {
  static export_connection& self(void* user) { return *static_cast<export_connection*>(user); }

  static int begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
      return 0;
    auto s = std::make_unique<export_connection::stream>();
    s->id = frame->hd.stream_id;
    self(user).streams_[s->id] = std::move(s);
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                       std::uint8_t, void* user) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
      return 0;
    auto* s = self(user).find(frame->hd.stream_id);
    if (!s)
      return 0;
    std::string_view n{reinterpret_cast<const char*>(name), namelen};
    std::string_view v{reinterpret_cast<const char*>(value), valuelen};
    if (n == ":path")
      s->path = v;
    else if (n == ":method")
      s->method = v;
    else if (n == "content-type")
      s->content_type = v;
    return 0;
  }

  static int frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& c = self(user);
    if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK)) {
      c.ping_outstanding_ = false;
      return 0;
    }
    const bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (frame->hd.type == NGHTTP2_DATA && !end)
      return 0; // its octets went to data_chunk: nothing more to do (most frames)
    auto* s = c.find(frame->hd.stream_id);
    if (!s)
      return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
      c.on_headers_done(*s, end);
    else if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) && end)
      c.on_end_stream(*s);
    return 0;
  }

  static int data_chunk(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data,
                        std::size_t len, void* user) {
    auto& c = self(user);
    auto* s = c.find(id);
    if (!s) {
      nghttp2_session_consume_connection(c.session_, len);
      return 0;
    }
    s->unconsumed += len;
    if (!s->answered)
      c.on_data(*s, data, len);
    return 0;
  }

  static int frame_send(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    // gRPC's PROTOCOL-HTTP2: a server that ends a stream the client has not half-closed
    // resets it (NO_ERROR), so the client stops sending.
    if (frame->hd.type != NGHTTP2_HEADERS || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
      return 0;
    auto* s = self(user).find(frame->hd.stream_id);
    if (s && !s->remote_closed)
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
    return 0;
  }

  static int stream_close(nghttp2_session*, std::int32_t id, std::uint32_t, void* user) {
    auto& c = self(user);
    auto i = c.streams_.find(id);
    if (i == c.streams_.end())
      return 0;
    // Reset by the client, or over: a session still open was cancelled.
    c.end_session(*i->second, "cancelled");
    c.streams_.erase(i);
    return 0;
  }

  /// The response message (the empty ExportResponse), then the trailers.
  static ssize_t read_response(nghttp2_session* session, std::int32_t id, std::uint8_t* buf,
                               std::size_t length, std::uint32_t* flags, nghttp2_data_source*,
                               void* user) {
    auto* s = self(user).find(id);
    std::size_t n = 0;
    if (s) {
      n = std::min(length, empty_response.size() - s->response_sent);
      std::memcpy(buf, empty_response.data() + s->response_sent, n);
      s->response_sent += n;
      if (s->response_sent < empty_response.size())
        return static_cast<ssize_t>(n);
    }
    *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    auto status = std::to_string(s ? s->status : status_ok);
    nghttp2_nv trailers[] = {header("grpc-status", status)};
    nghttp2_submit_trailer(session, id, trailers, 1);
    return static_cast<ssize_t>(n);
  }
};

export_connection::export_connection(context ctx, export_limits limits,
                                     const export_server_handlers& handlers)
    : ctx_(std::move(ctx))
    , limits_(limits)
    , handlers_(handlers) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &callbacks::begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &callbacks::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &callbacks::frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &callbacks::data_chunk);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &callbacks::frame_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &callbacks::stream_close);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_session_server_new2(&session_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  // An Agent opens one stream per connection; many more on one connection is abuse.
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 16},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits_.stream_window},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<std::int32_t>(limits_.connection_window));
}

export_connection::~export_connection() {
  close_all("cancelled");
  nghttp2_session_del(session_);
}

export_connection::stream* export_connection::find(std::int32_t id) {
  auto i = streams_.find(id);
  return i == streams_.end() ? nullptr : i->second.get();
}

bool export_connection::feed(const std::uint8_t* data, std::size_t size) {
  copy_.assign(data, data + size);
  return feed(copy_.data(), copy_.size());
}

bool export_connection::feed(std::uint8_t* data, std::size_t size) {
  if (failed_)
    return false;
  now_ = static_cast<std::uint32_t>(base::unix_seconds());
  // What the stream may still receive, before this read: the stream's window and the
  // connection's (nghttp2_session_get_stream_local_window_size: "also subject to the
  // connection level flow control"); a stream not open yet has none.
  size = merger_.merge(
      data, size, nghttp2_session_get_local_settings(session_, NGHTTP2_SETTINGS_MAX_FRAME_SIZE),
      [this](std::int32_t id) -> std::size_t {
        const auto stream = nghttp2_session_get_stream_local_window_size(session_, id);
        const auto connection = nghttp2_session_get_local_window_size(session_);
        return stream > 0 && connection > 0 ? static_cast<std::size_t>(std::min(stream, connection))
                                            : 0;
      });
  auto n = nghttp2_session_mem_recv(session_, data, size);
  if (n < 0) {
    // RFC 9113 3.4: a client that does not open with the connection preface (an
    // HTTP/1.1 request, TLS to a plain port, noise) is not speaking HTTP/2.
    const bool not_h2 = n == NGHTTP2_ERR_BAD_CLIENT_MAGIC;
    if (handlers_.refused)
      handlers_.refused(not_h2 ? "not_http2" : "protocol_error", ctx_.peer,
                        nghttp2_strerror(static_cast<int>(n)));
    fail("malformed");
  }
  return !failed_;
}

void export_connection::output(std::string& out) {
  for (;;) {
    const std::uint8_t* p = nullptr;
    auto n = nghttp2_session_mem_send(session_, &p);
    if (n <= 0)
      break;
    out.append(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
  }
}

bool export_connection::done() const {
  return failed_ || (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_));
}

void export_connection::on_headers_done(stream& s, bool end_stream) {
  if (end_stream)
    s.remote_closed = true;
  if (ctx_.stopping && ctx_.stopping()) {
    refuse(s, status_unavailable, "shutdown", "", "shutdown");
    return;
  }
  if (s.path != export_path) {
    refuse(s, status_unimplemented, "unknown_method", s.path, "unknown method");
    return;
  }
  // gRPC's PROTOCOL-HTTP2: POST and content-type application/grpc[+proto].
  if (s.method != "POST" || !s.content_type.starts_with("application/grpc")) {
    refuse(s, status_internal, "not_grpc", s.method + " " + s.content_type, "not a gRPC request");
    return;
  }
  if (ctx_.name_not_allowed) {
    refuse(s, status_permission_denied, "name_not_allowed", ctx_.names, "name_not_allowed");
    return;
  }
  auto session = handlers_.open(ctx_.address, ctx_.port, ctx_.make_inbound(s.id));
  if (!session) {
    // Counted and logged by the owner (max_sessions).
    reply(s, status_resource_exhausted, "too many sessions");
    return;
  }
  s.session = std::move(session);
  s.writer.emplace(s.session->budgets, s.session->on_frames, limits_.include_k8s_uids);
  if (end_stream)
    on_end_stream(s);
}

void export_connection::on_data(stream& s, const std::uint8_t* data, std::size_t size) {
  while (size > 0 && !s.answered) {
    if (!s.in_message) {
      const std::uint8_t* prefix = data;
      if (s.prefix_size == 0 && size >= s.prefix.size()) {
        // Whole in this frame (an Agent's every message): read where it lies.
        data += s.prefix.size();
        size -= s.prefix.size();
      } else {
        auto n = std::min(size, s.prefix.size() - s.prefix_size);
        std::memcpy(s.prefix.data() + s.prefix_size, data, n);
        s.prefix_size += n;
        data += n;
        size -= n;
        if (s.prefix_size < s.prefix.size())
          return;
        s.prefix_size = 0;
        prefix = s.prefix.data();
      }
      // gRPC's Length-Prefixed-Message: we announce no grpc-accept-encoding, so a
      // compressed message is a client error.
      if (prefix[0] != 0) {
        refuse(s, status_internal, "compressed", "", "compressed messages are not accepted",
               "malformed");
        return;
      }
      s.message_size = (std::size_t{prefix[1]} << 24) | (std::size_t{prefix[2]} << 16) |
                       (std::size_t{prefix[3]} << 8) | prefix[4];
      if (s.message_size > limits_.max_message_size) {
        end_session(s, "cancelled"); // as libgrpc's listener named it
        reply(s, status_resource_exhausted, "received message larger than max");
        return;
      }
      s.in_message = true;
      s.message.clear();
    }
    const std::size_t need = s.message_size - s.message.size();
    if (s.message.empty() && size >= need) {
      // Whole in this frame: converted from nghttp2's buffer, not copied.
      data += need;
      size -= need;
      s.in_message = false;
      if (!on_message(s, {reinterpret_cast<const char*>(data - need), need}))
        return;
      continue;
    }
    auto n = std::min(size, need);
    s.message.append(reinterpret_cast<const char*>(data), n);
    data += n;
    size -= n;
    if (s.message.size() == s.message_size) {
      s.in_message = false;
      if (!on_message(s, s.message))
        return;
    }
  }
}

bool export_connection::on_message(stream& s, std::string_view message) {
  if (!s.writer)
    return false;
  const auto got = s.writer->add_request(message, now_);
  requests_ += 1;
  flows_ += got.flows;
  pending_ += message.size();
  if (got.any_refused && handlers_.rejected)
    for (std::size_t i = 1; i < got.refused.size(); ++i)
      if (got.refused[i] > 0)
        handlers_.rejected(static_cast<flow_error>(i), got.refused[i], ctx_.peer);
  if (!got.ok) {
    // Not an ExportRequest: the stream cannot be trusted any more (as gRPC ends a stream
    // whose message does not deserialize); what came before it is delivered.
    refuse(s, status_internal, "bad_request", "an ExportRequest that does not parse",
           "cannot parse the ExportRequest", "malformed");
    return false;
  }
  s.dirty = true;
  return true;
}

void export_connection::on_end_stream(stream& s) {
  s.remote_closed = true;
  if (s.answered)
    return;
  if (s.in_message || s.prefix_size > 0) {
    refuse(s, status_internal, "bad_request", "the stream ended inside a message",
           "the stream ended inside a message", "malformed");
    return;
  }
  // antrea-grpc-transport.md 4: the client half-closed; reply with the empty
  // ExportResponse and status OK.
  end_session(s, "eof");
  s.status = status_ok;
  s.answered = true;
  const nghttp2_nv headers[] = {header(":status", "200"),
                                header("content-type", "application/grpc")};
  nghttp2_data_provider body{};
  body.read_callback = &callbacks::read_response;
  nghttp2_submit_response(session_, s.id, headers, std::size(headers), &body);
}

void export_connection::refuse(stream& s, int status, std::string_view reason,
                               const std::string& detail, std::string_view message,
                               std::string_view session_reason) {
  if (handlers_.refused)
    handlers_.refused(reason, ctx_.peer, detail);
  end_session(s, std::string{session_reason.empty() ? reason : session_reason});
  reply(s, status, message);
}

void export_connection::reply(stream& s, int status, std::string_view message) {
  if (s.answered)
    return;
  s.answered = true;
  // gRPC's Trailers-Only response: one HEADERS frame that ends the stream.
  auto code = std::to_string(status);
  const nghttp2_nv headers[] = {header(":status", "200"),
                                header("content-type", "application/grpc"),
                                header("grpc-status", code), header("grpc-message", message)};
  nghttp2_submit_response(session_, s.id, headers, std::size(headers), nullptr);
}

void export_connection::end_session(stream& s, const std::string& reason) {
  if (!s.session)
    return;
  s.writer->flush();
  s.dirty = false;
  auto closed = std::move(s.session->on_closed);
  s.writer.reset();
  s.session.reset();
  if (closed)
    closed(reason);
}

void export_connection::give_back(stream& s) {
  if (s.unconsumed == 0)
    return;
  // DESIGN 3: the window reopens only while both budgets have room; else the budget's
  // release resumes the stream.
  if (s.session && s.session->budgets.wait_if_spent([&] { return ctx_.make_resume(s.id); })) {
    s.paused = true;
    return;
  }
  s.paused = false;
  nghttp2_session_consume(session_, s.id, s.unconsumed);
  s.unconsumed = 0;
}

void export_connection::flush() {
  pending_ = 0;
  // What one read brought goes on together, as a TCP read hands on what the socket held.
  for (auto& [id, s] : streams_) {
    if (s->dirty && s->writer) {
      s->dirty = false;
      s->writer->flush();
    }
    if (!s->paused || !s->session)
      give_back(*s);
  }
  if (requests_ > 0 && handlers_.received)
    handlers_.received(requests_, flows_);
  requests_ = flows_ = 0;
}

void export_connection::close_stream(std::int32_t id, const std::string& reason) {
  auto* s = find(id);
  if (!s || !s->session)
    return; // ended already
  end_session(*s, reason);
  reply(*s, status_unavailable, reason);
  if (s->unconsumed > 0 && s->paused)
    give_back(*s);
}

void export_connection::resume(std::int32_t id) {
  if (auto* s = find(id); s && s->paused)
    give_back(*s);
}

void export_connection::ping() {
  nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
  ping_outstanding_ = true;
}

void export_connection::close_all(const std::string& reason) {
  for (auto& [id, s] : streams_)
    end_session(*s, reason);
}

void export_connection::fail(std::string reason) {
  failed_ = true;
  reason_ = std::move(reason);
  // RFC 9113 5.4.1: a connection error ends with GOAWAY.
  nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
}

} // namespace fa::rpc
