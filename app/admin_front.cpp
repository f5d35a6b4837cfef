#include "app/admin_front.hpp"

#include <asio/ssl.hpp>

#include <algorithm>
#include <thread>
#include <type_traits>

namespace fa::app {

request_line parse_request_line(std::string_view head) {
  // RFC 9112 3: request-line = method SP request-target SP HTTP-version
  request_line out;
  auto line = head.substr(0, head.find("\r\n"));
  auto sp = line.find(' ');
  if (sp == std::string_view::npos || sp == 0)
    return out;
  auto target = line.substr(sp + 1);
  auto sp2 = target.find(' ');
  if (sp2 == std::string_view::npos || sp2 == 0 || target.substr(sp2 + 1).rfind("HTTP/", 0) != 0)
    return out;
  out.valid = true;
  out.method = line.substr(0, sp);
  target = target.substr(0, sp2);
  out.path = target.substr(0, target.find('?'));
  return out;
}

namespace {

using tcp = asio::ip::tcp;
using ssl_stream = asio::ssl::stream<tcp::socket>;

/// A client connection, TLS or plain, as the front keeps track of it.
class connection : public std::enable_shared_from_this<connection> {
 public:
  virtual ~connection() = default;
  virtual void start() = 0;
  /// Closes both sides; `reason` (not empty) is reported through on_closed.
  virtual void close(std::string_view reason) = 0;

  /// Still handshaking or reading its request head: the first to go when the front is full.
  bool unfinished() const { return phase_ == phase::head; }
  bool closed() const { return phase_ == phase::closed; }

 protected:
  enum class phase { head, relay, closed };
  phase phase_ = phase::head;
};

} // namespace

class admin_front::impl {
 public:
  explicit impl(admin_front_options o)
      : opts(std::move(o))
      , backend{asio::ip::address_v4::loopback(), opts.backend_port} {}

  void accept();
  void admit(tcp::socket s);
  void report(std::string_view reason) const {
    if (opts.on_closed)
      opts.on_closed(reason);
  }

  // Declared first, destroyed last: connections still queued in it are destroyed with
  // it, and they touch nothing below.
  asio::io_context io;
  admin_front_options opts;
  tcp::endpoint backend;
  tcp::acceptor acceptor{io};
  asio::steady_timer retry{io};
  std::vector<std::weak_ptr<connection>> live; ///< in accept order
  std::size_t busy = 0;                        ///< requests other than probes at civetweb
  std::thread thread;
};

namespace {

/// One client relayed to civetweb once its request head is complete.
template <class Stream>
class relay final : public connection {
  static constexpr bool tls = std::is_same_v<Stream, ssl_stream>;

 public:
  relay(admin_front::impl& front, tcp::socket s)
      : front_(front)
      , client_(make_stream(std::move(s), front))
      , backend_(client_.get_executor())
      , deadline_(client_.get_executor())
      , up_(front.opts.max_head) {}

  void start() override {
    arm(front_.opts.head_timeout, "head_timeout");
    if constexpr (tls)
      client_.async_handshake(asio::ssl::stream_base::server, [self = self()](asio::error_code ec) {
        if (ec)
          return self->close("tls_handshake");
        self->read_head();
      });
    else
      read_head();
  }

  void close(std::string_view reason) override {
    if (phase_ == phase::closed)
      return;
    phase_ = phase::closed;
    if (!reason.empty())
      front_.report(reason);
    if (busy_) {
      --front_.busy;
      busy_ = false;
    }
    asio::error_code ec;
    client_.lowest_layer().close(ec);
    backend_.close(ec);
    deadline_.cancel();
  }

 private:
  static Stream make_stream(tcp::socket s, admin_front::impl& front) {
    if constexpr (tls)
      return Stream{std::move(s), *front.opts.tls};
    else
      return s;
  }

  std::shared_ptr<relay> self() { return std::static_pointer_cast<relay>(shared_from_this()); }

  /// One deadline per phase: the whole head (not each read: a slowloris client sending a
  /// byte at a time gets no longer), then the whole exchange.
  void arm(std::chrono::milliseconds timeout, const char* reason) {
    deadline_.expires_after(timeout);
    deadline_.async_wait([self = self(), reason](asio::error_code ec) {
      if (!ec)
        self->close(reason);
    });
  }

  void read_head() {
    client_.async_read_some(asio::buffer(up_.data() + got_, up_.size() - got_),
                            [self = self()](asio::error_code ec, std::size_t n) {
                              if (ec)
                                return self->close("");
                              self->on_head_bytes(n);
                            });
  }

  void on_head_bytes(std::size_t n) {
    auto from = got_ >= 3 ? got_ - 3 : 0;
    got_ += n;
    // RFC 9112 2.1: the head ends with an empty line.
    if (std::string_view{up_.data(), got_}.find("\r\n\r\n", from) != std::string_view::npos)
      return dispatch();
    if (got_ == up_.size())
      return answer("431 Request Header Fields Too Large",
                    "the request head is larger than " + std::to_string(up_.size()) + " octets",
                    "head_too_large");
    read_head();
  }

