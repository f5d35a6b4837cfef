#include "sinks/clickhouse_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <fstream>
#include <memory>
#include <sstream>

namespace fa::sinks {

namespace {

using namespace std::string_view_literals;

constexpr std::array failure_reasons{"connect"sv, "no_response"sv, "server"sv,
                                     "auth"sv,    "rejected"sv,    "schema"sv};

// ClickHouse ErrorCodes that say the request's content cannot be inserted as it is: the
// table, database or a column is missing, a value does not parse or fit, the statement
// is wrong. Sending it again changes nothing.
constexpr std::array<int, 27> content_codes{
    6,   // CANNOT_PARSE_TEXT
    8,   // THERE_IS_NO_COLUMN
    10,  // NOT_FOUND_COLUMN_IN_BLOCK
    16,  // NO_SUCH_COLUMN_IN_TABLE
    20,  // NUMBER_OF_COLUMNS_DOESNT_MATCH
    26,  // CANNOT_PARSE_QUOTED_STRING
    27,  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    32,  // ATTEMPT_TO_READ_AFTER_EOF
    33,  // CANNOT_READ_ALL_DATA
    38,  // CANNOT_PARSE_DATE
    41,  // CANNOT_PARSE_DATETIME
    44,  // ILLEGAL_COLUMN
    47,  // UNKNOWN_IDENTIFIER
    53,  // TYPE_MISMATCH
    60,  // UNKNOWN_TABLE
    62,  // SYNTAX_ERROR
    69,  // ARGUMENT_OUT_OF_BOUND
    70,  // CANNOT_CONVERT_TYPE
    72,  // CANNOT_PARSE_NUMBER
    73,  // UNKNOWN_FORMAT
    81,  // UNKNOWN_DATABASE
    115, // UNKNOWN_SETTING
    117, // INCORRECT_DATA
    131, // TOO_LARGE_STRING_SIZE
    354, // CANNOT_INFLATE (a body that is not valid gzip)
    48,  // NOT_IMPLEMENTED (e.g. INSERT into a view that cannot take one)
    36,  // BAD_ARGUMENTS
};

// Credentials and permissions: a config problem, retried (the password file is read
// again) so that fixing it resumes the flow.
constexpr std::array<int, 7> auth_codes{
    164, // READONLY
    192, // UNKNOWN_USER
    193, // WRONG_PASSWORD
    194, // REQUIRED_PASSWORD
    195, // IP_ADDRESS_NOT_ALLOWED
    497, // ACCESS_DENIED
    516, // AUTHENTICATION_FAILED
};

/// `Code: 16, e.displayText() = ...` (18.16) or `Code: 16. DB::Exception: ...` (later).
std::optional<int> error_code(std::string_view body) {
  auto at = body.find("Code: ");
  if (at == std::string_view::npos || at > 64)
    return std::nullopt;
  body.remove_prefix(at + 6);
  int code = 0;
  auto r = std::from_chars(body.data(), body.data() + body.size(), code);
  if (r.ec != std::errc{})
    return std::nullopt;
  return code;
}

/// The error text for logs: the first line, bounded.
std::string first_line(std::string_view body) {
  auto nl = body.find('\n');
  auto line = body.substr(0, std::min<std::size_t>(nl, 2000));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
    line.remove_suffix(1);
  return std::string{line};
}

std::string bracketed(const std::string& host) {
  return host.find(':') == std::string::npos ? host : "[" + host + "]";
}

std::size_t on_data(char* data, std::size_t size, std::size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  // A query's result is small (system.columns); an error is one line. Bounded anyway.
  constexpr std::size_t limit = 4u << 20;
  auto take = std::min(size * n, limit - std::min(limit, out->size()));
  out->append(data, take);
  return size * n;
}

/// A streamed body: what the reader produced, and whether it came to its end.
struct streamed_body {
  const clickhouse_client::body_reader* read;
  std::uint64_t produced = 0;
  bool ended = false;
};

std::size_t on_read(char* out, std::size_t size, std::size_t n, void* user) {
  auto* b = static_cast<streamed_body*>(user);
  auto got = (*b->read)(out, size * n);
  b->produced += got;
  b->ended = got == 0;
  return got;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<std::atomic<bool>*>(user)->load() ? 1 : 0;
}

/// libcurl's global init, once per process, before the first handle.
void global_init() {
  static const bool done = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return true;
  }();
  (void)done;
}

} // namespace

std::span<const std::string_view> clickhouse_failure_reasons() {
  return failure_reasons;
}

request_outcome classify_error(long status, std::string_view body, std::string& reason) {
  if (auto code = error_code(body)) {
    if (std::find(content_codes.begin(), content_codes.end(), *code) != content_codes.end()) {
      reason = "rejected";
      return request_outcome::rejected;
    }
    if (std::find(auth_codes.begin(), auth_codes.end(), *code) != auth_codes.end()) {
      reason = "auth";
      return request_outcome::transient;
    }
    reason = "server";
    return request_outcome::transient;
  }
  if (status == 401 || status == 403) {
    reason = "auth";
    return request_outcome::transient;
  }
  // Any other client error is about the request; server errors, 408 and 429 pass.
  if (status >= 400 && status < 500 && status != 408 && status != 429) {
    reason = "rejected";
    return request_outcome::rejected;
  }
  reason = "server";
  return request_outcome::transient;
}

