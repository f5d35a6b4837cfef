#include "labels/pod_watcher.hpp"

#include "monitoring/log.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace fa::labels {

namespace {

using monitoring::log;
using monitoring::log_level;
using nlohmann::json;

/// Percent-encodes a query value (continue tokens are base64 with '+', '/', '=').
std::string escape(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::string string_at(const json& j, const char* a, const char* b) {
  auto i = j.find(a);
  if (i == j.end() || !i->is_object())
    return {};
  auto k = i->find(b);
  return k != i->end() && k->is_string() ? k->get<std::string>() : std::string{};
}

/// The message of a Status object in an error body, when there is one.
std::string status_message(const std::string& body) {
  auto doc = json::parse(body, nullptr, false);
  if (doc.is_object()) {
    auto m = doc.find("message");
    if (m != doc.end() && m->is_string())
      return m->get<std::string>();
  }
  return body.substr(0, 200);
}

/// What parse_watch_line reads of a watch event: the rest of the Pod (its containers,
/// managedFields, conditions...) is scanned, not built.
const json_keep keep_event[] = {{"type", {}}, {"object", pod_members}};

} // namespace

bool parse_watch_line(std::string_view line, watch_line& out, std::string& error) {
  auto doc = parse_pruned(line, keep_event);
  if (doc.is_discarded() || !doc.is_object()) {
    error = "watch event is not a JSON object";
    return false;
  }
  auto type = doc.find("type");
  auto object = doc.find("object");
  if (type == doc.end() || !type->is_string() || object == doc.end() || !object->is_object()) {
    error = "watch event without a string `type` and an object `object`";
    return false;
  }
  out = {};
  out.type = type->get<std::string>();
  out.resource_version = string_at(*object, "metadata", "resourceVersion");
  if (out.type == "ERROR") {
    auto code = object->find("code");
    if (code != object->end() && code->is_number_integer())
      out.code = code->get<long>();
    auto msg = object->find("message");
    if (msg != object->end() && msg->is_string())
      out.message = msg->get<std::string>();
    return true;
  }
  if (out.type == "ADDED" || out.type == "MODIFIED" || out.type == "DELETED") {
    std::string err;
    out.pod = parse_pod(*object, err);
    if (!out.pod)
      out.message = err;
  }
  return true;
}

pod_update_applier::result pod_update_applier::apply(pod_index& index, const pod_update& u,
                                                     std::int64_t now) {
  result r;
  if (u.list_begin) {
    listing_ = true;
    listed_.clear();
  }
  for (const auto& ev : u.events) {
    const auto& uid = ev.pod.info.uid;
    index.upsert(ev.pod.info, now);
    if (ev.type == pod_event_type::deleted)
      index.remove(uid, now);
    else if (listing_)
      listed_.insert(uid);
  }
  if (u.list_end && listing_) {
    for (const auto& uid : index.live_uids())
      if (!listed_.count(uid)) {
        index.remove(uid, now);
        ++r.deleted_unlisted;
      }
    listing_ = false;
    listed_.clear();
    r.list_completed = true;
  }
  return r;
}

pod_watcher::pod_watcher(kube_api_config cfg, sink out)
    : client_(std::move(cfg))
    , out_(std::move(out))
    , backoff_(client_.config().backoff_min) {}

pod_watcher::~pod_watcher() {
  stop();
}

void pod_watcher::start() {
  if (!thread_.joinable())
    thread_ = std::thread{[this] { run(); }};
}

void pod_watcher::stop() {
  {
    std::lock_guard guard{mtx_};
    stopping_ = true;
  }
  wake_.notify_all();
  client_.stop();
  if (thread_.joinable())
    thread_.join();
}

pod_watcher_stats pod_watcher::stats() const {
  std::lock_guard guard{mtx_};
  return stats_;
}

void pod_watcher::fail(const std::string& what, long status) {
  {
    std::lock_guard guard{mtx_};
    ++stats_.errors;
    if (status == 401 || status == 403)
      ++stats_.unauthorized;
    stats_.last_error = what;
  }
  log(log_level::warn, "kubernetes request failed",
      {{"error", what}, {"retry_in_ms", std::to_string(backoff_.count())}});
}

bool pod_watcher::back_off() {
  std::unique_lock lock{mtx_};
  wake_.wait_for(lock, backoff_, [this] { return stopping_.load(); });
  backoff_ = std::min(backoff_ * 2, client_.config().backoff_max);
  return !stopping_;
}

bool pod_watcher::list() {
  const auto& cfg = client_.config();
  std::string cont;
  std::string rv;
  // Bounded: a continue chain longer than this is a broken server, not a big cluster.
  for (std::size_t page = 0; page < 1'000'000; ++page) {
    std::string target = "/api/v1/pods?limit=" + std::to_string(cfg.page_size);
    if (!cont.empty())
      target += "&continue=" + escape(cont);
    auto r = client_.get(target);
    if (r.stopped)
      return false;
    if (!r.ok()) {
      // 410 here: the continue token expired mid-list; the next list starts afresh.
      fail(r.status ? "list: HTTP " + std::to_string(r.status) + ": " + status_message(r.body)
                    : "list: " + (r.idle ? std::string{"no response"} : r.error),
           r.status);
      return false;
    }
    auto doc = json::parse(r.body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
      fail("list: the response is not a JSON object", 0);
      return false;
    }
    if (page == 0)
      rv = string_at(doc, "metadata", "resourceVersion");
    cont = string_at(doc, "metadata", "continue");
    pod_update u;
    u.list_begin = page == 0;
    u.list_end = cont.empty();
    u.resource_version = rv;
    auto items = doc.find("items");
    std::uint64_t bad = 0;
    if (items != doc.end() && items->is_array()) {
      u.events.reserve(items->size());
      for (std::size_t i = 0; i < items->size(); ++i) {
        std::string err;
        auto p = parse_pod((*items)[i], err);
        if (p) {
          u.events.push_back({pod_event_type::added, std::move(*p)});
        } else {
          if (++bad <= 3)
            log(log_level::warn, "kubernetes list: Pod skipped",
                {{"error", "items[" + std::to_string(i) + "]: " + err}});
        }
      }
    } else if (items != doc.end() && !items->is_null()) {
      fail("list: `items` is not an array", 0);
      return false;
    }
    {
      std::lock_guard guard{mtx_};
      stats_.bad_objects += bad;
      ++stats_.list_pages;
      if (u.list_end) {
        ++stats_.lists;
        stats_.resource_version = rv;
      }
    }
    out_(std::move(u));
    if (cont.empty()) {
      rv_ = rv;
      return true;
    }
  }
  fail("list: too many pages", 0);
  return false;
}

pod_watcher::watch_end pod_watcher::watch() {
  const auto& cfg = client_.config();
  std::string target =
      "/api/v1/pods?watch=true&allowWatchBookmarks=true&resourceVersion=" + escape(rv_) +
      "&timeoutSeconds=" + std::to_string(cfg.watch_timeout.count());
  {
    std::lock_guard guard{mtx_};
    ++stats_.watches;
  }
  pod_update pending;
  auto end = watch_end::closed;
  std::string end_error;
  auto flush = [&] {
    if (pending.events.empty())
      return;
    pending.resource_version = rv_;
    {
      std::lock_guard guard{mtx_};
      stats_.resource_version = rv_;
    }
    out_(std::move(pending));
    pending = {};
  };
  auto on_line = [&](std::string_view line) {
    watch_line ev;
    std::string err;
    if (!parse_watch_line(line, ev, err)) {
      // The stream cannot be trusted past a broken line: resume from the last good event.
      end = watch_end::failed;
      end_error = "watch: " + err;
      return false;
    }
    if (ev.type == "ERROR") {
      end = ev.code == 410 ? watch_end::gone : watch_end::failed;
      end_error = "watch: ERROR event, code " + std::to_string(ev.code) + ": " + ev.message;
      return false;
    }
    std::lock_guard guard{mtx_};
    if (ev.type == "BOOKMARK") {
      ++stats_.bookmarks;
    } else if (ev.type == "ADDED" || ev.type == "MODIFIED" || ev.type == "DELETED") {
      ++stats_.events;
      if (ev.pod) {
        auto type = ev.type == "ADDED"      ? pod_event_type::added
                    : ev.type == "MODIFIED" ? pod_event_type::modified
                                            : pod_event_type::deleted;
        pending.events.push_back({type, std::move(*ev.pod)});
      } else {
        ++stats_.bad_objects;
        stats_.last_error = "watch: " + ev.type + " event skipped: " + ev.message;
      }
    } else {
      ++stats_.bad_objects;
    }
    if (!ev.resource_version.empty())
      stats_.resource_version = rv_ = ev.resource_version;
    return true;
  };
  std::function<bool(std::string_view)> line_fn = on_line;
  std::function<void()> chunk_fn = flush;
  auto r = client_.stream(target, line_fn, chunk_fn);
  flush();
  if (r.stopped)
    return watch_end::stopped;
  if (r.status == 200)
    backoff_ = cfg.backoff_min;
  if (r.status == 410)
    end = watch_end::gone;
  if (end == watch_end::gone) {
    log(log_level::info, "kubernetes watch expired, relisting",
        {{"resource_version", rv_}, {"reason", end_error.empty() ? "HTTP 410" : end_error}});
    return end;
  }
  if (end == watch_end::failed) {
    fail(end_error, 0);
    return end;
  }
  if (r.idle)
    return watch_end::idle;
  if (r.status != 200 || !r.error.empty()) {
    fail(r.status ? "watch: HTTP " + std::to_string(r.status) + ": " + status_message(r.body)
                  : "watch: " + r.error,
         r.status);
    return watch_end::failed;
  }
  return watch_end::closed;
}

void pod_watcher::run() {
  bool need_list = true;
  int gone_in_a_row = 0;
  while (!stopping_) {
    if (need_list) {
      if (!list()) {
        if (stopping_ || !back_off())
          return;
        continue;
      }
      need_list = false;
      backoff_ = client_.config().backoff_min;
    }
    auto end = watch();
    if (end == watch_end::stopped)
      return;
    {
      std::lock_guard guard{mtx_};
      ++stats_.watch_restarts;
      if (end == watch_end::idle)
        ++stats_.idle_restarts;
      if (end == watch_end::gone)
        ++stats_.gone;
    }
    if (end == watch_end::gone) {
      need_list = true;
      // A server that answers 410 right after every fresh list is broken: do not spin.
      if (++gone_in_a_row > 1 && !back_off())
        return;
      continue;
    }
    gone_in_a_row = 0;
    if (end == watch_end::failed && !back_off())
      return;
  }
}

} // namespace fa::labels
