#include "app/admin_server.hpp"

#include "net/tls_context.hpp"

#include <CivetServer.h>

#include <array>
#include <atomic>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace fa::app {

bool constant_time_equal(std::string_view a, std::string_view b) {
  // The length is not secret (the token file's size is not either); the content is.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < b.size(); ++i)
    diff |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ b[i]);
  return diff == 0;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

std::string url_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
               hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

void send(mg_connection* conn, const http_response& r) {
  const char* reason = r.status == 200   ? "OK"
                       : r.status == 401 ? "Unauthorized"
                       : r.status == 404 ? "Not Found"
                       : r.status == 405 ? "Method Not Allowed"
                       : r.status == 503 ? "Service Unavailable"
                                         : "Error";
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\n%s\r\n",
            r.status, reason, r.content_type.c_str(), r.body.size(),
            r.status == 401 ? "WWW-Authenticate: Bearer\r\n" : "");
  mg_write(conn, r.body.data(), r.body.size());
}

http_response error_response(int status, std::string_view message) {
  http_response r;
  r.status = status;
  r.body = "{\"error\":\"";
  r.body += message;
  r.body += "\"}\n";
  return r;
}

} // namespace

std::optional<std::string> read_token_file(const std::string& path, std::string& token) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return std::string{"cannot read the file"};
  std::ostringstream text;
  text << in.rdbuf();
  auto s = text.str();
  auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos)
    return std::string{"the file holds no token"};
  token = s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
  return std::nullopt;
}

std::string query_param(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (url_decode(pair.substr(0, eq)) == key)
      return eq == std::string_view::npos ? std::string{} : url_decode(pair.substr(eq + 1));
    if (amp == std::string_view::npos)
      break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

class admin_server::dispatcher : public CivetHandler {
 public:
  dispatcher(admin_server_options opts, std::map<std::string, http_handler> routes)
      : opts_(std::move(opts))
      , routes_(std::move(routes)) {}

  bool handleGet(CivetServer*, mg_connection* conn) override {
    const auto* info = mg_get_request_info(conn);
    http_request req;
    req.path = info->local_uri != nullptr ? info->local_uri : "/";
    req.query = info->query_string != nullptr ? info->query_string : "";
    if (!authorized(conn, req.path)) {
      send(conn, error_response(401, "a bearer token is required (Authorization: Bearer ...)"));
      return true;
    }
    auto it = routes_.find(req.path);
    if (it == routes_.end()) {
      send(conn, error_response(404, "no such path; see /api/v1"));
      return true;
    }
    try {
      send(conn, it->second(req));
    } catch (const std::exception& e) {
      send(conn, error_response(500, e.what()));
    }
    return true;
  }

  bool handlePost(CivetServer*, mg_connection* conn) override { return refuse(conn); }
  bool handlePut(CivetServer*, mg_connection* conn) override { return refuse(conn); }
  bool handleDelete(CivetServer*, mg_connection* conn) override { return refuse(conn); }

  void set_token(std::string token) {
    std::lock_guard guard{mtx_};
    opts_.token = std::move(token);
  }

 private:
  bool refuse(mg_connection* conn) {
    send(conn, error_response(405, "the admin API is read-only: use GET"));
    return true;
  }

  bool authorized(mg_connection* conn, const std::string& path) {
    std::string token;
    {
      std::lock_guard guard{mtx_};
      token = opts_.token;
    }
    if (token.empty())
      return true;
    for (const auto& open : opts_.open_paths)
      if (path == open)
        return true;
    const char* header = mg_get_header(conn, "Authorization");
    constexpr std::string_view scheme = "Bearer ";
    if (header == nullptr)
      return false;
    std::string_view h{header};
    if (h.substr(0, scheme.size()) != scheme)
      return false;
    return constant_time_equal(h.substr(scheme.size()), token);
  }

  std::mutex mtx_; ///< only the token changes after start
  admin_server_options opts_;
  const std::map<std::string, http_handler> routes_;
};

namespace {

/// civetweb reports why mg_start failed (a port in use) only through log_message;
/// CivetServer's exception says just "null context". The constructor runs mg_start on this
/// thread, so the message is kept here while it runs.
thread_local std::string* start_errors = nullptr;

int log_start_error(const mg_connection*, const char* message) {
  if (start_errors != nullptr && message != nullptr) {
    if (!start_errors->empty())
      *start_errors += "; ";
    *start_errors += message;
  }
  return 0;
}

/// "127.0.0.1:10348" / "[::1]:0" -> endpoint; throws when not an IP address and port.
asio::ip::tcp::endpoint parse_endpoint(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos)
    throw std::runtime_error("cannot serve on " + listen + ": expected HOST:PORT");
  auto host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  asio::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec)
    throw std::runtime_error("cannot serve on " + listen + ": not an IP address");
  return {addr, static_cast<std::uint16_t>(std::stoul(listen.substr(colon + 1)))};
}

} // namespace

