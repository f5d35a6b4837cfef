#pragma once

#include "config/config.hpp"

#include <optional>
#include <string>
#include <string_view>

/// Parsing of the URLs and addresses in the configuration. Pure string work: nothing here
/// resolves a name or opens a socket.
namespace fa::config {

/// A parsed value, or why the text is not one.
template <class T>
struct parsed {
  std::optional<T> value;
  std::string error; ///< what is wrong and what would be right; empty on success
};

/// "tcp://0.0.0.0:4739", "udp://[::]:4739", "tls://0.0.0.0:4740", "grpc://0.0.0.0:14739",
/// "grpcs://[::]:14739". The port may be 0 (ephemeral) and defaults to 4739 (4740 for
/// tls, 14739 for grpc and grpcs) when absent.
parsed<listen_endpoint> parse_listen_url(std::string_view text);

/// "ipfix+tcp://host:4739", "ipfix+udp://...", "ipfix+tls://...", "jsonl:stdout",
/// "jsonl:/path", "clickhouse+http://host:8123/?database=default&table=flows",
/// "clickhouse+https://...", "flowlog:/path", or "grpc-stream://ADDRESS:PORT" /
/// "grpcs-stream://..." (a flow stream served on that IP address). The port must be
/// 1..65535 (0..65535 for a stream) and defaults to 4739 (4740 for tls, 8123 for
/// clickhouse+http, 8443 for clickhouse+https, 14740 for a stream); the ClickHouse
/// database and table default to "default" and "flows".
parsed<destination_url> parse_destination_url(std::string_view text);

/// "127.0.0.1:10348" or "[::1]:10348"; the port is required and may be 0.
parsed<host_port> parse_host_port(std::string_view text);

} // namespace fa::config