clickhouse_client::clickhouse_client(clickhouse_endpoint e)
    : e_(std::move(e)) {
  global_init();
  curl_ = curl_easy_init();
  // With a server name other than the host, the URL names the server (certificate check
  // and SNI) and CONNECT_TO sends the connection to the host.
  auto name = e_.tls && !e_.tls_server_name.empty() ? e_.tls_server_name : e_.host;
  auto port = std::to_string(e_.port);
  base_ = std::string{e_.tls ? "https://" : "http://"} + bracketed(name) + ":" + port + "/";
  if (name != e_.host)
    connect_to_ = bracketed(name) + ":" + port + ":" + bracketed(e_.host) + ":" + port;
}

clickhouse_client::~clickhouse_client() {
  if (curl_ != nullptr)
    curl_easy_cleanup(static_cast<CURL*>(curl_));
}

std::optional<std::string> clickhouse_client::load_password() {
  if (e_.password_file.empty())
    return std::nullopt;
  std::ifstream in{e_.password_file, std::ios::binary};
  if (!in)
    return "cannot read password_file " + e_.password_file;
  std::ostringstream text;
  text << in.rdbuf();
  auto p = text.str();
  while (!p.empty() && (p.back() == '\n' || p.back() == '\r'))
    p.pop_back();
  password_ = std::move(p);
  return std::nullopt;
}

std::string clickhouse_client::insert_url(std::string_view statement) {
  auto* c = static_cast<CURL*>(curl_);
  std::unique_ptr<char, void (*)(void*)> q{
      curl_easy_escape(c, statement.data(), static_cast<int>(statement.size())), curl_free};
  return base_ + "?database=" + e_.database + "&query=" + (q ? q.get() : "");
}

clickhouse_response clickhouse_client::insert(std::string_view statement, std::string_view body,
                                              bool gzip) {
  return perform(insert_url(statement), body, gzip);
}

clickhouse_response clickhouse_client::insert(std::string_view statement, const body_reader& read) {
  return perform(insert_url(statement), {}, false, &read);
}

clickhouse_response clickhouse_client::query(std::string_view sql) {
  return perform(base_ + "?database=" + e_.database, sql, false);
}

clickhouse_response clickhouse_client::perform(const std::string& url, std::string_view body,
                                               bool gzip, const body_reader* read) {
  clickhouse_response r;
  auto* c = static_cast<CURL*>(curl_);
  if (c == nullptr) {
    r.outcome = request_outcome::transient;
    r.reason = "connect";
    r.detail = "libcurl: no handle";
    return r;
  }
  curl_easy_reset(c);
  curl_slist* headers = nullptr;
  // No "Expect: 100-continue" round trip before the body.
  headers = curl_slist_append(headers, "Expect:");
  headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
  if (gzip)
    headers = curl_slist_append(headers, "Content-Encoding: gzip");
  streamed_body streamed{read};
  if (read != nullptr)
    headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
  std::string user_header, key_header;
  if (!e_.user.empty()) {
    user_header = "X-ClickHouse-User: " + e_.user;
    key_header = "X-ClickHouse-Key: " + password_;
    headers = curl_slist_append(headers, user_header.c_str());
    headers = curl_slist_append(headers, key_header.c_str());
  }
  curl_slist* connect_to = nullptr;
  if (!connect_to_.empty())
    connect_to = curl_slist_append(nullptr, connect_to_.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  if (read != nullptr) {
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &streamed);
  } else {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  // A fresh connection per request: on a reused connection that dies without an answer,
  // libcurl sends the request again by itself on a new one, and a server that had
  // inserted it before dying would insert it twice while we saw only the second
  // attempt's "could not connect" (found by the restart test). One handshake per insert
  // (at most a few a second) is the price of knowing what was sent.
  curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(e_.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(e_.request_timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &cancelled_);
  if (connect_to != nullptr)
    curl_easy_setopt(c, CURLOPT_CONNECT_TO, connect_to);
  if (e_.tls) {
    if (!e_.tls_ca.empty())
      curl_easy_setopt(c, CURLOPT_CAINFO, e_.tls_ca.c_str());
    if (!e_.tls_cert.empty()) {
      curl_easy_setopt(c, CURLOPT_SSLCERT, e_.tls_cert.c_str());
      curl_easy_setopt(c, CURLOPT_SSLKEY, e_.tls_key.c_str());
    }
    curl_easy_setopt(c, CURLOPT_SSLVERSION,
                     e_.tls_min_version == "1.3" ? CURL_SSLVERSION_TLSv1_3
                                                 : CURL_SSLVERSION_TLSv1_2);
  }
  auto rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_off_t uploaded = 0;
  curl_easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &uploaded);
  curl_slist_free_all(headers);
  curl_slist_free_all(connect_to);
  if (rc != CURLE_OK) {
    r.outcome = request_outcome::transient;
    r.detail = curl_easy_strerror(rc);
    if (rc == CURLE_ABORTED_BY_CALLBACK)
      r.reason = "stopped";
    else if (r.status == 0 &&
             (read != nullptr
                  ? streamed.ended && static_cast<std::uint64_t>(uploaded) >= streamed.produced
                  : static_cast<std::uint64_t>(uploaded) >= body.size()) &&
             rc != CURLE_COULDNT_CONNECT && rc != CURLE_COULDNT_RESOLVE_HOST &&
             rc != CURLE_SSL_CONNECT_ERROR && rc != CURLE_PEER_FAILED_VERIFICATION &&
             rc != CURLE_SSL_CERTPROBLEM && rc != CURLE_SSL_CACERT_BADFILE)
      r.reason = "no_response"; // sent whole, no answer: it may have been inserted
    else
      r.reason = "connect";
    return r;
  }
  if (r.status == 200)
    return r;
  r.outcome = classify_error(r.status, r.body, r.reason);
  r.detail = first_line(r.body);
  if (r.detail.empty())
    r.detail = "HTTP " + std::to_string(r.status);
  return r;
}

} // namespace fa::sinks
