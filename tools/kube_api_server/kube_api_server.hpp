#pragma once

// A Kubernetes API server for tests and the labels benchmark, speaking the real protocol for Pods
// over HTTPS (HTTP/1.1 over TLS; the tests make the CA with the openssl CLI at test time):
// - GET /api/v1/pods?limit=N[&continue=T]: PodList pages from one consistent state, with
//   metadata.resourceVersion and metadata.continue;
// - GET /api/v1/pods?watch=true&resourceVersion=R[&allowWatchBookmarks=true]
//   [&timeoutSeconds=S]: a chunked stream, one JSON event per line (ADDED, MODIFIED,
//   DELETED, BOOKMARK), replaying the retained history after R first;
// - a resourceVersion older than the retained history: 410 Gone, as the HTTP status or
//   as an ERROR event carrying a Status object (both happen with a real API server);
// - `Authorization: Bearer <token>` checked, or a client certificate from `client_ca`;
//   401 with a Status object otherwise.
// Pods are rendered in the full shape the API returns (metadata with uid,
// resourceVersion, creationTimestamp, labels, ownerReferences; spec; status with
// conditions, podIP(s), hostIP). Every method is thread-safe; state changes run on the
// server's own thread, so watchers see every event exactly once and in order.

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace fa::tools {

/// What varies between test Pods; pod_object renders the rest as the API does.
struct pod_spec {
  std::string pod_namespace = "default";
  std::string name;
  std::string uid;
  std::string node_name = "kind-worker";
  std::vector<std::string> ips;
  std::map<std::string, std::string> labels;
  std::string phase = "Running";
  bool host_network = false;
  std::string creation = "2024-05-01T10:00:00Z";
};

/// The Pod object as the API returns it, with `resource_version`.
nlohmann::json pod_object(const pod_spec& p, const std::string& resource_version);

class kube_api_server {
 public:
  enum class gone_mode : std::uint8_t {
    http_status, ///< answer a too-old watch with HTTP 410 and a Status body
    error_event, ///< answer 200, then an ERROR event with a Status of code 410
  };

  struct options {
    std::string cert_file;
    std::string key_file;
    std::string token = "test-token";
    std::uint16_t port = 0; ///< 0 = ephemeral
    /// Events kept for watches that resume; older resourceVersions get 410 (etcd
    /// compaction does the same).
    std::size_t max_history = 100000;
    /// Set: a client certificate signed by this CA authenticates too (as with the API
    /// server's --client-ca-file); a bearer token is then optional.
    std::string client_ca;
  };

  explicit kube_api_server(options opts);
  ~kube_api_server();
  kube_api_server(const kube_api_server&) = delete;
  kube_api_server& operator=(const kube_api_server&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

  /// Listens again on the same port after stop() (a restarted API server; the state, like
  /// etcd's, survives).
  void start();
  /// Closes the listener and every connection.
  void stop();

  // State. Each change is one resourceVersion and one event to every open watch.
  /// Creates (ADDED) or replaces (MODIFIED) the Pod with `p.uid`; returns the new RV.
  std::uint64_t apply(const pod_spec& p);
  /// Adds Pods that existed before any watch could see them (no events): a big cluster
  /// in one step.
  void preload(std::vector<pod_spec> pods);
  /// Deletes the Pod with `uid` (DELETED, with its last state); returns the new RV.
  std::uint64_t remove(const std::string& uid);
  /// Other objects changed: the resourceVersion moves on with no Pod event.
  std::uint64_t advance(std::uint64_t n);
  /// Sends a BOOKMARK with the current resourceVersion to watches that allow them.
  void bookmark();
  /// Forgets the event history: a watch from any older resourceVersion gets 410.
  void compact();
  /// Sends an ERROR event (Status 410 "Expired") to every open watch and ends them.
  void expire_watches();
  /// Ends every open watch normally (terminating chunk), as at a server timeout.
  void close_watches();
  /// The next watch request gets its response headers and then nothing, ever.
  void stall_next_watch();
  void set_gone_mode(gone_mode m);
  void set_token(const std::string& token);

  std::uint64_t resource_version();
  /// Requests counted since construction.
  std::uint64_t lists() const { return lists_.load(); } ///< first LIST pages
  std::uint64_t list_pages() const { return list_pages_.load(); }
  std::uint64_t watches() const { return watches_.load(); }
  std::uint64_t unauthorized() const { return unauthorized_.load(); }
  std::uint64_t cert_authenticated() const { return cert_auth_.load(); } ///< requests
  std::uint64_t gone() const { return gone_.load(); } ///< 410 answers and ERROR events
  std::size_t open_watches();

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
  std::uint16_t port_ = 0;
  std::atomic<std::uint64_t> lists_{0}, list_pages_{0}, watches_{0}, unauthorized_{0}, gone_{0},
      cert_auth_{0};
};

} // namespace fa::tools
