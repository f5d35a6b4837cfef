#include "config/endpoint.hpp"

#include "config/enum_names.hpp"
#include "config/render.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>

namespace fa::config {

namespace {

bool is_alnum(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool valid_ipv4(const std::string& x) {
  std::array<unsigned char, 4> buf{};
  return inet_pton(AF_INET, x.c_str(), buf.data()) == 1;
}

bool valid_ipv6(const std::string& x) {
  std::array<unsigned char, 16> buf{};
  return inet_pton(AF_INET6, x.c_str(), buf.data()) == 1;
}

/// RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens.
bool valid_host_name(std::string_view x) {
  if (x.empty() || x.size() > 253)
    return false;
  while (!x.empty()) {
    auto dot = x.find('.');
    auto label = x.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    if (!std::all_of(label.begin(), label.end(), [](char c) { return is_alnum(c) || c == '-'; }))
      return false;
    if (dot == std::string_view::npos)
      break;
    x.remove_prefix(dot + 1);
  }
  return true;
}

struct authority {
  std::string host;
  std::optional<std::uint16_t> port; // absent = not given
};

/// Splits and checks "host:port", "[v6]:port", "host" or "[v6]". `min_port` is 0 or 1.
parsed<authority> parse_authority(std::string_view text, int min_port) {
  parsed<authority> result;
  authority out;
  std::string_view port_text;
  bool has_port = false;
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos) {
      result.error = "missing \"]\" after the IPv6 address";
      return result;
    }
    out.host = std::string{text.substr(1, close - 1)};
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        result.error = "expected \":PORT\" after \"]\"";
        return result;
      }
      has_port = true;
      port_text = rest.substr(1);
    }
    if (!valid_ipv6(out.host)) {
      result.error = toml_quote(out.host) + " is not an IPv6 address";
      return result;
    }
  } else {
    auto colon = text.rfind(':');
    if (colon != std::string_view::npos && text.find(':') != colon) {
      result.error = "an IPv6 address needs brackets, as in \"[::1]:4739\"";
      return result;
    }
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = text.substr(colon + 1);
      text = text.substr(0, colon);
    }
    out.host = std::string{text};
    if (out.host.empty()) {
      result.error = "the host is missing";
      return result;
    }
    bool looks_numeric = std::all_of(out.host.begin(), out.host.end(),
                                     [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
    if (looks_numeric ? !valid_ipv4(out.host) : !valid_host_name(out.host)) {
      result.error = toml_quote(out.host) + " is not an IPv4 address or a host name";
      return result;
    }
  }
  if (has_port) {
    if (port_text.empty() || port_text.size() > 5 ||
        !std::all_of(port_text.begin(), port_text.end(),
                     [](char c) { return c >= '0' && c <= '9'; })) {
      result.error = "the port " + toml_quote(port_text) + " is not a number";
      return result;
    }
    auto port = std::stoi(std::string{port_text});
    if (port < min_port || port > 65535) {
      result.error = "port " + std::to_string(port) + " is out of range; expected " +
                     std::to_string(min_port) + " to 65535";
      return result;
    }
    out.port = static_cast<std::uint16_t>(port);
  }
  result.value = std::move(out);
  return result;
}

/// Strips "scheme://" and returns the scheme, or nullopt when there is no "://".
std::optional<std::string_view> take_scheme(std::string_view& text) {
  auto sep = text.find("://");
  if (sep == std::string_view::npos)
    return std::nullopt;
  auto scheme = text.substr(0, sep);
  text.remove_prefix(sep + 3);
  return scheme;
}

bool has_path_or_query(std::string_view authority_text) {
  return authority_text.find_first_of("/?#@") != std::string_view::npos;
}

} // namespace

parsed<listen_endpoint> parse_listen_url(std::string_view text) {
  constexpr std::string_view hint =
      "expected a URL such as \"tcp://0.0.0.0:4739\", \"udp://[::]:4739\", "
      "\"tls://0.0.0.0:4740\", \"grpc://0.0.0.0:14739\" or \"grpcs://0.0.0.0:14739\"";
  parsed<listen_endpoint> result;
  auto rest = text;
  auto scheme = take_scheme(rest);
  if (!scheme) {
    result.error =
        std::string{"missing \"tcp://\", \"udp://\", \"tls://\", \"grpc://\" or \"grpcs://\"; "} +
        std::string{hint};
    return result;
  }
  auto transport = enum_from_string<transport_kind>(*scheme);
  if (!transport) {
    result.error = "unknown scheme " + toml_quote(*scheme) + "; " + std::string{hint};
    return result;
  }
  if (has_path_or_query(rest)) {
    result.error = "a listener URL has no path, query or user; " + std::string{hint};
    return result;
  }
  auto auth = parse_authority(rest, 0);
  if (!auth.value) {
    result.error = auth.error + "; " + std::string{hint};
    return result;
  }
  listen_endpoint out;
  out.transport = *transport;
  out.host = std::move(auth.value->host);
  auto default_port = *transport == transport_kind::tls ? ipfix_tls_port
                      : *transport == transport_kind::grpc || *transport == transport_kind::grpcs
                          ? antrea_grpc_port
                          : ipfix_port;
  out.port = auth.value->port.value_or(default_port);
  result.value = std::move(out);
  return result;
}