  void dispatch() {
    phase_ = phase::relay;
    const auto line = parse_request_line({up_.data(), got_});
    if (!line.valid)
      return answer("400 Bad Request", "not an HTTP/1.x request line", "bad_request");
    // Read-only (README, Admin API): every method but GET gets 405, whichever civetweb
    // would have known (RFC 9110 15.5.6: with Allow; 9.3.2: no body for HEAD).
    if (line.method != "GET")
      return answer("405 Method Not Allowed", "the admin API is read-only: use GET", "",
                    "Allow: GET\r\n", line.method == "HEAD");
    const auto& probes = front_.opts.probe_paths;
    if (std::find(probes.begin(), probes.end(), line.path) == probes.end()) {
      if (front_.busy >= front_.opts.max_busy)
        return answer("503 Service Unavailable",
                      "the admin API is busy with other requests; try again", "busy",
                      "Retry-After: 1\r\n");
      ++front_.busy;
      busy_ = true;
    }
    arm(front_.opts.exchange_timeout, "exchange_timeout");
    backend_.async_connect(front_.backend, [self = self()](asio::error_code ec) {
      if (ec)
        return self->close("");
      asio::async_write(self->backend_, asio::buffer(self->up_.data(), self->got_),
                        [self](asio::error_code ec2, std::size_t) {
                          if (ec2)
                            return self->close("");
                          self->down_.resize(16384);
                          self->pump_up();
                          self->pump_down();
                        });
    });
  }

  /// Client to civetweb (a request body, or nothing). The client's end of sending is
  /// passed on (a half-close); the answer still comes back.
  void pump_up() {
    client_.async_read_some(asio::buffer(up_), [self = self()](asio::error_code ec, std::size_t n) {
      if (ec) {
        asio::error_code ignored;
        self->backend_.shutdown(tcp::socket::shutdown_send, ignored);
        return;
      }
      asio::async_write(self->backend_, asio::buffer(self->up_.data(), n),
                        [self](asio::error_code ec2, std::size_t) {
                          if (ec2)
                            return self->close("");
                          self->pump_up();
                        });
    });
  }

  /// civetweb to the client, until civetweb closes (it keeps no connection alive): every
  /// octet read is written before the next read, so nothing is cut off.
  void pump_down() {
    backend_.async_read_some(asio::buffer(down_),
                             [self = self()](asio::error_code ec, std::size_t n) {
                               if (ec)
                                 return self->close("");
                               asio::async_write(self->client_, asio::buffer(self->down_.data(), n),
                                                 [self](asio::error_code ec2, std::size_t) {
                                                   if (ec2)
                                                     return self->close("");
                                                   self->pump_down();
                                                 });
                             });
  }

  /// Answers here (civetweb never sees the request) and closes. `reason`, when not
  /// empty, is reported as an early close.
  void answer(const char* status, const std::string& message, std::string_view reason,
              const char* headers = "", bool head_only = false) {
    phase_ = phase::relay;
    if (!reason.empty())
      front_.report(reason);
    auto body = "{\"error\":\"" + message + "\"}\n";
    answer_ =
        std::string{"HTTP/1.1 "} + status +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\nCache-Control: no-store\r\n" + headers + "\r\n" +
        (head_only ? "" : body);
    asio::async_write(client_, asio::buffer(answer_),
                      [self = self()](asio::error_code, std::size_t) { self->close(""); });
  }

  admin_front::impl& front_;
  Stream client_;
  tcp::socket backend_;
  asio::steady_timer deadline_;
  std::vector<char> up_; ///< the request head, then the client's further octets
  std::size_t got_ = 0;  ///< octets of the head read so far
  std::vector<char> down_;
  std::string answer_;
  bool busy_ = false;
};

} // namespace

void admin_front::impl::accept() {
  acceptor.async_accept([this](asio::error_code ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open())
      return;
    if (ec) {
      // Out of descriptors (EMFILE, ENFILE) or buffers: accepting again at once would
      // spin; the connection waits in the backlog meanwhile.
      retry.expires_after(std::chrono::milliseconds{100});
      retry.async_wait([this](asio::error_code e) {
        if (!e)
          accept();
      });
      return;
    }
    admit(std::move(s));
    accept();
  });
}

void admin_front::impl::admit(tcp::socket s) {
  std::erase_if(live, [](const std::weak_ptr<connection>& w) {
    auto c = w.lock();
    return !c || c->closed();
  });
  if (live.size() >= opts.max_connections) {
    // Idle and slow clients push out each other: the oldest without a request goes.
    auto oldest = std::find_if(live.begin(), live.end(), [](const std::weak_ptr<connection>& w) {
      auto c = w.lock();
      return c && c->unfinished();
    });
    if (oldest == live.end()) {
      report("full"); // every slot is relaying; the new client is closed unanswered
      return;
    }
    if (auto c = oldest->lock())
      c->close("evicted");
    live.erase(oldest);
  }
  std::shared_ptr<connection> c;
  if (opts.tls)
    c = std::make_shared<relay<ssl_stream>>(*this, std::move(s));
  else
    c = std::make_shared<relay<tcp::socket>>(*this, std::move(s));
  live.push_back(c);
  c->start();
}

admin_front::admin_front(admin_front_options opts)
    : impl_(std::make_unique<impl>(std::move(opts))) {
  auto& i = *impl_;
  i.acceptor.open(i.opts.listen.protocol());
  i.acceptor.set_option(tcp::acceptor::reuse_address(true));
  i.acceptor.bind(i.opts.listen);
  i.acceptor.listen();
  port_ = i.acceptor.local_endpoint().port();
  i.accept();
  i.thread = std::thread{[&i] { i.io.run(); }};
}

admin_front::~admin_front() {
  auto& i = *impl_;
  asio::post(i.io, [&i] {
    asio::error_code ec;
    i.acceptor.close(ec);
    i.retry.cancel();
    for (auto& w : i.live)
      if (auto c = w.lock())
        c->close("");
    i.io.stop();
  });
  i.thread.join();
}

std::uint16_t admin_front::port() const {
  return port_;
}

} // namespace fa::app
