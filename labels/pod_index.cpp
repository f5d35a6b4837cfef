#include "labels/pod_index.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <memory>
#include <utility>

namespace fa::labels {

std::optional<ip_key> parse_ip(const std::string& text) {
  // inet_pton reads up to the first NUL: "10.0.0.1\0x" is not an address.
  if (text.find('\0') != std::string::npos)
    return std::nullopt;
  std::uint8_t buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1)
    return ipv4_key(buf);
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1)
    return ipv6_key(buf);
  return std::nullopt;
}

pod_index::pod_index(std::int64_t retention_seconds)
    : retention_(retention_seconds) {}

pod_snapshot::shard& pod_index::writable_shard(const ip_key& ip) {
  auto i = pod_snapshot::shard_of(ip);
  auto& s = shards_[i];
  if (!s) {
    s = std::make_shared<pod_snapshot::shard>();
  } else if (published_[i]) {
    // Copy-on-write: the published snapshot keeps the old shard unchanged.
    s = std::make_shared<pod_snapshot::shard>(*s);
    ++num_shard_copies_;
  }
  published_[i] = false;
  cached_.reset();
  return *s;
}

void pod_index::put(const ip_key& ip, const pod_entry_ptr& old_entry, const pod_entry_ptr& entry) {
  writable_shard(ip).update(ip, [&](pod_candidates& c) {
    if (c.empty())
      ++num_ips_;
    auto i = old_entry ? std::find(c.begin(), c.end(), old_entry) : c.end();
    if (i != c.end())
      *i = entry;
    else
      c.push_back(entry);
  });
}

void pod_index::drop(const ip_key& ip, const pod_entry_ptr& entry) {
  auto& s = writable_shard(ip);
  if (!s.find(ip))
    return;
  s.update(ip, [&](pod_candidates& c) {
    c.erase(std::remove(c.begin(), c.end(), entry), c.end());
    if (c.empty())
      --num_ips_;
  });
}

void pod_index::erase(std::unordered_map<std::string, record>::iterator i) {
  for (const auto& ip : i->second.ips)
    drop(ip, i->second.entry);
  pods_.erase(i);
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
    deletions_.emplace(now, pod.uid);
    // The kubelet may clear podIPs as the Pod finishes; late records for the IPs it
    // held must still resolve to it.
    if (ips.empty() && existing != pods_.end())
      ips = existing->second.ips;
  }
  seal(e);
  auto entry = std::make_shared<const pod_entry>(std::move(e));
  pod_entry_ptr old_entry;
  if (existing != pods_.end()) {
    old_entry = existing->second.entry;
    for (const auto& ip : existing->second.ips)
      if (std::find(ips.begin(), ips.end(), ip) == ips.end())
        drop(ip, old_entry);
  }
  // In place of the old entry, so that a Pod keeps its rank among an address's candidates.
  for (const auto& ip : ips)
    put(ip, old_entry, entry);
  auto& r = pods_[pod.uid];
  r.entry = std::move(entry);
  r.ips = std::move(ips);
}

void pod_index::remove(std::string_view uid, std::int64_t now) {
  auto i = pods_.find(std::string{uid});
  if (i == pods_.end() || i->second.entry->deletion)
    return;
  auto e = *i->second.entry; // copies strings and the sealed block; nothing is encoded again
  e.deletion = now;
  auto entry = std::make_shared<const pod_entry>(std::move(e));
  for (const auto& ip : i->second.ips)
    put(ip, i->second.entry, entry);
  i->second.entry = std::move(entry);
  deletions_.emplace(now, i->first);
}

std::size_t pod_index::expire(std::int64_t now) {
  std::size_t n = 0;
  while (!deletions_.empty() && now - deletions_.begin()->first > retention_) {
    auto [when, uid] = *deletions_.begin();
    deletions_.erase(deletions_.begin());
    auto i = pods_.find(uid);
    // A hostNetwork update may have erased the Pod already.
    if (i == pods_.end() || i->second.entry->deletion != when)
      continue;
    erase(i);
    ++n;
  }
  return n;
}

std::vector<std::string> pod_index::live_uids() const {
  std::vector<std::string> out;
  for (const auto& [uid, r] : pods_)
    if (!r.entry->deletion)
      out.push_back(uid);
  return out;
}

pod_snapshot_ptr pod_index::snapshot() const {
  if (cached_)
    return cached_;
  // The snapshot shares every shard; the next change of one copies it first.
  published_.fill(true);
  cached_ = std::make_shared<const pod_snapshot>(shards_, num_ips_);
  return cached_;
}

} // namespace fa::labels
