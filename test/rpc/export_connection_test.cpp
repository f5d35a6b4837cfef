// The gRPC collector's HTTP/2 side (rpc/export_connection) against libnghttp2's own
// client in memory, no socket: messages split across DATA frames and reads, flow control
// as backpressure, and what it refuses (an HTTP/1.1 request, a compressed message, an
// unknown method, an oversized message, a stream that ends inside a message).

#include "rpc/export_connection.hpp"
#include "test/support/grpc_request.hpp"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace fa::rpc {
namespace {

using test::export_path;

std::string v4(const char* text) {
  std::string out(4, '\0');
  ::inet_pton(AF_INET, text, out.data());
  return out;
}

/// A serialized ExportRequest of `n` Flows that the writer accepts.
std::string request(int n) {
  pb::ExportRequest r;
  for (int i = 0; i < n; ++i) {
    auto* f = r.add_flows();
    f->mutable_ipfix()->mutable_export_time()->set_seconds(1'700'000'100);
    f->mutable_ipfix()->set_observation_domain_id(7);
    f->mutable_start_ts()->set_seconds(1'700'000'000 + i);
    f->mutable_end_ts()->set_seconds(1'700'000'060 + i);
    f->mutable_ip()->set_version(pb::IP_VERSION_4);
    f->mutable_ip()->set_source(v4("10.244.1.5"));
    f->mutable_ip()->set_destination(v4("10.244.2.7"));
    f->mutable_transport()->set_protocol_number(6);
    f->mutable_transport()->set_source_port(40000 + static_cast<std::uint32_t>(i));
    f->mutable_transport()->set_destination_port(8080);
    f->mutable_k8s()->set_source_pod_name("client-" + std::to_string(i));
  }
  return r.SerializeAsString();
}

std::string framed(const std::string& m, std::uint8_t compressed = 0) {
  return test::grpc_framed(m, compressed);
}

class noop_inbound : public net::inbound {
 public:
  void close(std::string) override {}
};

/// A server connection and an nghttp2 client with one request stream, pumped in memory.
class h2_pair {
 public:
  explicit h2_pair(export_limits limits = {}, std::int64_t session_budget = 64 << 20)
      : budget_(std::make_shared<messages::byte_budget>(session_budget)) {
    handlers_.open = [this](const asio::ip::address&, std::uint16_t, net::inbound_ptr) {
      ++opened;
      return std::optional<export_session>{
          export_session{{budget_, nullptr},
                         [this](messages::chunk_ptr c) { chunks.push_back(std::move(c)); },
                         [this](const std::string& why) { closed.push_back(why); }}};
    };
    handlers_.refused = [this](std::string_view why, const std::string&, const std::string&) {
      refused.emplace_back(why);
    };
    handlers_.rejected = [this](flow_error, std::uint64_t n, const std::string&) { rejected += n; };
    handlers_.received = [this](std::uint64_t r, std::uint64_t f) {
      requests += r;
      flows += f;
    };
    export_connection::context ctx;
    ctx.address = asio::ip::make_address("127.0.0.1");
    ctx.port = 5000;
    ctx.peer = "127.0.0.1:5000";
    ctx.make_inbound = [](std::int32_t) { return std::make_shared<noop_inbound>(); };
    ctx.make_resume = [this](std::int32_t) { return [this] { ++resumed; }; };
    ctx.stopping = [] { return false; };
    server.emplace(std::move(ctx), limits, handlers_);

    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(cbs, [](nghttp2_session*, const nghttp2_frame*,
                                                             const std::uint8_t* name,
                                                             std::size_t nl,
                                                             const std::uint8_t* value,
                                                             std::size_t vl, std::uint8_t,
                                                             void* user) {
      static_cast<h2_pair*>(user)->response[std::string{reinterpret_cast<const char*>(name), nl}] =
          std::string{reinterpret_cast<const char*>(value), vl};
      return 0;
    });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, [](nghttp2_session*,
                                                                      std::uint8_t, std::int32_t,
                                                                      const std::uint8_t* data,
                                                                      std::size_t len, void* user) {
      static_cast<h2_pair*>(user)->response_body.append(reinterpret_cast<const char*>(data), len);
      return 0;
    });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cbs, [](nghttp2_session*, std::int32_t, std::uint32_t code, void* user) {
          static_cast<h2_pair*>(user)->stream_closed = true;
          static_cast<h2_pair*>(user)->close_code = code;
          return 0;
        });
    client_ = test::h2_client(cbs, this);
    nghttp2_session_callbacks_del(cbs);
  }

  ~h2_pair() { nghttp2_session_del(client_); }

  /// Opens the request stream; its DATA frames carry at most `frame` octets each.
  void open(std::string_view path = export_path, std::size_t frame = 16384) {
    frame_ = frame;
    body_.clear(); // a new stream's body
    sent_ = 0;
    end_ = false;
    nghttp2_data_provider body{};
    body.source.ptr = this;
    body.read_callback = [](nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t len,
                            std::uint32_t* flags, nghttp2_data_source* source, void*) -> ssize_t {
      auto& self = *static_cast<h2_pair*>(source->ptr);
      auto n = std::min({len, self.frame_, self.body_.size() - self.sent_});
      std::memcpy(buf, self.body_.data() + self.sent_, n);
      self.sent_ += n;
      if (self.sent_ == self.body_.size()) {
        if (self.end_)
          *flags |= NGHTTP2_DATA_FLAG_EOF;
        else if (n == 0)
          return NGHTTP2_ERR_DEFERRED;
      }
      return static_cast<ssize_t>(n);
    };
    id_ = test::submit_grpc_request(client_, path, &body);
  }

  /// More request octets; `end` half-closes after them.
  void send(const std::string& octets, bool end = false) {
    body_ += octets;
    end_ = end;
    nghttp2_session_resume_data(client_, id_);
  }

  /// Moves octets both ways until neither side has more; the server reads them in
  /// pieces of at most `read` octets. False when the server gave up on the connection.
  bool pump(std::size_t read = 65536) {
    for (int round = 0; round < 10000; ++round) {
      const std::string to_server = test::h2_output(client_);
      for (std::size_t at = 0; at < to_server.size(); at += read) {
        auto n = std::min(read, to_server.size() - at);
        if (!server->receive(reinterpret_cast<const std::uint8_t*>(to_server.data() + at), n))
          return false;
      }
      std::string to_client;
      server->output(to_client);
      if (!to_client.empty())
        nghttp2_session_mem_recv(client_, reinterpret_cast<const std::uint8_t*>(to_client.data()),
                                 to_client.size());
      if (to_server.empty() && to_client.empty())
        return true;
    }
    return true;
  }

  std::size_t unsent() const { return body_.size() - sent_; }
  std::int32_t stream_id() const { return id_; }

  std::optional<export_connection> server;
  std::vector<messages::chunk_ptr> chunks;
  std::vector<std::string> closed, refused;
  std::map<std::string, std::string> response;
  std::string response_body;
  bool stream_closed = false;
  std::uint32_t close_code = 0;
  int opened = 0, resumed = 0;
  std::uint64_t requests = 0, flows = 0, rejected = 0;

 private:
  messages::byte_budget_ptr budget_;
  export_server_handlers handlers_;
  nghttp2_session* client_ = nullptr;
  std::int32_t id_ = 0;
  std::string body_;
  std::size_t sent_ = 0, frame_ = 16384;
  bool end_ = false;
};

std::size_t chunk_octets(const std::vector<messages::chunk_ptr>& chunks) {
  std::size_t n = 0;
  for (const auto& c : chunks)
    n += c->size();
  return n;
}

// One Flow per request (an Agent's shape) and a large request, in DATA frames of 7 octets
// read 3 octets at a time: every message is reassembled, converted, and answered with the
// empty ExportResponse and grpc-status 0 once the client half-closes.
TEST(grpc_export_connection, messages_split_across_frames_and_reads_are_reassembled) {
  h2_pair p;
  p.open(export_path, 7);
  std::string body;
  for (int i = 0; i < 5; ++i)
    body += framed(request(1));
  body += framed(request(300)); // spans many frames of the default size too
  p.send(body, true);
  ASSERT_TRUE(p.pump(3));
  EXPECT_EQ(p.opened, 1);
  EXPECT_EQ(p.requests, 6u);
  EXPECT_EQ(p.flows, 305u);
  EXPECT_EQ(p.rejected, 0u);
  EXPECT_GT(chunk_octets(p.chunks), 305u * 40);
  EXPECT_EQ(p.response[":status"], "200");
  EXPECT_EQ(p.response["content-type"], "application/grpc");
  EXPECT_EQ(p.response["grpc-status"], "0");
  EXPECT_EQ(p.response_body, std::string(5, '\0')); // the empty ExportResponse
  EXPECT_EQ(p.closed, std::vector<std::string>{"eof"});
  EXPECT_TRUE(p.refused.empty());
}

// DESIGN 3: while the session's budget is spent the stream's window is not given back, so
// the client stops once it has used its window; when the budget has room again the
// stream resumes, and every Flow arrives.
TEST(grpc_export_connection, a_spent_budget_closes_the_window_until_it_has_room) {
  export_limits limits;
  limits.stream_window = 65535;
  limits.connection_window = 65535;
  h2_pair p{limits, 1}; // spent by the first chunk
  p.open();
  std::string body;
  for (int i = 0; i < 40; ++i)
    body += framed(request(50)); // ~ 240 KiB in all
  p.send(body, true);
  ASSERT_TRUE(p.pump());
  EXPECT_GT(p.unsent(), 0u) << "the client was not held back";
  EXPECT_LT(p.flows, 2000u);
  EXPECT_TRUE(p.response.empty());
  // Pumping more changes nothing while the budget is spent.
  const auto flows = p.flows;
  ASSERT_TRUE(p.pump());
  EXPECT_EQ(p.flows, flows);
  // Released (the session's actor is done with the chunks): resumed, until all is in.
  for (int round = 0; round < 1000 && p.response.empty(); ++round) {
    const int before = p.resumed;
    p.chunks.clear();
    ASSERT_EQ(p.resumed, before + 1) << "the budget's release did not resume the stream";
    p.server->resume(p.stream_id());
    ASSERT_TRUE(p.pump());
  }
  EXPECT_EQ(p.flows, 2000u);
  EXPECT_EQ(p.unsent(), 0u);
  EXPECT_EQ(p.response["grpc-status"], "0");
}

// RFC 9113 3.4: an HTTP/1.1 request (or anything else that is not the preface) ends the
// connection, counted as not_http2.
TEST(grpc_export_connection, an_http1_request_is_refused_and_counted) {
  h2_pair p;
  std::string get = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  EXPECT_FALSE(p.server->receive(reinterpret_cast<const std::uint8_t*>(get.data()), get.size()));
  EXPECT_EQ(p.refused, std::vector<std::string>{"not_http2"});
  EXPECT_EQ(p.server->reason(), "malformed");
  EXPECT_TRUE(p.server->done());
  EXPECT_EQ(p.opened, 0);
}

// A message with the compressed flag (we announce no encoding): INTERNAL, counted; the
// Flows before it are delivered.
TEST(grpc_export_connection, a_compressed_message_is_refused) {
  h2_pair p;
  p.open();
  p.send(framed(request(2)) + framed(request(1), 1));
  ASSERT_TRUE(p.pump());
  EXPECT_EQ(p.flows, 2u);
  EXPECT_EQ(p.response["grpc-status"], "13");
  EXPECT_EQ(p.refused, std::vector<std::string>{"compressed"});
  EXPECT_EQ(p.closed, std::vector<std::string>{"malformed"});
  EXPECT_TRUE(p.stream_closed); // reset: the client stops sending
}

TEST(grpc_export_connection, an_unknown_method_is_unimplemented) {
  h2_pair p;
  p.open("/antrea_io.antrea.pkg.apis.flow.v1alpha1.FlowExportService/Other");
  p.send(framed(request(1)), true);
  ASSERT_TRUE(p.pump());
  EXPECT_EQ(p.response["grpc-status"], "12");
  EXPECT_EQ(p.refused, std::vector<std::string>{"unknown_method"});
  EXPECT_EQ(p.opened, 0);
  EXPECT_EQ(p.flows, 0u);
}

TEST(grpc_export_connection, a_message_over_the_limit_is_resource_exhausted) {
  export_limits limits;
  limits.max_message_size = 1000;
  h2_pair p{limits};
  p.open();
  p.send(framed(request(1)) + framed(request(100)));
  ASSERT_TRUE(p.pump());
  EXPECT_EQ(p.flows, 1u);
  EXPECT_EQ(p.response["grpc-status"], "8");
  EXPECT_EQ(p.closed, std::vector<std::string>{"cancelled"});
}

TEST(grpc_export_connection, a_stream_that_ends_inside_a_message_is_internal) {
  h2_pair p;
  p.open();
  auto m = framed(request(3));
  p.send(m.substr(0, m.size() - 1), true);
  ASSERT_TRUE(p.pump());
  EXPECT_EQ(p.flows, 0u);
  EXPECT_EQ(p.response["grpc-status"], "13");
  EXPECT_EQ(p.refused, std::vector<std::string>{"bad_request"});
  EXPECT_EQ(p.closed, std::vector<std::string>{"malformed"});
}

// The owner closes the session (shutdown): what was read is delivered, the stream is
// answered UNAVAILABLE, the session's close comes once.
TEST(grpc_export_connection, the_owner_closes_a_stream) {
  h2_pair p;
  p.open();
  p.send(framed(request(4)));
  ASSERT_TRUE(p.pump());
  p.server->close_stream(p.stream_id(), "shutdown");
  ASSERT_TRUE(p.pump());
  EXPECT_EQ(p.flows, 4u);
  EXPECT_EQ(p.response["grpc-status"], "14");
  EXPECT_EQ(p.closed, std::vector<std::string>{"shutdown"});
  p.server->close_all("cancelled");
  EXPECT_EQ(p.closed.size(), 1u);
}

// A connection whose stream ended opens another (the server looks its streams up by id,
// and remembers the last one found): the second stream's messages reach its own session.
TEST(grpc_export_connection, a_stream_after_one_that_ended_gets_its_own_session) {
  h2_pair p;
  p.open();
  p.send(framed(request(2)) + framed(request(1)), true);
  ASSERT_TRUE(p.pump());
  const auto first = p.stream_id();
  EXPECT_EQ(p.response["grpc-status"], "0");
  p.response.clear();
  p.open();
  ASSERT_NE(p.stream_id(), first);
  p.send(framed(request(3)) + framed(request(4)), true);
  ASSERT_TRUE(p.pump());
  EXPECT_EQ(p.opened, 2);
  EXPECT_EQ(p.requests, 4u);
  EXPECT_EQ(p.flows, 10u);
  EXPECT_EQ(p.response["grpc-status"], "0");
  EXPECT_EQ(p.closed, (std::vector<std::string>{"eof", "eof"}));
}

} // namespace
} // namespace fa::rpc
