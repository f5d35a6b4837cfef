#pragma once

// IPFIX over UDP to one collector (RFC 7011 10.3): the `client` for ipfix+udp.
//
// A connected UDP socket: the kernel then reports an ICMP port unreachable from the
// collector as ECONNREFUSED on the next send. Nothing reads the socket (collectors send
// nothing), so the error always surfaces in a write, whose datagrams are then sent
// again; the price is that an idle exporter notices a dead collector only when it next
// has something to send. Each `write_job` carries its
// datagram boundaries (`write_job::datagrams`); every datagram is one IPFIX message,
// never split over two datagrams and never two messages in one (RFC 7011 10.3.3: the
// exporter packs messages to fit the path, `max_message_size`). The datagrams of one
// job go out with `sendmmsg`, many per system call; with UDP GSO (`UDP_SEGMENT`, Linux
// >= 4.18) each run of equal-sized datagrams is one send the kernel cuts into those same
// datagrams, so the stack is walked once per run instead of once per datagram. When the
// kernel refuses GSO on the route (EIO, EINVAL: no checksum offload, a segment above the
// path MTU), the refused run goes again as plain datagrams and the client stops using
// GSO; `udp_client_options::gso_refused` counts it.
//
// Delivery is at least once *for the datagrams of the failing write only*:
// - When a send reports ECONNREFUSED (or any other error), the client reports
//   `disconnected` and never `written` for that job, so the exporter sends every
//   datagram of the job again on its next connection. Datagrams of the job that had
//   left before the error may then arrive twice.
// - UDP has no acknowledgement: the datagram whose ICMP error the kernel reports was
//   sent by an earlier write, which was already reported `written`. Those datagrams
//   are lost without a trace here (RFC 7011 10.3: UDP is for when loss is acceptable;
//   a collector sees the gap in the sequence numbers, RFC 7011 3.1). While the
//   collector stays down, this is the first write on each new connection.

#include "net/client.hpp"

#include <asio.hpp>

#include <functional>

#include <memory>
#include <string>

namespace fa::net {

struct udp_client_options {
  /// Send runs of equal-sized datagrams with UDP GSO (`UDP_SEGMENT`).
  bool gso = true;
  /// Called (on the client's strand) when the kernel refused a GSO send with `err`;
  /// the client then sends plain datagrams for the rest of its life.
  std::function<void(int err)> gso_refused;
};

class udp_client : public client, public std::enable_shared_from_this<udp_client> {
 public:
  using handlers = client_handlers;

  udp_client(asio::io_context& ctx, std::string host, std::uint16_t port, handlers h,
             udp_client_options opts = {});

  /// Resolves the host, opens a new socket (a new source port: a new transport session
  /// for the collector, RFC 7011 10.3.1) and connects it. Reports `connected` at once:
  /// UDP has no handshake, so a dead collector shows only when a send fails.
  void connect(std::uint64_t gen) override;

  /// Sends every datagram of `job` (one per entry of `job->datagrams`; an empty list is
  /// one datagram). Reports `written` with the octets of all of them, or `disconnected`
  /// when a send fails, in which case the caller sends the whole job again.
  void write(std::uint64_t gen, std::shared_ptr<write_job> job) override;

  /// UDP has no half-close: the same as closing once the pending write is done.
  void shutdown(std::uint64_t gen) override;

  /// Closes at once, no callbacks.
  void stop() override;

  /// The socket, for inspection and tests; use on the strand only (in a handler).
  int native_handle() { return socket_.native_handle(); }

 private:
  void fail(std::uint64_t gen, const std::string& reason);
  /// The system-call view of one job, built once per write, alive across waits.
  struct pending_send;
  std::shared_ptr<pending_send> prepare(std::shared_ptr<write_job> job);
  void pump(std::uint64_t gen, std::shared_ptr<pending_send> p);
  void close_socket();

  asio::strand<asio::any_io_executor> strand_;
  asio::ip::udp::resolver resolver_;
  asio::ip::udp::socket socket_;
  std::string host_;
  std::uint16_t port_;
  handlers h_;
  udp_client_options opts_;
  bool gso_ = true; ///< false once the kernel refused GSO (or `opts_.gso` is off)
  std::uint64_t gen_ = 0;
  bool up_ = false;
  bool stopped_ = false;
};

using udp_client_ptr = std::shared_ptr<udp_client>;

} // namespace fa::net
