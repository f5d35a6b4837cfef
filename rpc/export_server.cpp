#include "rpc/export_server.hpp"

#include "net/endpoint_text.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <openssl/ssl.h>

#include <atomic>
#include <set>
#include <thread>
#include <type_traits>

namespace fa::rpc {

namespace {

/// RFC 7301 3.2: the server picks "h2" (RFC 9113 3.2) or ends the handshake.
int select_h2(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
              unsigned int inlen, void*) {
  static constexpr unsigned char h2[] = {2, 'h', '2'};
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, h2, sizeof h2, in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

} // namespace

/// One accepted connection, whatever its socket.
class link_base {
 public:
  virtual ~link_base() = default;
  virtual void close_stream(std::int32_t id, const std::string& reason) = 0;
  virtual void resume(std::int32_t id) = 0;
  virtual void abort(const std::string& reason) = 0;
  /// The server's gather tick came (core::gather): reads what gathered.
  virtual void read_gathered() {}
};

class export_server::core : public std::enable_shared_from_this<core> {
 public:
  core(export_server_options o, export_server_handlers h)
      : opts_(std::move(o))
      , handlers_(std::move(h))
      , guard_(asio::make_work_guard(io_))
      , acceptor_(io_)
      , retry_(io_)
      , gather_(io_) {}

  std::optional<std::string> start(const asio::ip::address& addr, std::uint16_t& bound) {
    asio::error_code ec;
    asio::ip::tcp::endpoint ep{addr, opts_.port};
    acceptor_.open(ep.protocol(), ec);
    if (!ec)
      acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
    if (!ec && addr.is_v6())
      acceptor_.set_option(asio::ip::v6_only(false), ec);
    if (!ec)
      acceptor_.bind(ep, ec);
    if (!ec)
      acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return "cannot listen on " + net::endpoint_text(addr, opts_.port) + ": " + ec.message();
    bound = acceptor_.local_endpoint().port();
    if (opts_.tls)
      SSL_CTX_set_alpn_select_cb(opts_.tls->native_handle(), &select_h2, nullptr);
    accept_next();
    thread_ = std::thread{[this] { io_.run(); }};
    return std::nullopt;
  }

  void stop_accepting() {
    stopping_ = true;
    asio::post(io_, [self = shared_from_this()] {
      asio::error_code ec;
      self->acceptor_.close(ec);
    });
  }

  /// From the owner's destructor: ends every connection (their sessions close), joins.
  void shutdown() {
    stopping_ = true;
    asio::post(io_, [this] {
      asio::error_code ec;
      acceptor_.close(ec);
      retry_.cancel();
      gather_.cancel();
      for (auto& h : handshakes_)
        h->lowest_layer().close(ec);
      handshakes_.clear();
      auto links = std::move(links_);
      for (auto& l : links)
        l->abort("cancelled");
    });
    guard_.reset();
    if (thread_.joinable())
      thread_.join();
  }

  asio::io_context& io() { return io_; }
  const export_server_options& options() const { return opts_; }
  const export_server_handlers& handlers() const { return handlers_; }
  bool stopping() const { return stopping_; }
  void forget(const std::shared_ptr<link_base>& l) { links_.erase(l); }

  /// After a wake that emptied `l`'s socket, its next read waits for the server's next
  /// gather tick, at most `gather_delay` away. One tick serves every such connection: one
  /// wake of the thread reads them all, where a timer each woke it once per connection
  /// and then once more for each one's readiness (README, "gRPC in": the thread's sleeps
  /// and wakes were a fifth of its CPU with four Agents).
  void gather(const std::shared_ptr<link_base>& l) {
    gathering_.push_back(l);
    if (gathering_.size() > 1)
      return; // the tick is armed
    gather_.expires_after(gather_delay);
    gather_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (ec)
        return;
      // Those that gather again go on the next tick's list.
      std::swap(self->gathering_, self->ticked_);
      for (auto& w : self->ticked_)
        if (auto link = w.lock())
          link->read_gathered();
      self->ticked_.clear();
    });
  }
  /// How long the requests of a client that sends slower than we read (an Agent, one Flow
  /// per request) may gather in its socket before the next read: one read, one chunk and
  /// one ACK then carry many requests rather than a few. An Agent's Flows wait this much
  /// more; nothing waits on them (it exports every few seconds).
  static constexpr std::chrono::microseconds gather_delay{1000};

 private:
  void accept_next();