namespace {

/// "database=D&table=T" of a clickhouse+ URL into `out`; the error, or "" when fine.
std::string parse_clickhouse_query(std::string_view query, destination_url& out) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = item.find('=');
    auto key = item.substr(0, eq);
    auto value = eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
    if (key != "database" && key != "table")
      return "unknown URL parameter " + toml_quote(key) + "; only \"database\" and \"table\"";
    // Plain identifiers only: they go into SQL unquoted.
    bool plain =
        !value.empty() && !(value[0] >= '0' && value[0] <= '9') &&
        std::all_of(value.begin(), value.end(), [](char c) { return is_alnum(c) || c == '_'; });
    if (!plain)
      return "the " + std::string{key} + " " + toml_quote(value) +
             " is not a plain name (letters, digits and \"_\", not starting with a digit)";
    (key == "database" ? out.database : out.table) = std::string{value};
  }
  return {};
}

} // namespace

parsed<destination_url> parse_destination_url(std::string_view text) {
  constexpr std::string_view hint =
      "expected \"ipfix+tcp://HOST:PORT\", \"ipfix+udp://HOST:PORT\", "
      "\"ipfix+tls://HOST:PORT\", \"jsonl:stdout\", \"jsonl:/PATH\", "
      "\"clickhouse+http://HOST:PORT/?database=DB&table=TABLE\", \"clickhouse+https://...\", "
      "\"flowlog:/PATH\" or \"grpc-stream://ADDRESS:PORT\"";
  parsed<destination_url> result;
  for (auto prefix : {std::string_view{"jsonl:"}, std::string_view{"flowlog:"}}) {
    if (!text.starts_with(prefix))
      continue;
    auto path = text.substr(prefix.size());
    auto scheme = prefix.substr(0, prefix.size() - 1);
    if (path.empty()) {
      result.error = "the path is missing; " + std::string{hint};
      return result;
    }
    if (path.starts_with("//")) {
      result.error =
          "write \"" + std::string{scheme} + ":/PATH\" with no \"//\"; " + std::string{hint};
      return result;
    }
    destination_url out;
    out.kind = prefix == "jsonl:" ? destination_kind::jsonl : destination_kind::flowlog;
    out.path = std::string{path};
    if (out.kind == destination_kind::flowlog &&
        (out.path == "stdout" || out.path.ends_with("/"))) {
      result.error = "a flow log is a file: \"flowlog:/PATH/FILE.csv\"";
      return result;
    }
    result.value = std::move(out);
    return result;
  }
  auto rest = text;
  auto scheme = take_scheme(rest);
  std::optional<destination_kind> kind;
  if (scheme && *scheme != "jsonl" && *scheme != "flowlog")
    kind = enum_from_string<destination_kind>(*scheme);
  if (!kind) {
    result.error = (scheme ? "unknown scheme " + toml_quote(*scheme) + "; " : std::string{}) +
                   std::string{hint};
    return result;
  }
  destination_url out;
  out.kind = *kind;
  out.path.clear();
  const bool clickhouse = out.is_clickhouse();
  if (clickhouse) {
    // "HOST:PORT", then "/" or nothing, then "?database=..&table=..".
    auto q = rest.find('?');
    auto query = q == std::string_view::npos ? std::string_view{} : rest.substr(q + 1);
    rest = rest.substr(0, q);
    if (rest.ends_with('/'))
      rest.remove_suffix(1);
    if (auto err = parse_clickhouse_query(query, out); !err.empty()) {
      result.error = err + "; " + std::string{hint};
      return result;
    }
  }
  if (has_path_or_query(rest)) {
    result.error = std::string{clickhouse ? "a ClickHouse URL has no path other than \"/\" and no "
                                            "user (use the user and password_file keys)"
                                          : "an IPFIX destination URL has no path, query or user"} +
                   "; " + std::string{hint};
    return result;
  }
  const bool stream =
      *kind == destination_kind::grpc_stream || *kind == destination_kind::grpcs_stream;
  // A flow stream is served here: the host is the address to bind, and port 0 (ephemeral)
  // is allowed, as for listeners.
  auto auth = parse_authority(rest, stream ? 0 : 1);
  if (!auth.value) {
    result.error = auth.error + "; " + std::string{hint};
    return result;
  }
  out.host = std::move(auth.value->host);
  if (stream && !valid_ipv4(out.host) && !valid_ipv6(out.host)) {
    result.error = toml_quote(out.host) +
                   " is not an IP address; a flow stream listens on an address such as "
                   "\"grpc-stream://0.0.0.0:14740\"";
    return result;
  }
  std::uint16_t default_port = ipfix_port;
  if (*kind == destination_kind::ipfix_tls)
    default_port = ipfix_tls_port;
  else if (*kind == destination_kind::clickhouse_http)
    default_port = clickhouse_http_port;
  else if (*kind == destination_kind::clickhouse_https)
    default_port = clickhouse_https_port;
  else if (stream)
    default_port = antrea_flow_stream_port;
  out.port = auth.value->port.value_or(default_port);
  result.value = std::move(out);
  return result;
}

parsed<host_port> parse_host_port(std::string_view text) {
  constexpr std::string_view hint = "expected \"HOST:PORT\" such as \"127.0.0.1:10348\"";
  parsed<host_port> result;
  if (text.find("://") != std::string_view::npos || has_path_or_query(text)) {
    result.error = "no scheme or path here; " + std::string{hint};
    return result;
  }
  auto auth = parse_authority(text, 0);
  if (!auth.value) {
    result.error = auth.error + "; " + std::string{hint};
    return result;
  }
  if (!auth.value->port) {
    result.error = "the port is missing; " + std::string{hint};
    return result;
  }
  result.value = host_port{std::move(auth.value->host), *auth.value->port};
  return result;
}

} // namespace fa::config
