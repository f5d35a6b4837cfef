#pragma once

#include "config/config.hpp"

#include <array>
#include <optional>
#include <span>
#include <string_view>

/// The TOML spelling of every configuration enumeration, in one place, for parsing,
/// rendering and error messages ("expected \"block\" or \"drop\"").
namespace fa::config {

template <class Enum>
struct enum_name {
  Enum value;
  std::string_view name;
};

/// Specialised below for every enumeration that appears in TOML.
template <class Enum>
struct enum_traits;

template <>
struct enum_traits<run_mode> {
  static constexpr std::array<enum_name<run_mode>, 2> names{{
      {run_mode::proxy, "proxy"},
      {run_mode::aggregate, "aggregate"},
  }};
};

template <>
struct enum_traits<transport_kind> {
  static constexpr std::array<enum_name<transport_kind>, 5> names{{
      {transport_kind::tcp, "tcp"},
      {transport_kind::udp, "udp"},
      {transport_kind::tls, "tls"},
      {transport_kind::grpc, "grpc"},
      {transport_kind::grpcs, "grpcs"},
  }};
};

template <>
struct enum_traits<destination_kind> {
  static constexpr std::array<enum_name<destination_kind>, 9> names{{
      {destination_kind::ipfix_tcp, "ipfix+tcp"},
      {destination_kind::ipfix_udp, "ipfix+udp"},
      {destination_kind::ipfix_tls, "ipfix+tls"},
      {destination_kind::jsonl, "jsonl"},
      {destination_kind::clickhouse_http, "clickhouse+http"},
      {destination_kind::clickhouse_https, "clickhouse+https"},
      {destination_kind::flowlog, "flowlog"},
      {destination_kind::grpc_stream, "grpc-stream"},
      {destination_kind::grpcs_stream, "grpcs-stream"},
  }};
};

template <>
struct enum_traits<on_full_policy> {
  static constexpr std::array<enum_name<on_full_policy>, 2> names{{
      {on_full_policy::block, "block"},
      {on_full_policy::drop, "drop"},
  }};
};

template <>
struct enum_traits<uncorrelated_policy> {
  static constexpr std::array<enum_name<uncorrelated_policy>, 2> names{{
      {uncorrelated_policy::export_flow, "export"},
      {uncorrelated_policy::drop, "drop"},
  }};
};

template <>
struct enum_traits<compression_kind> {
  static constexpr std::array<enum_name<compression_kind>, 2> names{{
      {compression_kind::gzip, "gzip"},
      {compression_kind::none, "none"},
  }};
};

template <>
struct enum_traits<clickhouse_format> {
  static constexpr std::array<enum_name<clickhouse_format>, 2> names{{
      {clickhouse_format::row_binary, "RowBinary"},
      {clickhouse_format::json_each_row, "JSONEachRow"},
  }};
};

/// Antrea's spelling, case-sensitive (antrea-grpc-transport.md 6.2).
template <>
struct enum_traits<rule_action> {
  static constexpr std::array<enum_name<rule_action>, 4> names{{
      {rule_action::none, "None"},
      {rule_action::allow, "Allow"},
      {rule_action::drop, "Drop"},
      {rule_action::reject, "Reject"},
  }};
};

template <>
struct enum_traits<fanout_mode> {
  static constexpr std::array<enum_name<fanout_mode>, 3> names{{
      {fanout_mode::all, "all"},
      {fanout_mode::hash, "hash"},
      {fanout_mode::flow, "flow"},
  }};
};

template <>
struct enum_traits<label_source> {
  static constexpr std::array<enum_name<label_source>, 3> names{{
      {label_source::none, "none"},
      {label_source::file, "file"},
      {label_source::kubernetes, "kubernetes"},
  }};
};

template <>
struct enum_traits<log_level> {
  static constexpr std::array<enum_name<log_level>, 5> names{{
      {log_level::trace, "trace"},
      {log_level::debug, "debug"},
      {log_level::info, "info"},
      {log_level::warn, "warn"},
      {log_level::error, "error"},
  }};
};

template <>
struct enum_traits<log_format> {
  static constexpr std::array<enum_name<log_format>, 2> names{{
      {log_format::text, "text"},
      {log_format::json, "json"},
  }};
};

/// The spelling of `x`; "?" for a value outside the enumeration.
template <class Enum>
constexpr std::string_view enum_to_string(Enum x) noexcept {
  for (const auto& entry : enum_traits<Enum>::names)
    if (entry.value == x)
      return entry.name;
  return "?";
}

/// The enumerator spelled exactly `text`, if any.
template <class Enum>
constexpr std::optional<Enum> enum_from_string(std::string_view text) noexcept {
  for (const auto& entry : enum_traits<Enum>::names)
    if (entry.name == text)
      return entry.value;
  return std::nullopt;
}

} // namespace fa::config
