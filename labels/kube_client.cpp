#include "labels/kube_client.hpp"

#include <curl/curl.h>

#include <fstream>
#include <mutex>
#include <sstream>
#include <sys/stat.h>

namespace fa::labels {

namespace {

using clock = std::chrono::steady_clock;

constexpr std::size_t max_body = std::size_t{512} << 20; // a LIST page of huge Pods
constexpr std::size_t max_line = std::size_t{64} << 20;  // one watch event

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string trim(std::string s) {
  auto is_space = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  while (!s.empty() && is_space(s.back()))
    s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && is_space(s[i]))
    ++i;
  return s.substr(i);
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

} // namespace

std::variant<kube_api_config, std::string>
resolve_kube_api(const kube_settings& user, const std::function<const char*(const char*)>& env) {
  kube_api_config cfg;
  std::string sa = service_account_dir;
  if (!user.api_server.empty()) {
    cfg.server = user.api_server;
    if (cfg.server.find("://") == std::string::npos)
      return "kubernetes.api_server \"" + user.api_server +
             "\": needs a scheme, such as \"https://10.96.0.1:443\"";
  } else {
    const char* host = env("KUBERNETES_SERVICE_HOST");
    const char* port = env("KUBERNETES_SERVICE_PORT");
    if (!host || !*host || !port || !*port)
      return "kubernetes.api_server is empty and KUBERNETES_SERVICE_HOST/PORT are not set: "
             "not running in a Pod; set kubernetes.api_server, such as "
             "\"https://127.0.0.1:6443\"";
    std::string h = host;
    if (h.find(':') != std::string::npos) // an IPv6 address
      h = "[" + h + "]";
    cfg.server = "https://" + h + ":" + port;
  }
  while (!cfg.server.empty() && cfg.server.back() == '/')
    cfg.server.pop_back();
  cfg.token_file = user.token_file.empty() ? sa + "/token" : user.token_file;
  // A client certificate alone authenticates: the default token is then optional.
  if (user.token_file.empty() && !user.client_cert.empty() && !file_exists(cfg.token_file))
    cfg.token_file.clear();
  cfg.ca_file = user.ca_file;
  if (cfg.ca_file.empty() && file_exists(sa + "/ca.crt"))
    cfg.ca_file = sa + "/ca.crt";
  cfg.client_cert = user.client_cert;
  cfg.client_key = user.client_key;
  return cfg;
}

struct kube_client::transfer {
  bool streaming = false;
  const std::function<bool(std::string_view)>* on_line = nullptr;
  const std::function<void()>* on_chunk = nullptr;
  CURL* easy = nullptr;
  long status = 0;
  std::string body;
  std::string line;
  std::string error;
  bool ended_by_consumer = false;
  clock::time_point last_data;
};

namespace {

std::size_t on_write(char* data, std::size_t, std::size_t n, void* user) {
  auto& t = *static_cast<kube_client::transfer*>(user);
  t.last_data = clock::now();
  if (t.status == 0)
    curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &t.status);
  std::string_view chunk{data, n};
  if (!t.streaming || t.status != 200) {
    if (t.body.size() + n > max_body) {
      t.error = "response larger than " + std::to_string(max_body >> 20) + " MiB";
      return 0;
    }
    t.body.append(chunk);
    return n;
  }
  // Kubernetes watch: one JSON object per line, split over chunks as the network likes.
  while (!chunk.empty()) {
    auto nl = chunk.find('\n');
    if (nl == std::string_view::npos) {
      if (t.line.size() + chunk.size() > max_line) {
        t.error = "watch event longer than " + std::to_string(max_line >> 20) + " MiB";
        return 0;
      }
      t.line.append(chunk);
      break;
    }
    std::string_view line = chunk.substr(0, nl);
    chunk.remove_prefix(nl + 1);
    bool go_on;
    if (t.line.empty()) {
      go_on = line.empty() || (*t.on_line)(line);
    } else {
      t.line.append(line);
      go_on = (*t.on_line)(t.line);
      t.line.clear();
    }
    if (!go_on) {
      t.ended_by_consumer = true;
      return 0;
    }
  }
  if (t.on_chunk && *t.on_chunk)
    (*t.on_chunk)();
  return n;
}

} // namespace

