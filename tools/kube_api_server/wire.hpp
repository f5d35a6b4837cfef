#pragma once

// The Kubernetes API server's wire text (tools/kube_api_server): HTTP/1.1 responses and
// chunks, watch event lines, Status objects and continue tokens, as the API server
// writes them.

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <string_view>

namespace fa::tools::kube_wire {

using nlohmann::json;

/// Base64 (RFC 4648 4), as the API encodes continue tokens.
std::string base64(std::string_view in);
/// The inverse of `base64`; characters outside its alphabet (padding included) are skipped.
std::string unbase64(std::string_view in);
/// A URL query component with its %XX escapes and '+' decoded.
std::string unescape(std::string_view s);
/// A metav1 Status object (kind Status, status Failure) for an error response.
json status_object(int code, const std::string& reason, const std::string& message);
/// "OK", "Unauthorized", ... for the status line.
std::string reason_phrase(int code);
/// A whole HTTP/1.1 response with a JSON body.
std::string response(int code, const std::string& body);
/// One chunk of a chunked watch response (RFC 9112 7.1).
std::string chunk(const std::string& data);

/// A Pod as a list item: the API leaves kind and apiVersion to the list.
std::shared_ptr<const std::string> list_item(json obj);
/// One watch event: {"type": ..., "object": ...} and a newline.
std::string event_line(const std::string& type, const std::string& object);
} // namespace fa::tools::kube_wire