/// HTTPS in front of civetweb. Debian's civetweb 1.15 cannot serve TLS with OpenSSL 3: it
/// resolves SSL_get_peer_certificate (a macro since OpenSSL 3, no longer exported) to
/// NULL and calls it on every HTTPS connection (civetweb issue #1334): the process
/// crashes. So TLS ends here, with the project's OpenSSL context (TLS 1.2+, the
/// collector's certificate loading), and each connection is relayed as plain HTTP to
/// civetweb on a loopback port of its own.
class admin_server::tls_front {
 public:
  tls_front(const asio::ip::tcp::endpoint& where, net::ssl_context_ptr ctx,
            std::uint16_t backend_port)
      : ctx_(std::move(ctx))
      , backend_{asio::ip::address_v4::loopback(), backend_port}
      , acceptor_(io_) {
    acceptor_.open(where.protocol());
    acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true));
    acceptor_.bind(where);
    acceptor_.listen();
    accept();
    thread_ = std::thread{[this] { io_.run(); }};
  }
  ~tls_front() {
    asio::post(io_, [this] {
      asio::error_code ec;
      acceptor_.close(ec);
    });
    io_.stop();
    thread_.join();
  }
  tls_front(const tls_front&) = delete;
  tls_front& operator=(const tls_front&) = delete;

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  using ssl_socket = asio::ssl::stream<asio::ip::tcp::socket>;

  /// One client: the TLS side, the plain side to civetweb, and a handshake deadline.
  struct relay : std::enable_shared_from_this<relay> {
    relay(asio::ip::tcp::socket s, asio::ssl::context& ctx, std::atomic<int>& open)
        : tls(std::move(s), ctx)
        , plain(tls.get_executor())
        , deadline(tls.get_executor())
        , open_(open) {
      ++open_;
    }
    ~relay() { --open_; }
    void close() {
      asio::error_code ec;
      tls.lowest_layer().close(ec);
      plain.close(ec);
      deadline.cancel();
    }
    /// Copies `from` to `to` until either side ends; then both are closed.
    template <class From, class To>
    void pump(From& from, To& to, std::array<char, 16384>& buf) {
      from.async_read_some(asio::buffer(buf), [self = shared_from_this(), &from, &to,
                                               &buf](asio::error_code ec, std::size_t n) {
        if (ec)
          return self->close();
        asio::async_write(to, asio::buffer(buf.data(), n),
                          [self, &from, &to, &buf](asio::error_code ec2, std::size_t) {
                            if (ec2)
                              return self->close();
                            self->pump(from, to, buf);
                          });
      });
    }
    ssl_socket tls;
    asio::ip::tcp::socket plain;
    asio::steady_timer deadline;
    std::array<char, 16384> up{};
    std::array<char, 16384> down{};
    std::atomic<int>& open_;
  };

  void accept() {
    acceptor_.async_accept([this](asio::error_code ec, asio::ip::tcp::socket s) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open())
        return;
      // Scrapes and inspections are few; more open connections than this are refused.
      if (!ec && open_ < max_connections) {
        auto r = std::make_shared<relay>(std::move(s), *ctx_, open_);
        r->deadline.expires_after(std::chrono::seconds{10});
        r->deadline.async_wait([r](asio::error_code e) {
          if (!e)
            r->close(); // handshake not done in time
        });
        r->tls.async_handshake(asio::ssl::stream_base::server, [this, r](asio::error_code e) {
          if (e)
            return r->close();
          r->deadline.cancel();
          asio::error_code cec;
          r->plain.connect(backend_, cec);
          if (cec)
            return r->close();
          r->pump(r->tls, r->plain, r->up);
          r->pump(r->plain, r->tls, r->down);
        });
      }
      accept();
    });
  }

  static constexpr int max_connections = 32;
  net::ssl_context_ptr ctx_;
  asio::ip::tcp::endpoint backend_;
  std::atomic<int> open_{0}; ///< before io_: relays still queued in io_ decrement it
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};

admin_server::admin_server(admin_server_options opts, std::map<std::string, http_handler> routes) {
  auto listen = opts.listen;
  const bool tls = !opts.tls_cert.empty();
  net::ssl_context_ptr ctx;
  asio::ip::tcp::endpoint front_at;
  if (tls) {
    net::tls_server_options to;
    to.cert = opts.tls_cert;
    to.key = opts.tls_key;
    to.min_version = "1.2";
    to.cert_key = "admin.tls_cert";
    to.key_key = "admin.tls_key";
    auto made = net::make_server_context(to);
    if (auto* err = std::get_if<std::string>(&made))
      throw std::runtime_error(*err);
    ctx = std::get<net::ssl_context_ptr>(made);
    front_at = parse_endpoint(listen);
  }
  dispatcher_ = std::make_unique<dispatcher>(std::move(opts), std::move(routes));
  // Two worker threads: scrapes and inspections are rare; nothing here is on the data path.
  // With TLS, civetweb serves only the relay, on a loopback port of its own.
  std::vector<std::string> options{"listening_ports", tls ? std::string{"127.0.0.1:0"} : listen,
                                   "num_threads", "2"};
  CivetCallbacks callbacks;
  callbacks.log_message = log_start_error;
  std::string errors;
  start_errors = &errors;
  try {
    server_ = std::make_unique<CivetServer>(options, &callbacks);
  } catch (const CivetException& e) {
    start_errors = nullptr;
    throw std::runtime_error(std::string{"cannot serve on "} + listen + ": " +
                             (errors.empty() ? std::string{e.what()} : errors));
  }
  start_errors = nullptr;
  server_->addHandler("/", dispatcher_.get());
  if (tls) {
    auto ports = server_->getListeningPorts();
    try {
      front_ =
          std::make_unique<tls_front>(front_at, ctx, static_cast<std::uint16_t>(ports.front()));
    } catch (const std::exception& e) {
      server_->close();
      throw std::runtime_error("cannot serve on " + listen + ": " + e.what());
    }
  }
}

admin_server::~admin_server() {
  front_.reset();
  if (server_)
    server_->close();
}

std::uint16_t admin_server::port() const {
  if (front_)
    return front_->port();
  auto ports = server_->getListeningPorts();
  return ports.empty() ? 0 : static_cast<std::uint16_t>(ports.front());
}

void admin_server::set_token(std::string token) {
  dispatcher_->set_token(std::move(token));
}

} // namespace fa::app