kube_client::kube_client(kube_api_config cfg)
    : cfg_(std::move(cfg)) {
  global_init();
  multi_ = curl_multi_init();
  easy_ = curl_easy_init();
}

kube_client::~kube_client() {
  if (easy_)
    curl_easy_cleanup(static_cast<CURL*>(easy_));
  if (multi_)
    curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

void kube_client::stop() {
  stopping_ = true;
  if (multi_)
    curl_multi_wakeup(static_cast<CURLM*>(multi_));
}

kube_client::result kube_client::get(const std::string& target) {
  transfer t;
  return perform(target, t, cfg_.request_idle_timeout);
}

kube_client::result kube_client::stream(const std::string& target,
                                        const std::function<bool(std::string_view)>& on_line,
                                        const std::function<void()>& on_chunk) {
  transfer t;
  t.streaming = true;
  t.on_line = &on_line;
  t.on_chunk = &on_chunk;
  return perform(target, t, cfg_.watch_idle_timeout);
}

kube_client::result kube_client::perform(const std::string& target, transfer& t,
                                         std::chrono::milliseconds idle) {
  result r;
  if (stopping_) {
    r.stopped = true;
    return r;
  }
  if (!multi_ || !easy_) {
    r.error = "libcurl could not be initialised";
    return r;
  }
  auto* multi = static_cast<CURLM*>(multi_);
  auto* easy = static_cast<CURL*>(easy_);
  // The token is read for every request: projected service-account tokens are rotated
  // by the kubelet (every hour or so), and a request with the old one would be refused.
  std::string token;
  if (!cfg_.token_file.empty()) {
    std::ifstream in{cfg_.token_file, std::ios::binary};
    if (!in) {
      r.error = "cannot read the token file " + cfg_.token_file;
      return r;
    }
    std::ostringstream text;
    text << in.rdbuf();
    token = trim(text.str());
  }
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Accept: application/json");
  if (!token.empty())
    headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
  curl_easy_reset(easy);
  t.easy = easy;
  char errbuf[CURL_ERROR_SIZE] = {0};
  auto url = cfg_.server + target;
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "flow-aggregator");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(cfg_.connect_timeout.count()));
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  // HTTP/2 when the server offers it over TLS (ALPN), HTTP/1.1 otherwise.
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!cfg_.ca_file.empty())
    curl_easy_setopt(easy, CURLOPT_CAINFO, cfg_.ca_file.c_str());
  if (!cfg_.client_cert.empty()) {
    curl_easy_setopt(easy, CURLOPT_SSLCERT, cfg_.client_cert.c_str());
    curl_easy_setopt(easy, CURLOPT_SSLKEY, cfg_.client_key.c_str());
  }
  t.last_data = clock::now();
  curl_multi_add_handle(multi, easy);
  CURLcode done = CURLE_OK;
  bool finished = false;
  while (!finished) {
    int running = 0;
    if (curl_multi_perform(multi, &running) != CURLM_OK) {
      r.error = "curl_multi_perform failed";
      break;
    }
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi, &left))
      if (m->msg == CURLMSG_DONE && m->easy_handle == easy) {
        done = m->data.result;
        finished = true;
      }
    if (finished)
      break;
    if (stopping_) {
      r.stopped = true;
      break;
    }
    auto silent = clock::now() - t.last_data;
    if (silent >= idle) {
      r.idle = true;
      break;
    }
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(idle - silent);
    int ms = static_cast<int>(std::min<std::chrono::milliseconds::rep>(wait.count() + 1, 1000));
    curl_multi_poll(multi, nullptr, 0, ms, nullptr);
  }
  curl_multi_remove_handle(multi, easy);
  curl_slist_free_all(headers);
  if (t.status == 0)
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &t.status);
  r.status = t.status;
  r.body = std::move(t.body);
  if (!t.error.empty())
    r.error = t.error;
  else if (finished && done != CURLE_OK && !(done == CURLE_WRITE_ERROR && t.ended_by_consumer))
    r.error = *errbuf ? std::string{errbuf} : std::string{curl_easy_strerror(done)};
  return r;
}

} // namespace fa::labels
