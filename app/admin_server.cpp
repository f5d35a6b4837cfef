#include "app/admin_server.hpp"

#include "app/admin_front.hpp"
#include "monitoring/log.hpp"
#include "net/tls_context.hpp"

#include <CivetServer.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

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

/// Writes `r`. civetweb closes the connection after each answer (no keep-alive), which
/// the answer says. A 405 names the one method there is (RFC 9110 15.5.6: it MUST carry
/// Allow); the answer to HEAD has no body (RFC 9110 9.3.2).
void send(mg_connection* conn, const http_response& r, bool head = false) {
  const char* reason = r.status == 200   ? "OK"
                       : r.status == 400 ? "Bad Request"
                       : r.status == 401 ? "Unauthorized"
                       : r.status == 404 ? "Not Found"
                       : r.status == 405 ? "Method Not Allowed"
                       : r.status == 503 ? "Service Unavailable"
                                         : "Error";
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n%s%s\r\n",
            r.status, reason, r.content_type.c_str(), r.body.size(),
            r.status == 401 ? "WWW-Authenticate: Bearer\r\n" : "",
            r.status == 405 ? "Allow: GET\r\n" : "");
  if (!head)
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

std::optional<std::string_view> bearer_credentials(std::string_view header) {
  // RFC 7235 2.1: credentials = auth-scheme [ 1*SP ( token68 / ... ) ], and the scheme
  // is case-insensitive.
  constexpr std::string_view scheme = "bearer";
  if (header.size() <= scheme.size() || header[scheme.size()] != ' ')
    return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(header[i])) != scheme[i])
      return std::nullopt;
  auto rest = header.substr(scheme.size());
  rest.remove_prefix(std::min(rest.find_first_not_of(' '), rest.size()));
  return rest;
}

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
      // A handler's bug, not the client's: the reason goes to the log, not to the client
      // (it may quote the request, bytes that are not even UTF-8).
      monitoring::log(monitoring::log_level::error, "admin request failed",
                      {{"path", req.path}, {"error", e.what()}});
      send(conn, error_response(500, "internal error; the log says more"));
    }
    return true;
  }

  // Read-only: every other method civetweb knows gets 405 with Allow (README).
  bool handleHead(CivetServer*, mg_connection* conn) override { return refuse(conn, true); }
  bool handleOptions(CivetServer*, mg_connection* conn) override { return refuse(conn); }
  bool handlePost(CivetServer*, mg_connection* conn) override { return refuse(conn); }
  bool handlePut(CivetServer*, mg_connection* conn) override { return refuse(conn); }
  bool handleDelete(CivetServer*, mg_connection* conn) override { return refuse(conn); }
  bool handlePatch(CivetServer*, mg_connection* conn) override { return refuse(conn); }

  void set_token(std::string token) {
    std::lock_guard guard{mtx_};
    opts_.token = std::move(token);
  }

 private:
  bool refuse(mg_connection* conn, bool head = false) {
    send(conn, error_response(405, "the admin API is read-only: use GET"), head);
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
    if (header == nullptr)
      return false;
    auto credentials = bearer_credentials(header);
    return credentials && constant_time_equal(*credentials, token);
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

/// "127.0.0.1:10348" / "[::1]:0" / "localhost:10348" -> endpoint (a name resolves to its
/// first address); throws saying why it cannot.
asio::ip::tcp::endpoint resolve_endpoint(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos)
    throw std::runtime_error("cannot serve on " + listen + ": expected HOST:PORT");
  auto host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto port = listen.substr(colon + 1);
  asio::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (!ec)
    return {addr, static_cast<std::uint16_t>(std::stoul(port))};
  asio::io_context io;
  asio::ip::tcp::resolver resolver{io};
  auto found = resolver.resolve(host, port, ec);
  if (ec || found.empty())
    throw std::runtime_error("cannot serve on " + listen + ": " +
                             (ec ? ec.message() : std::string{"no address"}));
  return found.begin()->endpoint();
}

} // namespace

admin_server::admin_server(admin_server_options opts, std::map<std::string, http_handler> routes) {
  const auto listen = opts.listen;
  admin_front_options fo;
  fo.listen = resolve_endpoint(listen);
  fo.on_closed = opts.on_closed;
  if (!opts.tls_cert.empty()) {
    net::tls_server_options to;
    to.cert = opts.tls_cert;
    to.key = opts.tls_key;
    to.min_version = "1.2";
    to.cert_key = "admin.tls_cert";
    to.key_key = "admin.tls_key";
    auto made = net::make_server_context(to);
    if (auto* err = std::get_if<std::string>(&made))
      throw std::runtime_error(*err);
    fo.tls = std::get<net::ssl_context_ptr>(made);
  }
  dispatcher_ = std::make_unique<dispatcher>(std::move(opts), std::move(routes));
  // civetweb serves only the front (app/admin_front.hpp), on a loopback port of its own,
  // and sees only complete request heads. Its workers are held by handlers alone: the
  // front lets other requests take at most max_busy of them, the rest are the probes'.
  // Its own timeout bounds a local client that connects to that port directly.
  std::vector<std::string> options{
      "listening_ports",    "127.0.0.1:0", "num_threads",       std::to_string(fo.max_busy + 2),
      "request_timeout_ms", "10000",       "enable_keep_alive", "no"};
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
  auto ports = server_->getListeningPorts();
  fo.backend_port = static_cast<std::uint16_t>(ports.front());
  try {
    front_ = std::make_unique<admin_front>(std::move(fo));
  } catch (const std::exception& e) {
    server_->close();
    throw std::runtime_error("cannot serve on " + listen + ": " + e.what());
  }
}

admin_server::~admin_server() {
  front_.reset();
  if (server_)
    server_->close();
}

std::uint16_t admin_server::port() const {
  return front_->port();
}

void admin_server::set_token(std::string token) {
  dispatcher_->set_token(std::move(token));
}

} // namespace fa::app
