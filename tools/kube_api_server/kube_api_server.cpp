#include "tools/kube_api_server/kube_api_server.hpp"

#include "tools/kube_api_server/wire.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <algorithm>
#include <deque>
#include <future>
#include <set>
#include <thread>

namespace fa::tools {

namespace {

using asio::ip::tcp;
using nlohmann::json;
using namespace kube_wire;

} // namespace

// ---------------------------------------------------------------------------------------

struct kube_api_server::impl {
  struct conn;
  using conn_ptr = std::shared_ptr<conn>;

  struct stored_pod {
    pod_spec spec;
    std::uint64_t rv = 0;
    /// As a list item (no kind/apiVersion, as the API returns items), rendered once per
    /// change: a LIST of 100,000 Pods only copies pointers.
    std::shared_ptr<const std::string> item;
  };
  struct event {
    std::uint64_t rv;
    std::string line; // the JSON event with its newline
  };
  struct list_state {
    std::uint64_t rv;
    std::vector<std::shared_ptr<const std::string>> items; // sorted by namespace/name
  };

  kube_api_server& owner;
  options opts;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  asio::ssl::context tls{asio::ssl::context::tls_server};
  std::unique_ptr<tcp::acceptor> acceptor;
  std::thread thread;
  // Below: touched on the server thread only.
  std::map<std::string, stored_pod> pods; // by uid
  std::uint64_t rv = 1000;
  std::uint64_t oldest_rv = 1000; // history holds every event after this
  std::deque<event> history;
  std::map<std::uint64_t, list_state> lists;
  std::uint64_t next_list = 1;
  std::set<conn_ptr> conns;
  gone_mode gone_as = gone_mode::http_status;
  bool stall_next = false;
  std::string token;

  struct conn : std::enable_shared_from_this<conn> {
    impl& srv;
    asio::ssl::stream<tcp::socket> s;
    asio::streambuf in;
    std::deque<std::string> out;
    bool writing = false;
    bool watching = false;
    bool bookmarks = false;
    bool stalled = false;
    bool close_after_write = false;
    bool closed = false;
    asio::steady_timer timeout;

    conn(impl& srv, tcp::socket sock)
        : srv(srv)
        , s(std::move(sock), srv.tls)
        , timeout(srv.io) {}

    void start() {
      auto self = shared_from_this();
      s.async_handshake(asio::ssl::stream_base::server, [self](asio::error_code ec) {
        if (ec)
          return self->close();
        self->read_request();
      });
    }

    void read_request() {
      auto self = shared_from_this();
      asio::async_read_until(s, in, "\r\n\r\n", [self](asio::error_code ec, std::size_t n) {
        if (ec)
          return self->close();
        std::string head{asio::buffers_begin(self->in.data()),
                         asio::buffers_begin(self->in.data()) + static_cast<std::ptrdiff_t>(n)};
        self->in.consume(n);
        self->srv.handle(self, head);
      });
    }

    void send(std::string data) {
      if (closed)
        return;
      out.push_back(std::move(data));
      if (!writing)
        write_next();
    }

    void write_next() {
      if (out.empty()) {
        writing = false;
        if (close_after_write)
          close();
        return;
      }
      writing = true;
      auto self = shared_from_this();
      asio::async_write(s, asio::buffer(out.front()), [self](asio::error_code ec, std::size_t) {
        if (ec)
          return self->close();
        self->out.pop_front();
        self->write_next();
      });
    }

    /// Ends a watch stream with the terminating chunk, then closes.
    void end_stream() {
      if (!watching || closed)
        return;
      watching = false;
      timeout.cancel();
      close_after_write = true;
      send("0\r\n\r\n");
    }

    void close() {
      if (closed)
        return;
      closed = true;
      watching = false;
      timeout.cancel();
      asio::error_code ec;
      s.lowest_layer().close(ec);
      srv.conns.erase(shared_from_this());
    }
  };

