#include "labels/pod_index.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <memory>
#include <utility>

namespace fa::labels {

std::optional<ip_key> parse_ip(const std::string& text) {
  std::uint8_t buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1)
    return ipv4_key(buf);
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1)
    return ipv6_key(buf);
  return std::nullopt;
}

pod_index::pod_index(std::int64_t retention_seconds)
    : retention_(retention_seconds) {}

void pod_index::index_ips(const std::vector<ip_key>& ips) {
  for (const auto& ip : ips)
    ++ip_refs_[ip];
}

void pod_index::unindex_ips(const std::vector<ip_key>& ips) {
  for (const auto& ip : ips) {
    auto i = ip_refs_.find(ip);
    if (i != ip_refs_.end() && --i->second == 0)
      ip_refs_.erase(i);
  }
}

void pod_index::erase(std::unordered_map<std::string, record>::iterator i) {
  unindex_ips(i->second.ips);
  pods_.erase(i);
  cached_.reset();
}

void pod_index::upsert(const pod_info& pod, std::int64_t now) {
  auto existing = pods_.find(pod.uid);
  if (pod.host_network) {
    if (existing != pods_.end())
      erase(existing);
    return;
  }
  if (existing != pods_.end() && existing->second.entry->deletion)
    return;
  std::vector<ip_key> ips;
  ips.reserve(pod.ips.size());
  for (const auto& text : pod.ips) {
    auto ip = parse_ip(text);
    if (!ip) {
      ++num_invalid_ips_;
      continue;
    }
    // "10.0.0.1" and "::ffff:10.0.0.1" are one key: one candidate per Pod and IP.
    if (std::find(ips.begin(), ips.end(), *ip) == ips.end())
      ips.push_back(*ip);
  }
  pod_entry e;
  e.name = pod.name;
  e.pod_namespace = pod.pod_namespace;
  e.node_name = pod.node_name;
  e.labels_json = encode_labels_json(pod.labels);
  e.creation = pod.creation;
  bool terminated = pod.phase == "Succeeded" || pod.phase == "Failed";
  if (terminated) {
    e.deletion = now;
    // The kubelet may clear podIPs as the Pod finishes; late records for the IPs it
    // held must still resolve to it.
    if (ips.empty() && existing != pods_.end())
      ips = existing->second.ips;
  }
  if (existing != pods_.end())
    unindex_ips(existing->second.ips);
  index_ips(ips);
  auto& r = pods_[pod.uid];
  r.entry = std::make_shared<const pod_entry>(std::move(e));
  r.ips = std::move(ips);
  cached_.reset();
}

void pod_index::remove(std::string_view uid, std::int64_t now) {
  auto i = pods_.find(std::string{uid});
  if (i == pods_.end() || i->second.entry->deletion)
    return;
  auto e = *i->second.entry; // copies strings; the labels are not encoded again
  e.deletion = now;
  i->second.entry = std::make_shared<const pod_entry>(std::move(e));
  cached_.reset();
}

std::size_t pod_index::expire(std::int64_t now) {
  std::size_t n = 0;
  for (auto i = pods_.begin(); i != pods_.end();) {
    const auto& del = i->second.entry->deletion;
    if (del && now - *del > retention_) {
      auto next = std::next(i);
      erase(i);
      i = next;
      ++n;
    } else {
      ++i;
    }
  }
  return n;
}

pod_snapshot_ptr pod_index::snapshot() const {
  if (cached_)
    return cached_;
  auto s = std::make_shared<pod_snapshot>();
  for (const auto& [uid, r] : pods_)
    for (const auto& ip : r.ips)
      s->add(ip, r.entry);
  cached_ = std::move(s);
  return cached_;
}

} // namespace fa::labels
