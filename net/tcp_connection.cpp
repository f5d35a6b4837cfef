#include "net/tcp_connection.hpp"

namespace fa::net {

tcp_connection::tcp_connection(asio::ip::tcp::socket socket, messages::session_budgets budgets,
                               std::size_t max_read, std::size_t max_message_size,
                               session_timeouts timeouts)
    : socket_(std::move(socket))
    , strand_(asio::make_strand(socket_.get_executor()))
    , budgets_(std::move(budgets))
    , max_read_(max_read)
    , frames_(max_message_size)
    , deadline_(strand_, timeouts) {
  asio::error_code ec;
  remote_ = socket_.remote_endpoint(ec);
  socket_.non_blocking(true, ec);
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
}

void tcp_connection::start(frames_handler on_frames, closed_handler on_closed) {
  on_frames_ = std::move(on_frames);
  on_closed_ = std::move(on_closed);
  asio::post(strand_, [self = shared_from_this()] {
    self->deadline_.start(self,
                          [p = self.get()](std::string_view why) { p->finish(std::string{why}); });
    self->wait_readable();
  });
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

void tcp_connection::read_available(bool may_allocate) {
  if (closed_)
    return;
  asio::error_code ec;
  std::size_t avail = socket_.available(ec);
  if (ec) {
    finish(ec.message());
    return;
  }
  // Readable with nothing available means end of stream or an error: let read_some say.
  auto room =
      frames_.prepare(std::min(std::max<std::size_t>(avail, 1), max_read_), budgets_, may_allocate);
  std::size_t n = socket_.read_some(asio::buffer(room.data(), room.size()), ec);
  if (ec == asio::error::would_block) {
    frames_.commit(0, budgets_, may_allocate); // releases a buffer that holds nothing
    wait_readable();
    return;
  }
  if (ec) {
    finish(ec == asio::error::eof ? (frames_.held() == 0 ? "eof" : "eof_mid_message")
                                  : ec.message());
    return;
  }
  bool was_held = frames_.held() > 0;
  auto got = frames_.commit(n, budgets_, may_allocate);
  if (!got.error.empty()) {
    finish(std::string{got.error});
    return;
  }
  bool held = frames_.held() > 0;
  deadline_.update(held, held && (!was_held || got.messages), got.messages != nullptr,
                   shared_from_this(), [this](std::string_view why) { finish(std::string{why}); });
  if (got.messages)
    on_frames_(std::move(got.messages)); // the budget is released when the session is done
  wait_readable();
}

// DESIGN 3: read only while this session's and the process's budgets have room, checked
// before every read so that a thousand sessions cannot each overshoot by a buffer; while
// paused, TCP flow control slows the exporter. Woken, the reader checks both again. A
// message already begun is read on into the buffer charged for it, so that budgets spent
// by such messages alone cannot stall every session until they time out.
void tcp_connection::resume_reading() {
  if (closed_)
    return;
  bool may_allocate = !budgets_.spent();
  if (!may_allocate && !frames_.has_room()) {
    auto make_resume = [this] {
      return [weak = weak_from_this()] {
        if (auto self = weak.lock())
          asio::post(self->strand_, [self] { self->resume_reading(); });
      };
    };
    if (budgets_.wait_if_spent(make_resume)) {
      deadline_.paused(true);
      return;
    }
    may_allocate = true;
  }
  deadline_.paused(false);
  read_available(may_allocate);
}

void tcp_connection::finish(std::string reason) {
  if (closed_)
    return;
  closed_ = true;
  asio::error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_both, ec);
  socket_.close(ec);
  frames_.clear();
  deadline_.cancel();
  if (on_closed_) {
    auto f = std::move(on_closed_);
    on_closed_ = nullptr;
    on_frames_ = nullptr;
    f(reason);
  }
}

tcp_listener::tcp_listener(asio::io_context& ctx, const asio::ip::tcp::endpoint& ep,
                           accept_handler h, accept_error_handler on_error)
    : acceptor_(ctx)
    , retry_(ctx)
    , on_accept_(std::move(h))
    , on_error_(std::move(on_error)) {
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
    retry_.cancel();
  });
}

void tcp_listener::accept_next() {
  acceptor_.async_accept([this](asio::error_code ec, asio::ip::tcp::socket s) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open())
      return;
    if (!ec) {
      backoff_.succeeded();
      on_accept_(std::move(s));
      accept_next();
      return;
    }
    auto failure = backoff_.failed(ec);
    if (on_error_)
      on_error_(failure, ec);
    if (failure.retry_in.count() == 0) {
      accept_next();
      return;
    }
    retry_.expires_after(failure.retry_in);
    retry_.async_wait([this](asio::error_code e) {
      if (!e && acceptor_.is_open())
        accept_next();
    });
  });
}

} // namespace fa::net
