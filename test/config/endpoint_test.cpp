#include "config/endpoint.hpp"

#include <gtest/gtest.h>

using namespace fa::config;

namespace {

TEST(endpoint, listen_urls) {
  auto tcp = parse_listen_url("tcp://0.0.0.0:4739");
  ASSERT_TRUE(tcp.value) << tcp.error;
  EXPECT_EQ(*tcp.value, (listen_endpoint{transport_kind::tcp, "0.0.0.0", 4739}));
  auto udp = parse_listen_url("udp://[::]:4739");
  ASSERT_TRUE(udp.value) << udp.error;
  EXPECT_EQ(*udp.value, (listen_endpoint{transport_kind::udp, "::", 4739}));
  auto tls = parse_listen_url("tls://0.0.0.0:4740");
  ASSERT_TRUE(tls.value) << tls.error;
  EXPECT_EQ(*tls.value, (listen_endpoint{transport_kind::tls, "0.0.0.0", 4740}));
  auto ephemeral = parse_listen_url("tcp://127.0.0.1:0");
  ASSERT_TRUE(ephemeral.value) << ephemeral.error;
  EXPECT_EQ(ephemeral.value->port, 0);
  auto name = parse_listen_url("tcp://localhost:65535");
  ASSERT_TRUE(name.value) << name.error;
  EXPECT_EQ(name.value->host, "localhost");
  EXPECT_EQ(name.value->port, 65535);
}

TEST(endpoint, listen_ports_default_to_the_iana_ports) {
  EXPECT_EQ(parse_listen_url("tcp://0.0.0.0").value->port, 4739);
  EXPECT_EQ(parse_listen_url("udp://[::1]").value->port, 4739);
  EXPECT_EQ(parse_listen_url("tls://0.0.0.0").value->port, 4740);
}

TEST(endpoint, invalid_listen_urls_say_what_is_valid) {
  for (const char* text :
       {"0.0.0.0:4739", "http://0.0.0.0:80", "tcp://:4739", "tcp://0.0.0.0:70000", "tcp://0.0.0.0:",
        "tcp://0.0.0.0:abc", "tcp://::1:4739", "tcp://[::1", "tcp://[::1]4739", "tcp://[zz::1]:1",
        "tcp://256.1.1.1:1", "tcp://0.0.0.0:4739/path", "tcp://-bad-:1", "tcp://user@host:1", ""}) {
    auto result = parse_listen_url(text);
    EXPECT_FALSE(result.value) << text;
    EXPECT_NE(result.error.find("\"tcp://0.0.0.0:4739\""), std::string::npos) << result.error;
  }
  EXPECT_NE(parse_listen_url("tcp://0.0.0.0:70000").error.find("port 70000 is out of range"),
            std::string::npos);
  EXPECT_NE(parse_listen_url("tcp://::1:4739").error.find("brackets"), std::string::npos);
}

TEST(endpoint, destination_urls) {
  auto tcp = parse_destination_url("ipfix+tcp://collector.example.com:4739");
  ASSERT_TRUE(tcp.value) << tcp.error;
  EXPECT_EQ(tcp.value->kind, destination_kind::ipfix_tcp);
  EXPECT_EQ(tcp.value->host, "collector.example.com");
  EXPECT_EQ(tcp.value->port, 4739);
  EXPECT_TRUE(tcp.value->is_ipfix());
  auto udp = parse_destination_url("ipfix+udp://[2001:db8::1]:2055");
  ASSERT_TRUE(udp.value) << udp.error;
  EXPECT_EQ(udp.value->kind, destination_kind::ipfix_udp);
  EXPECT_EQ(udp.value->host, "2001:db8::1");
  EXPECT_EQ(udp.value->port, 2055);
  auto tls = parse_destination_url("ipfix+tls://10.0.0.1");
  ASSERT_TRUE(tls.value) << tls.error;
  EXPECT_EQ(tls.value->kind, destination_kind::ipfix_tls);
  EXPECT_EQ(tls.value->port, 4740);
  auto out = parse_destination_url("jsonl:stdout");
  ASSERT_TRUE(out.value) << out.error;
  EXPECT_TRUE(out.value->is_stdout());
  EXPECT_FALSE(out.value->is_ipfix());
  auto file = parse_destination_url("jsonl:/var/log/flows.jsonl");
  ASSERT_TRUE(file.value) << file.error;
  EXPECT_EQ(file.value->kind, destination_kind::jsonl);
  EXPECT_EQ(file.value->path, "/var/log/flows.jsonl");
  EXPECT_FALSE(file.value->is_stdout());
  EXPECT_EQ(parse_destination_url("jsonl:flows.jsonl").value->path, "flows.jsonl");
}

TEST(endpoint, invalid_destination_urls_say_what_is_valid) {
  for (const char* text : {"tcp://collector:4739", "ipfix+tcp://collector:0", "ipfix+tcp://:4739",
                           "ipfix+sctp://c:1", "jsonl:", "jsonl://var/x", "jsonl", "stdout",
                           "ipfix+tcp://c:4739/x", "ipfix+tcp://c:99999", "jsonl://stdout", ""}) {
    auto result = parse_destination_url(text);
    EXPECT_FALSE(result.value) << text;
    EXPECT_NE(result.error.find("\"ipfix+tcp://HOST:PORT\""), std::string::npos) << result.error;
  }
  EXPECT_NE(parse_destination_url("tcp://c:4739").error.find("unknown scheme \"tcp\""),
            std::string::npos);
  EXPECT_NE(parse_destination_url("ipfix+tcp://c:0").error.find("expected 1 to 65535"),
            std::string::npos);
}

TEST(endpoint, clickhouse_and_flow_log_urls) {
  auto ch =
      parse_destination_url("clickhouse+http://ch.example:8123/?database=netflow&table=flows2");
  ASSERT_TRUE(ch.value) << ch.error;
  EXPECT_EQ(ch.value->kind, destination_kind::clickhouse_http);
  EXPECT_EQ(ch.value->host, "ch.example");
  EXPECT_EQ(ch.value->port, 8123);
  EXPECT_EQ(ch.value->database, "netflow");
  EXPECT_EQ(ch.value->table, "flows2");
  EXPECT_TRUE(ch.value->is_clickhouse());
  EXPECT_FALSE(ch.value->is_ipfix());
  auto defaults = parse_destination_url("clickhouse+https://[fd00::5]");
  ASSERT_TRUE(defaults.value) << defaults.error;
  EXPECT_EQ(defaults.value->kind, destination_kind::clickhouse_https);
  EXPECT_EQ(defaults.value->host, "fd00::5");
  EXPECT_EQ(defaults.value->port, 8443);
  EXPECT_EQ(defaults.value->database, "default");
  EXPECT_EQ(defaults.value->table, "flows");
  EXPECT_EQ(parse_destination_url("clickhouse+http://c/").value->port, 8123);
  auto fl = parse_destination_url("flowlog:/var/log/fa/flows.csv");
  ASSERT_TRUE(fl.value) << fl.error;
  EXPECT_EQ(fl.value->kind, destination_kind::flowlog);
  EXPECT_EQ(fl.value->path, "/var/log/fa/flows.csv");
  EXPECT_FALSE(fl.value->is_ipfix());
  EXPECT_EQ(to_string(*ch.value),
            "clickhouse+http://ch.example:8123/?database=netflow&table=flows2");
  EXPECT_EQ(to_string(*defaults.value),
            "clickhouse+https://[fd00::5]:8443/?database=default&table=flows");
  EXPECT_EQ(to_string(*fl.value), "flowlog:/var/log/fa/flows.csv");
}

TEST(endpoint, invalid_clickhouse_and_flow_log_urls) {
  auto error = [](const char* text) {
    auto r = parse_destination_url(text);
    EXPECT_FALSE(r.value) << text;
    return r.error;
  };
  EXPECT_NE(error("clickhouse+http://c:8123/?db=x").find("unknown URL parameter \"db\""),
            std::string::npos);
  EXPECT_NE(error("clickhouse+http://c/?table=a;drop").find("is not a plain name"),
            std::string::npos);
  EXPECT_NE(error("clickhouse+http://c/?database=").find("is not a plain name"), std::string::npos);
  EXPECT_NE(error("clickhouse+http://user:pw@c:8123/").find("use the user and password_file keys"),
            std::string::npos);
  EXPECT_NE(error("clickhouse+http://c:8123/x").find("no path other than"), std::string::npos);
  EXPECT_NE(error("clickhouse://c:8123").find("unknown scheme \"clickhouse\""), std::string::npos);
  EXPECT_NE(error("flowlog:").find("the path is missing"), std::string::npos);
  EXPECT_NE(error("flowlog://x").find("\"flowlog:/PATH\" with no \"//\""), std::string::npos);
  EXPECT_NE(error("flowlog:/var/log/").find("a flow log is a file"), std::string::npos);
}

TEST(endpoint, host_port) {
  auto v4 = parse_host_port("127.0.0.1:10348");
  ASSERT_TRUE(v4.value) << v4.error;
  EXPECT_EQ(*v4.value, (host_port{"127.0.0.1", 10348}));
  auto v6 = parse_host_port("[::1]:0");
  ASSERT_TRUE(v6.value) << v6.error;
  EXPECT_EQ(*v6.value, (host_port{"::1", 0}));
  for (const char* text : {"127.0.0.1", "http://127.0.0.1:1", "x:99999", ":1", "x:1/metrics"})
    EXPECT_FALSE(parse_host_port(text).value) << text;
}

TEST(endpoint, urls_render_back) {
  EXPECT_EQ(to_string(listen_endpoint{transport_kind::udp, "::", 4739}), "udp://[::]:4739");
  EXPECT_EQ(to_string(listen_endpoint{transport_kind::tcp, "0.0.0.0", 0}), "tcp://0.0.0.0:0");
  EXPECT_EQ(to_string(*parse_destination_url("ipfix+tls://[fe80::1]:4740").value),
            "ipfix+tls://[fe80::1]:4740");
  EXPECT_EQ(to_string(*parse_destination_url("jsonl:/tmp/x").value), "jsonl:/tmp/x");
  EXPECT_EQ(to_string(host_port{"::1", 10348}), "[::1]:10348");
}

} // namespace