  export_server_options opts_;
  export_server_handlers handlers_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer retry_;  ///< after a failed accept (out of descriptors, say)
  asio::steady_timer gather_; ///< the next gather tick, while `gathering_` is not empty
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  // Server thread only.
  std::set<std::shared_ptr<link_base>> links_;
  std::vector<std::weak_ptr<link_base>> gathering_, ticked_;
  std::set<std::shared_ptr<asio::ssl::stream<asio::ip::tcp::socket>>> handshakes_;
};

namespace {

/// The inbound handle of one stream: names it by connection and id, so it may outlive
/// both the stream and the server; a close runs on the server thread.
class stream_handle : public net::inbound {
 public:
  stream_handle(std::weak_ptr<export_server::core> c, std::weak_ptr<link_base> l, std::int32_t id)
      : core_(std::move(c))
      , link_(std::move(l))
      , id_(id) {}
  void close(std::string reason) override {
    if (auto c = core_.lock())
      asio::post(c->io(), [l = link_, id = id_, reason = std::move(reason)] {
        if (auto link = l.lock())
          link->close_stream(id, reason);
      });
  }

 private:
  std::weak_ptr<export_server::core> core_;
  std::weak_ptr<link_base> link_;
  std::int32_t id_;
};

/// A connection on `Socket` (a TCP socket, or a TLS stream over one): reads into
/// export_connection, writes what it answers, pings while idle.
template <class Socket>
class link : public link_base, public std::enable_shared_from_this<link<Socket>> {
 public:
  link(std::shared_ptr<export_server::core> core, Socket socket)
      : core_(std::move(core))
      , socket_(std::move(socket))
      , timer_(core_->io()) {}

  void start(const asio::ip::tcp::endpoint& remote, bool name_not_allowed, std::string names) {
    const auto addr = net::unmapped(remote.address());
    export_connection::context ctx;
    ctx.address = addr;
    ctx.port = remote.port();
    ctx.peer = net::endpoint_text(addr, remote.port());
    ctx.name_not_allowed = name_not_allowed;
    ctx.names = std::move(names);
    std::weak_ptr<link_base> weak = this->shared_from_this();
    std::weak_ptr<export_server::core> wcore = core_;
    ctx.make_inbound = [wcore, weak](std::int32_t id) -> net::inbound_ptr {
      return std::make_shared<stream_handle>(wcore, weak, id);
    };
    ctx.make_resume = [wcore, weak](std::int32_t id) -> std::function<void()> {
      return [wcore, weak, id] {
        if (auto c = wcore.lock())
          asio::post(c->io(), [weak, id] {
            if (auto l = weak.lock())
              l->resume(id);
          });
      };
    };
    ctx.stopping = [c = core_.get()] { return c->stopping(); };
    conn_.emplace(std::move(ctx), core_->options().limits, core_->handlers());
    arm_keepalive();
    write();
    read();
  }

  void close_stream(std::int32_t id, const std::string& reason) override {
    if (!conn_ || closed_)
      return;
    conn_->close_stream(id, reason);
    write();
  }

  void resume(std::int32_t id) override {
    if (!conn_ || closed_)
      return;
    conn_->resume(id);
    write();
  }

  void abort(const std::string& reason) override { finish(reason); }

  void read_gathered() override {
    if constexpr (std::is_same_v<Socket, asio::ip::tcp::socket>) {
      ticked_ = false;
      if (closed_ || !gathering_)
        return; // a full read came first and was read
      gathering_ = false;
      read_available();
    }
  }

 private:
  void read() {
    if constexpr (std::is_same_v<Socket, asio::ip::tcp::socket>) {
      // As net/tcp_connection: wait for readability, then one non-blocking read. (An
      // async_read_some first tries a read that fails while the client is between
      // messages: a system call per message wasted.) At most one wait at a time.
      if (waiting_)
        return;
      waiting_ = true;
      socket_.async_wait(asio::socket_base::wait_read,
                         [self = this->shared_from_this()](const asio::error_code& ec) {
                           self->waiting_ = false;
                           if (self->closed_)
                             return;
                           if (ec) {
                             self->finish("cancelled");
                             return;
                           }
                           self->gathering_ = false; // a full read came before the tick
                           self->read_available();
                         });
    } else {
      socket_.async_read_some(asio::buffer(in_), [self = this->shared_from_this()](
                                                     const asio::error_code& ec, std::size_t n) {
        if (!self->closed_)
          self->received(ec, n);
      });
    }
  }

