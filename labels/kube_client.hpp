#pragma once

// A small Kubernetes API client over libcurl for the label cache's list + watch
// (issue 4). Blocking calls for one thread; stop() from any thread ends a call at once
// (curl_multi_wakeup), so shutdown never waits for a long watch.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>

namespace fa::labels {

/// Where the API is and how to authenticate, resolved (see resolve_kube_api).
struct kube_api_config {
  std::string server;      ///< "https://host:port" (no trailing slash)
  std::string token_file;  ///< bearer token, re-read for every request ("" = none)
  std::string ca_file;     ///< CA bundle for the server certificate ("" = system CAs)
  std::string client_cert; ///< optional client certificate (PEM)
  std::string client_key;  ///< its key
  /// A watch that delivers nothing (not even a bookmark) this long is restarted.
  std::chrono::milliseconds watch_idle_timeout{std::chrono::minutes{2}};
  /// A LIST page that delivers nothing this long failed.
  std::chrono::milliseconds request_idle_timeout{std::chrono::seconds{60}};
  std::chrono::milliseconds connect_timeout{std::chrono::seconds{10}};
  /// Pods per LIST page (`limit`).
  std::uint32_t page_size = 500;
  /// The server ends a watch after this long (`timeoutSeconds`); the next one resumes from
  /// the last resourceVersion seen, without a relist. client-go uses 5 to 10 minutes.
  std::chrono::seconds watch_timeout{std::chrono::minutes{5}};
  /// Reconnect backoff after an error: doubles from min to max, reset by a good list.
  std::chrono::milliseconds backoff_min{200};
  std::chrono::milliseconds backoff_max{std::chrono::seconds{30}};
};

/// The user's `[kubernetes]` keys.
struct kube_settings {
  std::string api_server; ///< "" = in-cluster (KUBERNETES_SERVICE_HOST/PORT)
  std::string token_file; ///< "" = the service-account token
  std::string ca_file;    ///< "" = the service-account CA (system CAs if it is absent)
  std::string client_cert;
  std::string client_key;
};

inline constexpr const char* service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Applies the in-cluster defaults. `env` reads environment variables (std::getenv in
/// production). Returns the error text when the API server cannot be determined.
std::variant<kube_api_config, std::string>
resolve_kube_api(const kube_settings& user, const std::function<const char*(const char*)>& env);

class kube_client {
 public:
  struct result {
    long status = 0;      ///< HTTP status; 0 when the transfer failed before one arrived
    std::string body;     ///< the body (get), or a non-200 body (stream)
    std::string error;    ///< transport error text when the transfer failed
    bool idle = false;    ///< ended because nothing arrived for the idle timeout
    bool stopped = false; ///< ended by stop()
    bool ok() const { return status == 200 && error.empty() && !idle && !stopped; }
  };

  explicit kube_client(kube_api_config cfg);
  ~kube_client();
  kube_client(const kube_client&) = delete;
  kube_client& operator=(const kube_client&) = delete;

  /// GET `target` ("/api/v1/pods?limit=500") and the whole body.
  result get(const std::string& target);

  /// GET `target` as a stream: each complete line of a 200 response goes to `on_line`
  /// (return false to end the stream); `on_chunk` runs after each piece of data read.
  /// A line longer than 64 MiB ends the stream with an error.
  result stream(const std::string& target, const std::function<bool(std::string_view)>& on_line,
                const std::function<void()>& on_chunk);

  /// Ends the current call and every later one. Thread-safe.
  void stop();
  bool stopping() const { return stopping_.load(); }

  const kube_api_config& config() const { return cfg_; }

  /// The state of one call (libcurl's write callback sees it).
  struct transfer;

 private:
  result perform(const std::string& target, transfer& t, std::chrono::milliseconds idle);

  kube_api_config cfg_;
  void* multi_ = nullptr; // CURLM*
  void* easy_ = nullptr;  // CURL*, reused so that connections are reused
  std::atomic<bool> stopping_{false};
};

} // namespace fa::labels
