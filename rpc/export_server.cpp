#include "rpc/export_server.hpp"

#include "base/unix_time.hpp"
#include "rpc/cq_server.hpp"
#include "rpc/server_tls.hpp"
#include "service.grpc.pb.h"

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

namespace fa::rpc {

namespace {

enum class op : std::uint8_t { accepted, read, finish, done, wake };

std::string percent_decode_brackets(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      auto code = s.substr(i + 1, 2);
      if (code == "5B" || code == "5b") {
        out += '[';
        i += 2;
        continue;
      }
      if (code == "5D" || code == "5d") {
        out += ']';
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

} // namespace

bool parse_peer(std::string_view peer, asio::ip::address& address, std::uint16_t& port) {
  std::string text;
  if (peer.starts_with("ipv4:"))
    text = std::string{peer.substr(5)};
  else if (peer.starts_with("ipv6:"))
    text = percent_decode_brackets(peer.substr(5));
  else
    return false;
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 >= text.size())
    return false;
  auto host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  asio::error_code ec;
  address = asio::ip::make_address(host, ec);
  if (ec)
    return false;
  unsigned long p = 0;
  for (char c : text.substr(colon + 1)) {
    if (c < '0' || c > '9')
      return false;
    p = p * 10 + static_cast<unsigned long>(c - '0');
    if (p > 65535)
      return false;
  }
  port = static_cast<std::uint16_t>(p);
  return true;
}

class export_server::core : public std::enable_shared_from_this<core> {
  static grpc::ByteBuffer serialized_response() {
    grpc::ByteBuffer out;
    bool own = false;
    grpc::SerializationTraits<pb::ExportResponse>::Serialize(pb::ExportResponse{}, &out, &own);
    return out;
  }

 public:
  core(export_server_options o, export_server_handlers h)
      : opts_(std::move(o))
      , handlers_(std::move(h)) {}

