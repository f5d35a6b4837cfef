#include "tools/kube_api_server/wire.hpp"

#include "tools/kube_api_server/kube_api_server.hpp"

namespace fa::tools::kube_wire {

std::string base64(std::string_view in) {
  static constexpr char table[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    std::uint32_t v =
        (std::uint8_t(in[i]) << 16) | (std::uint8_t(in[i + 1]) << 8) | std::uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6)
      out.push_back(table[(v >> s) & 63]);
  }
  if (i < in.size()) {
    std::uint32_t v = std::uint8_t(in[i]) << 16;
    if (i + 1 < in.size())
      v |= std::uint8_t(in[i + 1]) << 8;
    out.push_back(table[(v >> 18) & 63]);
    out.push_back(table[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? table[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::string unbase64(std::string_view in) {
  std::string out;
  std::uint32_t v = 0;
  int bits = 0;
  for (char c : in) {
    int d = c >= 'A' && c <= 'Z'   ? c - 'A'
            : c >= 'a' && c <= 'z' ? c - 'a' + 26
            : c >= '0' && c <= '9' ? c - '0' + 52
            : c == '+'             ? 62
            : c == '/'             ? 63
                                   : -1;
    if (d < 0)
      continue;
    v = (v << 6) | static_cast<std::uint32_t>(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((v >> bits) & 0xff));
    }
  }
  return out;
}

std::string unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string{s.substr(i + 1, 2)}, nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

json status_object(int code, const std::string& reason, const std::string& message) {
  return {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
          {"status", "Failure"}, {"message", message}, {"reason", reason},
          {"code", code}};
}

std::string reason_phrase(int code) {
  switch (code) {
  case 200:
    return "OK";
  case 401:
    return "Unauthorized";
  case 404:
    return "Not Found";
  case 410:
    return "Gone";
  default:
    return "Bad Request";
  }
}

std::string response(int code, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(code) + " " + reason_phrase(code) +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

std::string chunk(const std::string& data) {
  char len[20];
  std::snprintf(len, sizeof len, "%zx\r\n", data.size());
  return len + data + "\r\n";
}

/// A Pod as a list item: the API leaves kind and apiVersion to the list.
std::shared_ptr<const std::string> list_item(json obj) {
  obj.erase("kind");
  obj.erase("apiVersion");
  return std::make_shared<const std::string>(obj.dump());
}

std::string event_line(const std::string& type, const std::string& object) {
  return "{\"type\":\"" + type + "\",\"object\":" + object + "}\n";
}
} // namespace fa::tools::kube_wire

namespace fa::tools {

using nlohmann::json;

json pod_object(const pod_spec& p, const std::string& resource_version) {
  // The shape of `kubectl get pod -o json` for a Deployment's Pod (managedFields dropped).
  auto rs = p.name.substr(0, p.name.rfind('-'));
  json labels = json::object();
  for (auto& [k, v] : p.labels)
    labels[k] = v;
  json metadata = {{"creationTimestamp", p.creation},
                   {"generateName", rs + "-"},
                   {"labels", labels},
                   {"name", p.name},
                   {"namespace", p.pod_namespace},
                   {"ownerReferences",
                    json::array({{{"apiVersion", "apps/v1"},
                                  {"blockOwnerDeletion", true},
                                  {"controller", true},
                                  {"kind", "ReplicaSet"},
                                  {"name", rs},
                                  {"uid", "5f0c2a7e-8d1b-4c3a-9e6f-" + std::string(12, '0')}}})},
                   {"resourceVersion", resource_version},
                   {"uid", p.uid}};
  json container = {
      {"image", "registry.k8s.io/e2e-test-images/agnhost:2.45"},
      {"imagePullPolicy", "IfNotPresent"},
      {"name", "app"},
      {"ports", json::array({{{"containerPort", 8080}, {"protocol", "TCP"}}})},
      {"resources", json::object()},
      {"terminationMessagePath", "/dev/termination-log"},
      {"terminationMessagePolicy", "File"},
      {"volumeMounts", json::array({{{"mountPath", "/var/run/secrets/kubernetes.io/serviceaccount"},
                                     {"name", "kube-api-access-x7k2p"},
                                     {"readOnly", true}}})}};
  json spec = {{"containers", json::array({container})},
               {"dnsPolicy", "ClusterFirst"},
               {"enableServiceLinks", true},
               {"nodeName", p.node_name},
               {"preemptionPolicy", "PreemptLowerPriority"},
               {"priority", 0},
               {"restartPolicy", "Always"},
               {"schedulerName", "default-scheduler"},
               {"securityContext", json::object()},
               {"serviceAccount", "default"},
               {"serviceAccountName", "default"},
               {"terminationGracePeriodSeconds", 30},
               {"tolerations", json::array({{{"effect", "NoExecute"},
                                             {"key", "node.kubernetes.io/not-ready"},
                                             {"operator", "Exists"},
                                             {"tolerationSeconds", 300}}})}};
  if (p.host_network) // omitempty: absent when false, as the API returns it
    spec["hostNetwork"] = true;
  json conditions = json::array();
  for (const char* type :
       {"PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"})
    conditions.push_back({{"lastProbeTime", nullptr},
                          {"lastTransitionTime", p.creation},
                          {"status", p.phase == "Running" ? "True" : "False"},
                          {"type", type}});
  json status = {{"conditions", conditions},
                 {"hostIP", "172.18.0.2"},
                 {"hostIPs", json::array({{{"ip", "172.18.0.2"}}})},
                 {"phase", p.phase},
                 {"qosClass", "BestEffort"},
                 {"startTime", p.creation}};
  if (!p.ips.empty()) {
    status["podIP"] = p.ips.front();
    json ips = json::array();
    for (auto& ip : p.ips)
      ips.push_back({{"ip", ip}});
    status["podIPs"] = ips;
  }
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", metadata},
          {"spec", spec},
          {"status", status}};
}

} // namespace fa::tools
