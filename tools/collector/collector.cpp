#include "tools/collector/collector.hpp"

#include "tools/collector/server.hpp"

#include <algorithm>
#include <csignal>

namespace fa::tools {

using namespace std::chrono_literals;

void collector::accept() {
  acceptor_.async_accept([this](std::error_code ec, tcp::socket socket) {
    if (stopping_ || draining_)
      return;
    if (!ec) {
      if (!t_.any_connection) {
        t_.any_connection = true;
        t_.first_connection = steady::now();
      }
      ++t_.connections;
      auto c = std::make_shared<connection>(*this, std::move(socket), cfg_.read_buffer);
      conns_.emplace(c.get(), c);
      c->start();
    } else if (ec == asio::error::operation_aborted) {
      return;
    } else {
      std::fprintf(stderr, "ipfix-collector: accept failed: %s\n", ec.message().c_str());
    }
    accept();
  });
}

void collector::receive_udp() {
  udp_.async_wait(udp::socket::wait_read, [this](std::error_code ec) {
    if (stopping_ || draining_ || ec == asio::error::operation_aborted)
      return;
    if (ec)
      std::fprintf(stderr, "ipfix-collector: UDP receive failed: %s\n", ec.message().c_str());
    // One reactor wake-up, then whatever else the socket holds (bounded): at high rates
    // a handler per datagram would make the collector the bottleneck.
    for (int i = 0; i < 64; ++i) {
      if (!receive_udp_batch())
        break;
    }
    if (!stopping_)
      receive_udp();
  });
}

bool collector::receive_udp_batch() {
  for (std::size_t i = 0; i < udp_batch; ++i) {
    udp_iovs_[i] = {udp_buf_.data() + i * udp_slot, udp_slot};
    auto& h = udp_hdrs_[i];
    h = mmsghdr{};
    h.msg_hdr.msg_name = &udp_addrs_[i];
    h.msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    h.msg_hdr.msg_iov = &udp_iovs_[i];
    h.msg_hdr.msg_iovlen = 1;
  }
  int n = -1;
  do {
    n = ::recvmmsg(udp_.native_handle(), udp_hdrs_.data(), udp_batch, MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) {
    // EAGAIN: drained; ECONNREFUSED (an ICMP error for something we never sent) and
    // other errors of an unconnected socket are transient.
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNREFUSED)
      std::fprintf(stderr, "ipfix-collector: UDP receive failed: %s\n", std::strerror(errno));
    return false;
  }
  for (int i = 0; i < n; ++i) {
    auto& h = udp_hdrs_[static_cast<std::size_t>(i)];
    on_udp_datagram(udp_addrs_[static_cast<std::size_t>(i)], h.msg_hdr.msg_namelen,
                    udp_buf_.data() + static_cast<std::size_t>(i) * udp_slot, h.msg_len);
    if (total_reached()) {
      stop_now();
      return false;
    }
  }
  return static_cast<std::size_t>(n) == udp_batch;
}

void collector::on_udp_datagram(const sockaddr_storage& from, socklen_t from_len,
                                const std::uint8_t* p, std::size_t n) {
  if (udp_last_ == nullptr || from_len != udp_last_len_ ||
      std::memcmp(&from, &udp_last_from_, from_len) != 0) {
    udp::endpoint sender;
    std::memcpy(sender.data(), &from, std::min<std::size_t>(from_len, sizeof from));
    sender.resize(from_len);
    auto& session = udp_sessions_[sender];
    if (!session) {
      if (!t_.any_connection) {
        t_.any_connection = true;
        t_.first_connection = steady::now();
      }
      ++t_.connections;
      session = std::make_shared<connection>(*this, ioc_);
    }
    udp_last_ = session.get();
    std::memcpy(&udp_last_from_, &from, std::min<std::size_t>(from_len, sizeof from));
    udp_last_len_ = from_len;
  }
  udp_last_->on_datagram(p, n);
}

void collector::tick() {
  tick_.expires_after(50ms);
  tick_.async_wait([this](std::error_code ec) {
    if (ec || stopping_)
      return;
    auto now = steady::now();
    if (cfg_.idle_exit && t_.records > 0 && now - t_.last_data >= *cfg_.idle_exit)
      return stop_now();
    if (deadline_ && now >= *deadline_ && !draining_)
      start_drain();
    tick();
  });
}

void collector::wait_signal() {
  signals_.async_wait([this](std::error_code ec, int) {
    if (ec)
      return;
    if (signalled_ || draining_) // a second signal: stop at once
      return stop_now();
    signalled_ = true;
    start_drain();
    if (!stopping_) // a second signal stops at once
      wait_signal();
  });
}

/// Graceful stop: stop accepting, shut down our sending side of every connection, and
/// keep reading until each peer closes (bounded by --drain-timeout).
void collector::start_drain() {
  draining_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
  if (conns_.empty()) // UDP: no connections, nothing in flight to wait for
    return stop_now();
  for (auto& [ptr, c] : conns_)
    c->shutdown_send();
  drain_timer_.expires_after(cfg_.drain_timeout);
  drain_timer_.async_wait([this](std::error_code ec) {
    if (ec)
      return;
    std::fprintf(stderr,
                 "ipfix-collector: %zu connections still open after the drain timeout; "
                 "closing them\n",
                 conns_.size());
    stop_now();
  });
}

void collector::stop_now() {
  if (stopping_)
    return;
  stopping_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
  udp_.close(ignored);
  signals_.cancel(ignored);
  tick_.cancel();
  drain_timer_.cancel();
  auto conns = conns_; // close() erases from conns_
  for (auto& [ptr, c] : conns)
    c->close();
}

int collector::run() {
  std::signal(SIGPIPE, SIG_IGN);
  std::error_code ec;
  auto address = asio::ip::make_address(cfg_.listen.host, ec);
  if (ec) {
    std::fprintf(stderr, "ipfix-collector: --listen host '%s' is not an IP address\n",
                 cfg_.listen.host.c_str());
    return 2;
  }
  if (!cfg_.expect_exporter.empty()) {
    auto exp = asio::ip::make_address(cfg_.expect_exporter, ec);
    if (ec) {
      std::fprintf(stderr, "ipfix-collector: --expect-exporter '%s' is not an IP address\n",
                   cfg_.expect_exporter.c_str());
      return 2;
    }
    // RFC 7119 / the proxy mode: the unused family's field is all zeros.
    expect_v4_.emplace();
    expect_v6_.emplace();
    expect_v4_->fill(0);
    expect_v6_->fill(0);
    if (exp.is_v4())
      *expect_v4_ = exp.to_v4().to_bytes();
    else
      *expect_v6_ = exp.to_v6().to_bytes();
  }
  std::uint16_t port = 0;
  if (cfg_.udp) {
    udp::endpoint endpoint(address, cfg_.listen.port);
    udp_.open(endpoint.protocol(), ec);
    if (!ec)
      udp_.set_option(udp::socket::reuse_address(true), ec);
    if (!ec) {
      // Bursts beyond the socket buffer are lost in the kernel; ask for plenty (the
      // kernel caps it at net.core.rmem_max).
      std::error_code ignore;
      udp_.set_option(asio::socket_base::receive_buffer_size(16 << 20), ignore);
      // As root, past net.core.rmem_max too.
      int force = 16 << 20;
      ::setsockopt(udp_.native_handle(), SOL_SOCKET, SO_RCVBUFFORCE, &force, sizeof force);
      udp_.non_blocking(true, ignore);
      udp_.bind(endpoint, ec);
    }
    if (!ec)
      port = udp_.local_endpoint().port();
  } else {
    tcp::endpoint endpoint(address, cfg_.listen.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec)
      acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec)
      acceptor_.bind(endpoint, ec);
    if (!ec)
      acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec)
      port = acceptor_.local_endpoint().port();
  }
  if (ec) {
    std::fprintf(stderr, "ipfix-collector: cannot listen on %s:%u: %s\n", cfg_.listen.host.c_str(),
                 cfg_.listen.port, ec.message().c_str());
    return 1;
  }
  if (!cfg_.save.empty()) {
    save_ = std::fopen(cfg_.save.c_str(), "wb");
    if (save_ == nullptr) {
      std::fprintf(stderr, "ipfix-collector: cannot write --save file %s: %s\n", cfg_.save.c_str(),
                   std::strerror(errno));
      return 1;
    }
    std::setvbuf(save_, nullptr, _IOFBF, 1 << 20);
  }
  if (!cfg_.port_file.empty()) {
    if (auto err = write_file_atomically(cfg_.port_file, std::to_string(port) + "\n");
        !err.empty()) {
      std::fprintf(stderr, "ipfix-collector: %s\n", err.c_str());
      return 1;
    }
  }
  if (!cfg_.quiet)
    std::fprintf(stderr, "ipfix-collector: listening on %s %s port %u\n", cfg_.udp ? "UDP" : "TCP",
                 cfg_.listen.host.c_str(), port);
  if (cfg_.duration)
    deadline_ = steady::now() + std::chrono::duration_cast<steady::duration>(*cfg_.duration);
  if (cfg_.udp)
    receive_udp();
  else
    accept();
  wait_signal();
  tick();
  ioc_.run();

  if (save_ != nullptr && std::fclose(save_) != 0 && !save_failed_) {
    std::fprintf(stderr, "ipfix-collector: writing %s failed: %s\n", cfg_.save.c_str(),
                 std::strerror(errno));
    save_failed_ = true;
  }
  flush_print();
  std::fflush(stdout);
  missing_ = count_missing();
  double seconds = t_.any_connection && t_.records > 0
                       ? std::chrono::duration<double>(t_.last_data - t_.first_data).count()
                       : 0.0;
  if (!cfg_.report.empty()) {
    if (auto err = write_file_atomically(cfg_.report, report_json(seconds)); !err.empty())
      std::fprintf(stderr, "ipfix-collector: %s\n", err.c_str());
  }
  if (!cfg_.quiet)
    summary(seconds);
  bool bad = !t_.malformed.empty() || t_.sequence_errors > 0 || t_.mismatched > 0 ||
             t_.duplicates > 0 || missing_ > 0 || save_failed_;
  return bad ? 1 : 0;
}

int run_collector(const collector_config& cfg) {
  collector c(cfg);
  return c.run();
}

} // namespace fa::tools