  std::optional<std::string> start(int& bound) {
    grpc::ServerBuilder b;
    b.RegisterService(&service_);
    b.SetMaxReceiveMessageSize(static_cast<int>(opts_.max_message_size));
    b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                         static_cast<int>(opts_.keepalive_time.count()));
    b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                         static_cast<int>(opts_.keepalive_timeout.count()));
    // Pings also while a stream carries nothing: an idle Agent is the normal case.
    b.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    b.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    // An Agent opens one stream per connection; many more on one connection is abuse.
    b.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 16);
    if (auto err = base_.build(b, opts_.host, opts_.port, opts_.credentials, &wake_tag_, bound))
      return err;
    cq_ = base_.cq();
    accept_next();
    base_.run([self = shared_from_this()] { self->run(); });
    return std::nullopt;
  }

  void stop_accepting() { base_.stopping = true; }

  /// From the owner's destructor: cancels what is left, drains the queue, joins.
  void shutdown() { base_.shutdown(); }

  void post_close(std::uint64_t id, std::string reason) { post({id, false, std::move(reason)}); }
  void post_resume(std::uint64_t id) { post({id, true, {}}); }

 private:
  struct stream;

  struct tag {
    stream* s = nullptr;
    op kind = op::accepted;
  };

  struct stream {
    std::uint64_t id = 0;
    grpc::ServerContext ctx;
    // Raw bytes: read on completion straight from the wire format (see convert).
    grpc::ServerAsyncReader<grpc::ByteBuffer, grpc::ByteBuffer> reader{&ctx};
    grpc::ByteBuffer request;
    std::optional<export_session> session;
    std::optional<flow_writer> writer;
    std::string peer;
    std::string reason;
    tag t_accepted{this, op::accepted}, t_read{this, op::read}, t_finish{this, op::finish},
        t_done{this, op::done};
    int pending = 0; ///< operations whose tag has not come back
    bool started = false;
    bool reading = false;
    bool finishing = false;
    bool finished = false; ///< Finish was called
    bool closing = false;
    bool dirty = false;
  };

  struct event {
    std::uint64_t id = 0;
    bool resume = false; ///< else close
    std::string reason;
  };

  /// A handle the owner keeps as the session's inbound: it names the stream by id, so
  /// it may outlive both the stream and the server.
  class handle : public net::inbound {
   public:
    handle(std::weak_ptr<core> c, std::uint64_t id)
        : core_(std::move(c))
        , id_(id) {}
    void close(std::string reason) override {
      if (auto c = core_.lock())
        c->post_close(id_, std::move(reason));
    }

   private:
    std::weak_ptr<core> core_;
    std::uint64_t id_;
  };

  void post(event e) {
    if (auto* w = base_.waker())
      w->wake([&] { events_.push_back(std::move(e)); });
  }

  void accept_next() {
    if (base_.stopping)
      return;
    auto s = std::make_unique<stream>();
    s->id = ++next_id_;
    auto* raw = s.get();
    streams_[raw->id] = std::move(s);
    // Before the call starts (gRPC's rule); its tag comes only for a started call.
    raw->ctx.AsyncNotifyWhenDone(&raw->t_done);
    service_.RequestExport(&raw->ctx, &raw->reader, cq_, cq_, &raw->t_accepted);
    raw->pending = 1;
  }

  void run() {
    for (;;) {
      void* t = nullptr;
      bool ok = false;
      // Poll: what has arrived is handled first; once nothing more is ready, each stream's
      // chunk goes to its session (as a TCP read hands on what the socket held).
      auto st = cq_->AsyncNext(&t, &ok, gpr_time_0(GPR_CLOCK_MONOTONIC));
      if (st == grpc::CompletionQueue::TIMEOUT) {
        flush_dirty();
        st =
            cq_->Next(&t, &ok) ? grpc::CompletionQueue::GOT_EVENT : grpc::CompletionQueue::SHUTDOWN;
      }
      if (st == grpc::CompletionQueue::SHUTDOWN)
        break;
      dispatch(static_cast<tag*>(t), ok);
    }
    flush_dirty();
    // Everything has come back: nothing references the streams any more.
    streams_.clear();
  }

  void dispatch(tag* t, bool ok) {
    if (t == &wake_tag_) {
      wake_events();
      return;
    }
    auto* s = t->s;
    --s->pending;
    switch (t->kind) {
    case op::accepted:
      on_accepted(s, ok);
      break;
    case op::read:
      on_read(s, ok);
      break;
    case op::finish:
      s->finishing = false;
      if (!ok && s->reason.empty())
        s->reason = "cancelled";
      break;
    case op::done:
      if (s->ctx.IsCancelled() && (s->reason.empty() || s->reason == "eof"))
        s->reason = "cancelled";
      break;
    case op::wake:
      break;
    }
    maybe_release(s);
  }

  void on_accepted(stream* s, bool ok) {
    if (!ok) {
      // The server is shutting down: this call never started, no other tag comes.
      return;
    }
    s->started = true;
    ++s->pending; // the done tag
    accept_next();
    s->peer = s->ctx.peer();
    if (base_.stopping) {
      refuse(s, grpc::StatusCode::UNAVAILABLE, "shutdown", "");
      return;
    }
    asio::ip::address addr;
    std::uint16_t port = 0;
    if (!parse_peer(s->peer, addr, port)) {
      refuse(s, grpc::StatusCode::PERMISSION_DENIED, "bad_peer", s->peer);
      return;
    }
    if (opts_.tls && !opts_.allowed_names.empty() &&
        !peer_name_allowed(*s->ctx.auth_context(), opts_.allowed_names)) {
      refuse(s, grpc::StatusCode::PERMISSION_DENIED, "name_not_allowed",
             peer_names(*s->ctx.auth_context()));
      return;
    }
    auto session = handlers_.open(addr, port, std::make_shared<handle>(weak_from_this(), s->id));
    if (!session) {
      // Counted and logged by the owner (max_sessions).
      finish(s, grpc::Status{grpc::StatusCode::RESOURCE_EXHAUSTED, "too many sessions"});
      s->reason = "refused";
      return;
    }
    s->session = std::move(session);
    s->writer.emplace(s->session->budgets, s->session->on_frames, opts_.include_k8s_uids);
    start_read(s);
  }

  void refuse(stream* s, grpc::StatusCode code, std::string_view reason,
              const std::string& detail) {
    if (handlers_.refused)
      handlers_.refused(reason, s->peer, detail);
    s->reason = std::string{reason};
    finish(s, grpc::Status{code, std::string{reason}});
  }

  void finish(stream* s, const grpc::Status& status) {
    if (s->finishing || s->finished)
      return;
    s->finished = true;
    s->finishing = true;
    ++s->pending;
    if (status.ok())
      s->reader.Finish(empty_response_, status, &s->t_finish);
    else
      s->reader.FinishWithError(status, &s->t_finish);
  }

  // DESIGN 3: read only while the session's and the process's budgets have room; while
  // paused no read is pending and HTTP/2 flow control slows the Agent. The budget's
  // release posts a resume.
  void start_read(stream* s) {
    if (s->closing || s->reading || s->finished)
      return;
    auto make_resume = [this, id = s->id] {
      return [weak = weak_from_this(), id] {
        if (auto c = weak.lock())
          c->post_resume(id);
      };
    };
    if (s->session->budgets.wait_if_spent(make_resume))
      return;
    s->reading = true;
    ++s->pending;
    s->reader.Read(&s->request, &s->t_read);
  }

  void on_read(stream* s, bool ok) {
    s->reading = false;
    if (!ok) {
      // The client half-closed (or the stream broke; Finish then fails and the done tag
      // says cancelled): antrea-grpc-transport.md 4, reply with the empty ExportResponse.
      if (s->reason.empty())
        s->reason = "eof";
      if (s->writer)
        s->writer->flush();
      finish(s, grpc::Status::OK);
      return;
    }
    if (!convert(s)) {
      // Not an ExportRequest: the stream cannot be trusted any more (as gRPC ends a
      // stream whose message does not deserialize).
      if (handlers_.refused)
        handlers_.refused("bad_request", s->peer, "an ExportRequest that does not parse");
      s->reason = "malformed";
      finish(s, grpc::Status{grpc::StatusCode::INTERNAL, "cannot parse the ExportRequest"});
      return;
    }
    if (s->closing) {
      finish(s, grpc::Status{grpc::StatusCode::UNAVAILABLE, s->reason});
      return;
    }
    start_read(s);
  }

  /// The request just read, as contiguous octets: gRPC's own slice when the message
  /// arrived in one, else copied once into a buffer kept across requests.
  std::string_view request_bytes(stream* s) {
    if (s->request.TrySingleSlice(&slice_).ok())
      return {reinterpret_cast<const char*>(slice_.begin()), slice_.size()};
    if (!s->request.Dump(&slices_).ok())
      return {};
    joined_.clear();
    for (const auto& piece : slices_)
      joined_.append(reinterpret_cast<const char*>(piece.begin()), piece.size());
    slices_.clear();
    return joined_;
  }

  /// Converts each Flow of the request just read into the stream's chunk
  /// (flow_writer::add_request). False when the request is malformed: then none of its
  /// Flows is taken, as when protobuf refuses to parse it.
  bool convert(stream* s) {
    const auto now = static_cast<std::uint32_t>(base::unix_seconds());
    const auto got = s->writer->add_request(request_bytes(s), now);
    slice_ = grpc::Slice{};
    s->request.Clear();
    requests_ += 1;
    flows_ += got.flows;
    if (got.any_refused && handlers_.rejected)
      for (std::size_t i = 1; i < got.refused.size(); ++i)
        if (got.refused[i] > 0)
          handlers_.rejected(static_cast<flow_error>(i), got.refused[i], s->peer);
    if (!s->dirty && s->writer->pending() > 0) {
      s->dirty = true;
      dirty_.push_back(s);
    }
    return got.ok;
  }

  void flush_dirty() {
    for (auto* s : dirty_) {
      s->dirty = false;
      s->writer->flush();
    }
    dirty_.clear();
    if (requests_ > 0 && handlers_.received)
      handlers_.received(requests_, flows_);
    requests_ = flows_ = 0;
  }

  void wake_events() {
    std::vector<event> events;
    base_.waker()->taken([&] { events.swap(events_); });
    for (auto& e : events) {
      auto i = streams_.find(e.id);
      if (i == streams_.end() || !i->second->session)
        continue; // ended already
      auto* s = i->second.get();
      if (e.resume) {
        start_read(s);
        continue;
      }
      // The owner closes the session (shutdown, or the session ended): what was read is
      // handed on first, then the stream ends; a pending read still lands.
      if (s->closing)
        continue;
      s->closing = true;
      if (s->reason.empty() || s->reason == "eof")
        s->reason = e.reason;
      s->writer->flush();
      if (s->reading)
        s->ctx.TryCancel();
      else
        finish(s, grpc::Status{grpc::StatusCode::UNAVAILABLE, e.reason});
    }
  }

  void maybe_release(stream* s) {
    if (s->pending > 0)
      return;
    if (s->dirty) {
      s->dirty = false;
      std::erase(dirty_, s);
    }
    if (s->session) {
      s->writer->flush();
      auto closed = std::move(s->session->on_closed);
      s->writer.reset();
      s->session.reset();
      if (closed)
        closed(s->reason.empty() ? "closed" : s->reason);
    }
    streams_.erase(s->id);
  }

  export_server_options opts_;
  export_server_handlers handlers_;
  pb::FlowExportService::WithRawMethod_Export<pb::FlowExportService::Service> service_;
  /// The request being converted: its single slice, or its slices joined (both kept
  /// across requests, with their capacity).
  grpc::Slice slice_;
  std::vector<grpc::Slice> slices_;
  std::string joined_;
  /// The empty ExportResponse every ended stream gets (antrea-grpc-transport.md 4).
  grpc::ByteBuffer empty_response_ = serialized_response();
  cq_server base_;
  grpc::ServerCompletionQueue* cq_ = nullptr;
  // Server thread only.
  std::map<std::uint64_t, std::unique_ptr<stream>> streams_;
  std::vector<stream*> dirty_;
  std::uint64_t next_id_ = 0;
  std::uint64_t requests_ = 0;
  std::uint64_t flows_ = 0;
  // Cross-thread events (close, resume): rare, queued under the waker's lock.
  std::vector<event> events_;
  tag wake_tag_{nullptr, op::wake};
};

std::variant<std::shared_ptr<export_server>, std::string>
export_server::start(export_server_options o, export_server_handlers h) {
  asio::error_code ec;
  auto addr = asio::ip::make_address(o.host, ec);
  if (ec)
    return "\"" + o.host + "\" is not an IP address";
  if (!o.credentials)
    o.credentials = grpc::InsecureServerCredentials();
  std::shared_ptr<export_server> s{new export_server};
  s->core_ = std::make_shared<core>(std::move(o), std::move(h));
  int bound = 0;
  if (auto err = s->core_->start(bound)) {
    s->core_->shutdown();
    s->core_.reset();
    return *err;
  }
  s->address_ = addr;
  s->port_ = static_cast<std::uint16_t>(bound);
  return s;
}

export_server::~export_server() {
  if (core_)
    core_->shutdown();
}

void export_server::stop() {
  if (core_)
    core_->stop_accepting();
}

} // namespace fa::rpc