  impl(kube_api_server& owner, options o)
      : owner(owner)
      , opts(std::move(o))
      , token(opts.token) {
    tls.use_certificate_chain_file(opts.cert_file);
    tls.use_private_key_file(opts.key_file, asio::ssl::context::pem);
    if (!opts.client_ca.empty()) {
      // Ask for a certificate, but let token clients in without one.
      tls.load_verify_file(opts.client_ca);
      tls.set_verify_mode(asio::ssl::verify_peer);
    }
    thread = std::thread{[this] { io.run(); }};
  }

  ~impl() {
    run([this] { close_all(); });
    work.reset();
    io.stop();
    thread.join();
  }

  /// Runs `f` on the server thread and waits for it (bounded).
  template <class F>
  auto run(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task{std::move(f)};
    auto fut = task.get_future();
    asio::post(io, [&task] { task(); });
    if (fut.wait_for(std::chrono::seconds{60}) != std::future_status::ready)
      throw std::runtime_error("kube_api_server: the server thread did not answer");
    return fut.get();
  }

  void listen(std::uint16_t port) {
    acceptor = std::make_unique<tcp::acceptor>(io);
    tcp::endpoint ep{asio::ip::make_address("127.0.0.1"), port};
    acceptor->open(ep.protocol());
    acceptor->set_option(tcp::acceptor::reuse_address(true));
    acceptor->bind(ep);
    acceptor->listen();
    accept();
  }

  void accept() {
    acceptor->async_accept([this](asio::error_code ec, tcp::socket sock) {
      if (ec)
        return;
      auto c = std::make_shared<conn>(*this, std::move(sock));
      conns.insert(c);
      c->start();
      accept();
    });
  }

  void close_all() {
    if (acceptor) {
      asio::error_code ec;
      acceptor->close(ec);
      acceptor.reset();
    }
    auto all = conns;
    for (auto& c : all)
      c->close();
  }

  void handle(const conn_ptr& c, const std::string& head) {
    // "GET /api/v1/pods?limit=2 HTTP/1.1\r\nHeader: value\r\n..."
    auto line_end = head.find("\r\n");
    auto request = head.substr(0, line_end);
    auto sp1 = request.find(' ');
    auto sp2 = request.rfind(' ');
    std::string method = request.substr(0, sp1);
    std::string target =
        sp1 == std::string::npos || sp2 <= sp1 ? "" : request.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string auth;
    for (std::size_t pos = line_end + 2; pos < head.size();) {
      auto e = head.find("\r\n", pos);
      auto h = head.substr(pos, e - pos);
      pos = e == std::string::npos ? head.size() : e + 2;
      auto colon = h.find(':');
      if (colon == std::string::npos)
        continue;
      auto name = h.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      auto value = h.substr(colon + 1);
      while (!value.empty() && value.front() == ' ')
        value.erase(0, 1);
      if (name == "authorization")
        auth = value;
    }
    auto q = target.find('?');
    std::string path = target.substr(0, q);
    std::map<std::string, std::string> query;
    if (q != std::string::npos) {
      std::string rest = target.substr(q + 1);
      for (std::size_t pos = 0; pos <= rest.size();) {
        auto amp = rest.find('&', pos);
        auto kv = rest.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
        auto eq = kv.find('=');
        query[unescape(kv.substr(0, eq))] =
            eq == std::string::npos ? "" : unescape(kv.substr(eq + 1));
        if (amp == std::string::npos)
          break;
        pos = amp + 1;
      }
    }
    bool cert_ok = false;
    if (!opts.client_ca.empty()) {
      X509* peer = SSL_get1_peer_certificate(c->s.native_handle());
      cert_ok = peer && SSL_get_verify_result(c->s.native_handle()) == X509_V_OK;
      X509_free(peer);
    }
    if (cert_ok)
      ++owner.cert_auth_;
    if (!cert_ok && auth != "Bearer " + token) {
      ++owner.unauthorized_;
      c->send(response(401, status_object(401, "Unauthorized", "Unauthorized").dump()));
      c->read_request();
      return;
    }
    if (method != "GET" || path != "/api/v1/pods") {
      c->send(response(404, status_object(404, "NotFound",
                                          "the server could not find the "
                                          "requested resource")
                                .dump()));
      c->read_request();
      return;
    }
    if (query["watch"] == "true" || query["watch"] == "1")
      watch(c, query);
    else
      list(c, query);
  }