namespace {

// Issue 13: Antrea's gRPC export listener and the flow stream destination.
TEST(endpoint, grpc_listeners_default_to_antreas_port) {
  auto grpc = parse_listen_url("grpc://0.0.0.0");
  ASSERT_TRUE(grpc.value) << grpc.error;
  EXPECT_EQ(*grpc.value, (listen_endpoint{transport_kind::grpc, "0.0.0.0", 14739}));
  auto grpcs = parse_listen_url("grpcs://[::1]:0");
  ASSERT_TRUE(grpcs.value) << grpcs.error;
  EXPECT_EQ(*grpcs.value, (listen_endpoint{transport_kind::grpcs, "::1", 0}));
  EXPECT_EQ(to_string(*grpcs.value), "grpcs://[::1]:0");
}

TEST(endpoint, flow_stream_destinations_listen_on_an_address) {
  auto s = parse_destination_url("grpc-stream://0.0.0.0");
  ASSERT_TRUE(s.value) << s.error;
  EXPECT_EQ(s.value->kind, destination_kind::grpc_stream);
  EXPECT_EQ(s.value->host, "0.0.0.0");
  EXPECT_EQ(s.value->port, 14740);
  EXPECT_TRUE(s.value->is_flow_stream());
  EXPECT_FALSE(s.value->is_ipfix());
  auto tls = parse_destination_url("grpcs-stream://[::1]:0");
  ASSERT_TRUE(tls.value) << tls.error;
  EXPECT_EQ(tls.value->kind, destination_kind::grpcs_stream);
  EXPECT_EQ(tls.value->port, 0) << "ephemeral, as for listeners";
  EXPECT_EQ(to_string(*tls.value), "grpcs-stream://[::1]:0");
  auto name = parse_destination_url("grpc-stream://collector:14740");
  EXPECT_FALSE(name.value) << "a server binds an address, not a name";
  EXPECT_NE(name.error.find("not an IP address"), std::string::npos) << name.error;
}

} // namespace