  /// Reads what the socket holds, up to a bound, before handing it on: a client that
  /// sends one Flow per request (an Agent) then gives one chunk per batch of requests,
  /// not one per request, as the IPFIX reader's reads hold many messages.
  void read_available() {
    bool drained = false;
    std::size_t got = 0;
    for (int i = 0; i < max_reads_per_wake; ++i) {
      asio::error_code ec;
      auto n = socket_.read_some(asio::buffer(in_), ec);
      if (ec == asio::error::would_block) {
        drained = true;
        break;
      }
      if (ec) {
        conn_->flush();
        finish("cancelled");
        return;
      }
      got += n;
      if (!conn_->feed(in_.data(), n)) {
        conn_->flush();
        closing_ = true;
        write();
        return;
      }
      if (conn_->pending() >= max_pending)
        break;
    }
    conn_->flush();
    write();
    if (got == 0) {
      // Nothing came since the last tick: the client is quiet, so wait for its next
      // request, however small.
      set_low_watermark(1);
      read();
      return;
    }
    // The client sends slower than we read (an Agent's one Flow per request): let its
    // requests gather in the socket until the server's next gather tick, or until they
    // make a full read (README, "gRPC in": the reads were a third of such a request's
    // CPU). Meanwhile each request it writes would wake the thread for nothing (epoll
    // reports every arrival, whether a read waits or not): with a low watermark of a full
    // read, only a full read does, and it is read then.
    set_low_watermark(gather_low_watermark);
    if (!drained) { // more is waiting: read on, after the other connections' turn
      asio::post(core_->io(), [self = this->shared_from_this()] {
        if (!self->closed_)
          self->read_available();
      });
      return;
    }
    gathering_ = true;
    if (!ticked_) {
      ticked_ = true;
      core_->gather(this->shared_from_this());
    }
    read();
  }

  /// SO_RCVLOWAT (socket(7)): the socket is readable once it holds `octets`; Linux
  /// signals readiness at once when it already does (tcp_set_rcvlowat).
  void set_low_watermark(int octets) {
    if (octets == low_watermark_)
      return;
    low_watermark_ = octets;
    asio::error_code ec;
    socket_.set_option(asio::socket_base::receive_low_watermark(octets), ec);
  }

  /// The low watermark while gathering: one full read.
  static constexpr int gather_low_watermark = 64 * 1024;
  static constexpr int max_reads_per_wake = 16;
  static constexpr std::size_t max_pending = 256 * 1024;

  void received(const asio::error_code& ec, std::size_t n) {
    if (ec) {
      finish("cancelled");
      return;
    }
    if (!conn_->receive(in_.data(), n)) {
      closing_ = true; // close once the GOAWAY is out
      write();
      return;
    }
    write();
    read();
  }

  void write() {
    if (writing_ || closed_)
      return;
    out_.clear();
    conn_->output(out_);
    if (out_.empty()) {
      if (closing_ || conn_->done())
        finish(conn_->reason().empty() ? "closed" : conn_->reason());
      return;
    }
    writing_ = true;
    asio::async_write(socket_, asio::buffer(out_),
                      [self = this->shared_from_this()](const asio::error_code& ec, std::size_t) {
                        self->writing_ = false;
                        if (self->closed_)
                          return;
                        if (ec) {
                          self->finish("cancelled");
                          return;
                        }
                        self->write();
                      });
  }

  /// Every keepalive_time: a PING; one unanswered after keepalive_timeout ends the
  /// connection (gRPC's keepalive, A8 "Client-side Keepalive", server side).
  void arm_keepalive(bool after_ping = false) {
    const auto& o = core_->options();
    timer_.expires_after(after_ping ? o.keepalive_timeout : o.keepalive_time);
    timer_.async_wait([self = this->shared_from_this(), after_ping](const asio::error_code& ec) {
      if (ec || self->closed_)
        return;
      if (after_ping) {
        if (self->conn_->ping_outstanding())
          self->finish("cancelled"); // as libgrpc's listener named it
        else
          self->arm_keepalive();
        return;
      }
      self->conn_->ping();
      self->write();
      self->arm_keepalive(true);
    });
  }

  void finish(const std::string& reason) {
    if (closed_)
      return;
    closed_ = true;
    if (conn_)
      conn_->close_all(reason);
    timer_.cancel();
    asio::error_code ec;
    socket_.lowest_layer().close(ec);
    core_->forget(this->shared_from_this());
  }

