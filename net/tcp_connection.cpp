#include "net/tcp_connection.hpp"

#include "net/tcp_framer.hpp"

#include <cstring>

namespace fa::net {

tcp_connection::tcp_connection(asio::ip::tcp::socket socket, messages::session_budgets budgets,
                               std::size_t max_read, std::size_t max_message_size)
    : socket_(std::move(socket))
    , strand_(asio::make_strand(socket_.get_executor()))
    , budgets_(std::move(budgets))
    , max_read_(max_read)
    , max_message_size_(max_message_size) {
  asio::error_code ec;
  remote_ = socket_.remote_endpoint(ec);
  socket_.non_blocking(true, ec);
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
}

void tcp_connection::start(frames_handler on_frames, closed_handler on_closed) {
  on_frames_ = std::move(on_frames);
  on_closed_ = std::move(on_closed);
  asio::post(strand_, [self = shared_from_this()] { self->wait_readable(); });
}

void tcp_connection::close(std::string reason) {
  asio::post(strand_, [self = shared_from_this(), r = std::move(reason)]() mutable {
    self->finish(std::move(r));
  });
}

void tcp_connection::wait_readable() {
  if (closed_)
    return;
  socket_.async_wait(asio::socket_base::wait_read,
                     asio::bind_executor(strand_, [self = shared_from_this()](asio::error_code ec) {
                       if (ec)
                         self->finish(ec == asio::error::operation_aborted ? "closed"
                                                                           : ec.message());
                       else
                         self->resume_reading();
                     }));
}

void tcp_connection::read_available() {
  if (closed_)
    return;
  asio::error_code ec;
  std::size_t avail = socket_.available(ec);
  if (ec) {
    finish(ec.message());
    return;
  }
  // Readable with nothing available means end of stream or an error: let read_some say.
  std::size_t want = std::min(std::max<std::size_t>(avail, 1), max_read_);
  auto buf = std::make_shared<messages::chunk>(tail_.size() + want, budgets_);
  if (!tail_.empty()) // memcpy from an empty vector's null pointer is undefined
    std::memcpy(buf->data(), tail_.data(), tail_.size());
  std::size_t n = socket_.read_some(
      asio::buffer(buf->data() + tail_.size(), buf->capacity() - tail_.size()), ec);
  if (ec == asio::error::would_block) {
    wait_readable();
    return;
  }
  if (ec) {
    finish(ec == asio::error::eof ? (tail_.empty() ? "eof" : "eof_mid_message") : ec.message());
    return;
  }
  std::size_t total = tail_.size() + n;
  auto scan = scan_frames({buf->data(), total}, max_message_size_);
  if (!scan.error.empty()) {
    finish(std::string{scan.error});
    return;
  }
  tail_.assign(buf->data() + scan.complete, buf->data() + total);
  if (scan.complete > 0) {
    buf->set_size(scan.complete);
    on_frames_(std::move(buf));
  }
  buf.reset(); // releases the budget at once when nothing referenced it
  wait_readable();
}

// DESIGN 3: read only while this session's and the process's budgets have room, checked
// before every read so that a thousand sessions cannot each overshoot by a buffer; while
// paused, TCP flow control slows the exporter. Woken, the reader checks both again.
void tcp_connection::resume_reading() {
  if (closed_)
    return;
  auto make_resume = [this] {
    return [weak = weak_from_this()] {
      if (auto self = weak.lock())
        asio::post(self->strand_, [self] { self->resume_reading(); });
    };
  };
  if (budgets_.wait_if_spent(make_resume))
    return;
  read_available();
}

void tcp_connection::finish(std::string reason) {
  if (closed_)
    return;
  closed_ = true;
  asio::error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_both, ec);
  socket_.close(ec);
  tail_.clear();
  if (on_closed_) {
    auto f = std::move(on_closed_);
    on_closed_ = nullptr;
    on_frames_ = nullptr;
    f(reason);
  }
}

tcp_listener::tcp_listener(asio::io_context& ctx, const asio::ip::tcp::endpoint& ep,
                           accept_handler h)
    : acceptor_(ctx)
    , on_accept_(std::move(h)) {
  acceptor_.open(ep.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  if (ep.address().is_v6()) {
    // "[::]" listens on IPv6 and IPv4 alike.
    asio::error_code ec;
    acceptor_.set_option(asio::ip::v6_only(false), ec);
  }
  acceptor_.bind(ep);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  local_ = acceptor_.local_endpoint();
  port_ = local_.port();
  accept_next();
}

void tcp_listener::stop() {
  asio::post(acceptor_.get_executor(), [this] {
    asio::error_code ec;
    acceptor_.close(ec);
  });
}

void tcp_listener::accept_next() {
  acceptor_.async_accept([this](asio::error_code ec, asio::ip::tcp::socket s) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open())
      return;
    if (!ec)
      on_accept_(std::move(s));
    accept_next();
  });
}

} // namespace fa::net
