#pragma once

// `flow-aggregator inspect`: reads the admin API (/api/v1) of a running flow-aggregator
// and prints aligned tables, or the JSON as it came.

#include <string>

namespace fa::app {

struct inspect_options {
  std::string what; ///< sessions, templates, destinations, labels, actors, flows, aggregators
  /// "127.0.0.1:10348", "[::1]:10348" (plain HTTP), "http://HOST:PORT" or
  /// "https://HOST:PORT".
  std::string admin;
  std::string cacert; ///< https: PEM CA file to verify the server with; "" = system CAs
  std::string token;  ///< "" = none
  std::string ip;     ///< labels: look this address up; flows: only flows of this address
  std::string port;   ///< flows: only flows of this port ("" = any)
  std::string limit;  ///< flows: at most this many ("" = the API's default, 100)
  bool json = false;  ///< -o json
};

/// Prints the view on stdout; errors on stderr. Returns the exit code: 0, 1 when the API
/// cannot be reached or refuses, 2 for an unknown view or an admin URL of another scheme.
int inspect(const inspect_options& opts);

} // namespace fa::app