  void list(const conn_ptr& c, std::map<std::string, std::string>& query) {
    std::size_t limit = query["limit"].empty() ? 0 : std::stoul(query["limit"]);
    std::uint64_t id = 0;
    std::size_t offset = 0;
    ++owner.list_pages_;
    if (!query["continue"].empty()) {
      auto token_text = unbase64(query["continue"]);
      auto colon = token_text.find(':');
      if (colon != std::string::npos) {
        id = std::stoull(token_text.substr(0, colon));
        offset = std::stoul(token_text.substr(colon + 1));
      }
      if (!lists.count(id)) {
        ++owner.gone_;
        c->send(response(
            410,
            status_object(410, "Expired", "The provided continue parameter is too old").dump()));
        c->read_request();
        return;
      }
    } else {
      ++owner.lists_;
      id = next_list++;
      auto& l = lists[id];
      l.rv = rv;
      std::vector<const stored_pod*> sorted;
      for (auto& [_, p] : pods)
        sorted.push_back(&p);
      std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) {
        return std::tie(a->spec.pod_namespace, a->spec.name) <
               std::tie(b->spec.pod_namespace, b->spec.name);
      });
      l.items.reserve(sorted.size());
      for (auto* p : sorted)
        l.items.push_back(p->item);
    }
    auto& l = lists[id];
    std::size_t end = limit == 0 ? l.items.size() : std::min(l.items.size(), offset + limit);
    std::string items;
    for (std::size_t i = offset; i < end; ++i) {
      if (i > offset)
        items += ',';
      items += *l.items[i];
    }
    json meta = {{"resourceVersion", std::to_string(l.rv)}};
    if (end < l.items.size()) {
      meta["continue"] = base64(std::to_string(id) + ":" + std::to_string(end));
      meta["remainingItemCount"] = l.items.size() - end;
    }
    std::string body = R"({"kind":"PodList","apiVersion":"v1","metadata":)" + meta.dump() +
                       R"(,"items":[)" + items + "]}";
    if (end >= l.items.size())
      lists.erase(id);
    c->send(response(200, body));
    c->read_request();
  }

  void watch(const conn_ptr& c, std::map<std::string, std::string>& query) {
    ++owner.watches_;
    std::uint64_t from =
        query["resourceVersion"].empty() ? rv : std::stoull(query["resourceVersion"]);
    c->bookmarks = query["allowWatchBookmarks"] == "true";
    if (from < oldest_rv) {
      ++owner.gone_;
      auto msg = "too old resource version: " + std::to_string(from) + " (" +
                 std::to_string(oldest_rv) + ")";
      if (gone_as == gone_mode::http_status) {
        c->send(response(410, status_object(410, "Expired", msg).dump()));
        c->read_request();
        return;
      }
      c->send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: "
              "chunked\r\n\r\n");
      c->watching = true;
      c->send(chunk(event_line("ERROR", status_object(410, "Expired", msg).dump())));
      c->end_stream();
      return;
    }
    c->send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: "
            "chunked\r\n\r\n");
    c->watching = true;
    if (stall_next) {
      stall_next = false;
      c->stalled = true;
      return;
    }
    for (auto& e : history)
      if (e.rv > from)
        c->send(chunk(e.line));
    if (!query["timeoutSeconds"].empty()) {
      c->timeout.expires_after(std::chrono::seconds{std::stoul(query["timeoutSeconds"])});
      std::weak_ptr<conn> weak = c;
      c->timeout.async_wait([weak](asio::error_code ec) {
        if (auto s = weak.lock(); s && !ec)
          s->end_stream();
      });
    }
  }

  void broadcast(const std::string& line) {
    for (auto& c : conns)
      if (c->watching && !c->stalled)
        c->send(chunk(line));
  }

  void record(const std::string& type, const std::string& object) {
    auto line = event_line(type, object);
    history.push_back({rv, line});
    while (history.size() > opts.max_history) {
      oldest_rv = history.front().rv;
      history.pop_front();
    }
    broadcast(line);
  }
};

kube_api_server::kube_api_server(options opts)
    : impl_(std::make_unique<impl>(*this, std::move(opts))) {
  start();
}