  std::shared_ptr<export_server::core> core_;
  Socket socket_;
  asio::steady_timer timer_;
  std::optional<export_connection> conn_;
  std::array<std::uint8_t, 64 * 1024> in_;
  std::string out_;
  bool writing_ = false;
  int low_watermark_ = 1;  ///< SO_RCVLOWAT's value (1: Linux's default)
  bool waiting_ = false;   ///< an async_wait for readability is pending
  bool gathering_ = false; ///< waiting for the tick or a full read, whichever comes first
  bool ticked_ = false;    ///< on the server's list for its next gather tick
  bool closing_ = false;
  bool closed_ = false;
};

using tls_socket = asio::ssl::stream<asio::ip::tcp::socket>;

/// The names of the verified client certificate and whether one is allowed.
std::pair<bool, std::string> check_names(SSL* ssl, const std::vector<std::string>& allowed) {
  std::pair<bool, std::string> out{true, ""};
  if (allowed.empty())
    return out;
  std::unique_ptr<X509, decltype(&X509_free)> cert{SSL_get1_peer_certificate(ssl), &X509_free};
  out.first = cert && net::name_allowed(cert.get(), allowed);
  if (cert)
    for (auto& n : net::certificate_names(cert.get())) {
      if (!out.second.empty())
        out.second += ',';
      out.second += n;
    }
  return out;
}

} // namespace

void export_server::core::accept_next() {
  acceptor_.async_accept([self = shared_from_this()](const asio::error_code& ec,
                                                     asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !self->acceptor_.is_open())
      return;
    if (ec) {
      // Out of descriptors or memory: try again shortly rather than spin.
      self->retry_.expires_after(std::chrono::milliseconds{100});
      self->retry_.async_wait([self](const asio::error_code& te) {
        if (!te)
          self->accept_next();
      });
      return;
    }
    {
      asio::error_code e;
      auto remote = socket.remote_endpoint(e);
      socket.set_option(asio::ip::tcp::no_delay(true), e);
      if (!self->opts_.tls)
        socket.non_blocking(true, e);
      if (!e && !self->opts_.tls) {
        auto l = std::make_shared<link<asio::ip::tcp::socket>>(self, std::move(socket));
        self->links_.insert(l);
        l->start(remote, false, "");
      } else if (!e) {
        // The handshake first, bounded in time; a failed one is reported, then closes.
        auto s = std::make_shared<tls_socket>(std::move(socket), *self->opts_.tls);
        self->handshakes_.insert(s);
        auto timer = std::make_shared<asio::steady_timer>(self->io_);
        auto timed_out = std::make_shared<bool>(false);
        timer->expires_after(self->opts_.handshake_timeout);
        timer->async_wait([s, timed_out](const asio::error_code& te) {
          if (!te) {
            *timed_out = true;
            asio::error_code ignored;
            s->lowest_layer().close(ignored);
          }
        });
        s->async_handshake(asio::ssl::stream_base::server, [self, s, timer, timed_out,
                                                            remote](const asio::error_code& he) {
          timer->cancel();
          if (self->handshakes_.erase(s) == 0 || self->stopping_)
            return;
          if (he) {
            if (self->handlers_.handshake_failed)
              self->handlers_.handshake_failed(
                  *timed_out ? std::string_view{"timeout"}
                             : net::handshake_failure_reason(he, s->native_handle()),
                  net::endpoint_text(net::unmapped(remote.address()), remote.port()),
                  *timed_out ? std::string{"handshake not finished in time"}
                             : net::handshake_failure_detail(he, s->native_handle()));
            return;
          }
          auto [ok, names] = check_names(s->native_handle(), self->opts_.allowed_names);
          auto l = std::make_shared<link<tls_socket>>(self, std::move(*s));
          self->links_.insert(l);
          l->start(remote, !ok, std::move(names));
        });
      }
    }
    self->accept_next();
  });
}

std::variant<std::shared_ptr<export_server>, std::string>
export_server::start(export_server_options o, export_server_handlers h) {
  asio::error_code ec;
  auto addr = asio::ip::make_address(o.host, ec);
  if (ec)
    return "\"" + o.host + "\" is not an IP address";
  std::shared_ptr<export_server> s{new export_server};
  s->core_ = std::make_shared<core>(std::move(o), std::move(h));
  std::uint16_t bound = 0;
  if (auto err = s->core_->start(addr, bound)) {
    s->core_->shutdown();
    s->core_.reset();
    return *err;
  }
  s->address_ = addr;
  s->port_ = bound;
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
