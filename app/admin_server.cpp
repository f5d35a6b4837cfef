#include "app/admin_server.hpp"

#include <CivetServer.h>

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

admin_server::admin_server(admin_server_options opts, std::map<std::string, http_handler> routes) {
  auto listen = opts.listen;
  dispatcher_ = std::make_unique<dispatcher>(std::move(opts), std::move(routes));
  // Two worker threads: scrapes and inspections are rare; nothing here is on the data path.
  std::vector<std::string> options{"listening_ports", listen, "num_threads", "2"};
  try {
    server_ = std::make_unique<CivetServer>(options);
  } catch (const CivetException& e) {
    throw std::runtime_error(std::string{"cannot serve on "} + listen + ": " + e.what());
  }
  server_->addHandler("/", dispatcher_.get());
}

admin_server::~admin_server() {
  if (server_)
    server_->close();
}

std::uint16_t admin_server::port() const {
  auto ports = server_->getListeningPorts();
  return ports.empty() ? 0 : static_cast<std::uint16_t>(ports.front());
}

void admin_server::set_token(std::string token) {
  dispatcher_->set_token(std::move(token));
}

} // namespace fa::app