kube_api_server::~kube_api_server() = default;

void kube_api_server::start() {
  port_ = impl_->run([this] {
    impl_->listen(port_ ? port_ : impl_->opts.port);
    return impl_->acceptor->local_endpoint().port();
  });
}

void kube_api_server::stop() {
  impl_->run([this] { impl_->close_all(); });
}

std::uint64_t kube_api_server::apply(const pod_spec& p) {
  return impl_->run([&] {
    auto& s = *impl_;
    auto i = s.pods.find(p.uid);
    bool added = i == s.pods.end();
    auto& stored = s.pods[p.uid];
    stored.spec = p;
    stored.rv = ++s.rv;
    auto obj = pod_object(p, std::to_string(stored.rv));
    s.record(added ? "ADDED" : "MODIFIED", obj.dump());
    stored.item = list_item(std::move(obj));
    return s.rv;
  });
}

void kube_api_server::preload(std::vector<pod_spec> list) {
  // Rendered here, not on the server thread, which keeps serving meanwhile.
  auto rv = resource_version() + 1;
  std::vector<std::shared_ptr<const std::string>> items;
  items.reserve(list.size());
  for (auto& p : list)
    items.push_back(list_item(pod_object(p, std::to_string(rv))));
  impl_->run([&] {
    auto& s = *impl_;
    s.rv = std::max(s.rv + 1, rv);
    for (std::size_t i = 0; i < list.size(); ++i) {
      auto uid = list[i].uid;
      s.pods[uid] = {std::move(list[i]), s.rv, std::move(items[i])};
    }
    // Their creation is history no watch can ask for.
    s.history.clear();
    s.oldest_rv = s.rv;
  });
}

std::uint64_t kube_api_server::remove(const std::string& uid) {
  return impl_->run([&] {
    auto& s = *impl_;
    auto i = s.pods.find(uid);
    if (i == s.pods.end())
      return s.rv;
    auto spec = i->second.spec;
    s.pods.erase(i);
    ++s.rv;
    s.record("DELETED", pod_object(spec, std::to_string(s.rv)).dump());
    return s.rv;
  });
}

std::uint64_t kube_api_server::advance(std::uint64_t n) {
  return impl_->run([&] { return impl_->rv += n; });
}

void kube_api_server::bookmark() {
  impl_->run([&] {
    auto& s = *impl_;
    json obj = {{"kind", "Pod"},
                {"apiVersion", "v1"},
                {"metadata", {{"resourceVersion", std::to_string(s.rv)}}}};
    auto line = event_line("BOOKMARK", obj.dump());
    for (auto& c : s.conns)
      if (c->watching && !c->stalled && c->bookmarks)
        c->send(chunk(line));
  });
}

void kube_api_server::compact() {
  impl_->run([&] {
    impl_->history.clear();
    impl_->oldest_rv = impl_->rv;
  });
}

void kube_api_server::expire_watches() {
  impl_->run([&] {
    auto& s = *impl_;
    auto line = event_line(
        "ERROR", status_object(410, "Expired", "too old resource version: watch expired").dump());
    auto all = s.conns;
    for (auto& c : all)
      if (c->watching) {
        ++gone_;
        c->send(chunk(line));
        c->end_stream();
      }
  });
}

void kube_api_server::close_watches() {
  impl_->run([&] {
    auto all = impl_->conns;
    for (auto& c : all)
      c->end_stream();
  });
}

void kube_api_server::stall_next_watch() {
  impl_->run([&] { impl_->stall_next = true; });
}

void kube_api_server::set_gone_mode(gone_mode m) {
  impl_->run([&] { impl_->gone_as = m; });
}

void kube_api_server::set_token(const std::string& token) {
  impl_->run([&] { impl_->token = token; });
}

std::uint64_t kube_api_server::resource_version() {
  return impl_->run([&] { return impl_->rv; });
}

std::size_t kube_api_server::open_watches() {
  return impl_->run([&] {
    std::size_t n = 0;
    for (auto& c : impl_->conns)
      n += c->watching ? 1 : 0;
    return n;
  });
}

} // namespace fa::tools
