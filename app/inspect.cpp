#include "app/inspect.hpp"

#include "base/unix_time.hpp"

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <vector>

namespace fa::app {

namespace {

using nlohmann::json;

struct column {
  const char* title;
  const char* key;
};

struct reply {
  long status = 0;
  std::string body;
  std::string error;
};

reply get(const std::string& url, const std::string& token, const std::string& cacert) {
  reply r;
  CURL* curl = curl_easy_init();
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  // https only (a redirect elsewhere is not followed); the peer and host are verified
  // (libcurl's default), against `cacert` when given.
  if (!cacert.empty())
    curl_easy_setopt(curl, CURLOPT_CAINFO, cacert.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char* p, std::size_t size, std::size_t n, void* out) {
        static_cast<std::string*>(out)->append(p, size * n);
        return size * n;
      });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  curl_slist* headers = nullptr;
  if (!token.empty()) {
    headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  }
  if (auto rc = curl_easy_perform(curl); rc == CURLE_OK)
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  else
    r.error = errbuf[0] != 0 ? errbuf : curl_easy_strerror(rc);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return r;
}

std::string cell(const json& v) {
  if (v.is_string())
    return v.get<std::string>();
  if (v.is_array()) {
    std::string out;
    for (const auto& x : v) {
      if (!out.empty())
        out += ',';
      out += cell(x);
    }
    return out.empty() ? "-" : out;
  }
  if (v.is_null())
    return "-";
  return v.dump();
}

/// Seconds since a unix time, as "42s", "7m", "3h", "2d".
std::string age(std::int64_t since) {
  if (since <= 0)
    return "-";
  auto s = std::max<std::int64_t>(0, base::unix_seconds() - since);
  if (s < 120)
    return std::to_string(s) + "s";
  if (s < 7200)
    return std::to_string(s / 60) + "m";
  if (s < 172800)
    return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

void print_table(const json& rows, const std::vector<column>& cols) {
  std::vector<std::vector<std::string>> cells;
  std::vector<std::size_t> width;
  for (const auto& c : cols)
    width.push_back(std::string_view{c.title}.size());
  for (const auto& row : rows) {
    auto& line = cells.emplace_back();
    for (std::size_t i = 0; i < cols.size(); ++i) {
      std::string key = cols[i].key;
      auto value = row.value(key, json{});
      // A time is null where it is unknown (an actor that did not answer): shown as "-".
      auto text = key == "since" || key == "last_sync"
                      ? age(value.is_number() ? value.get<std::int64_t>() : 0)
                      : cell(value);
      width[i] = std::max(width[i], text.size());
      line.push_back(std::move(text));
    }
  }
  auto print_line = [&](const std::vector<std::string>& line, bool header) {
    std::string out;
    for (std::size_t i = 0; i < line.size(); ++i) {
      // Numbers right-aligned, text left-aligned; the header follows its column.
      bool numeric = !header && !line[i].empty() &&
                     std::all_of(line[i].begin(), line[i].end(),
                                 [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
      auto pad = std::string(width[i] - line[i].size(), ' ');
      out += numeric ? pad + line[i] : line[i] + (i + 1 < line.size() ? pad : "");
      if (i + 1 < line.size())
        out += "  ";
    }
    std::cout << out << '\n';
  };
  std::vector<std::string> header;
  for (const auto& c : cols)
    header.emplace_back(c.title);
  print_line(header, true);
  for (const auto& line : cells)
    print_line(line, false);
}

void print_labels(const json& l) {
  const std::vector<std::pair<const char*, const char*>> fields{
      {"source", "source"},
      {"ready", "ready"},
      {"synced", "synced"},
      {"pods", "pods"},
      {"ips", "ips"},
      {"last sync", "last_sync"},
      {"resource version", "resource_version"},
      {"lists", "lists"},
      {"relists (410 Gone)", "relists_gone"},
      {"watch restarts", "watch_restarts"},
      {"errors", "errors"},
      {"last error", "last_error"}};
  for (const auto& [title, key] : fields) {
    if (!l.contains(key))
      continue;
    auto text = std::string_view{key} == "last_sync" ? age(l[key].get<std::int64_t>()) + " ago"
                                                     : cell(l[key]);
    std::printf("%-20s %s\n", title, text.c_str());
  }
  if (l.contains("lookup")) {
    std::cout << "\nPods that held " << l["lookup"]["ip"].get<std::string>() << ":\n";
    print_table(l["lookup"]["pods"], {{"NAMESPACE", "namespace"},
                                      {"NAME", "name"},
                                      {"NODE", "node"},
                                      {"MATCH", "match"},
                                      {"LABELS", "labels"}});
  }
}

} // namespace

int inspect(const inspect_options& opts) {
  static const std::vector<column> sessions{{"ID", "id"},
                                            {"TRANSPORT", "transport"},
                                            {"PEER", "peer"},
                                            {"ODIDS", "observation_domains"},
                                            {"TEMPLATES", "templates"},
                                            {"RECORDS", "records"},
                                            {"BYTES", "bytes"},
                                            {"LOST", "lost_records"},
                                            {"MALFORMED", "malformed"},
                                            {"DROPS", "budget_drops"},
                                            {"AGE", "since"}};
  static const std::vector<column> destinations{{"NAME", "name"},
                                                {"URL", "url"},
                                                {"STATE", "state"},
                                                {"QUEUED", "queued_records"},
                                                {"QUEUED_BYTES", "queued_bytes"},
                                                {"SENT", "sent_records"},
                                                {"DROPPED", "dropped_records"},
                                                {"RECONNECTS", "reconnects"}};
  static const std::vector<column> templates{
      {"SESSION", "session"},         {"PEER", "peer"},
      {"ODID", "observation_domain"}, {"IN", "input_template"},
      {"OUT", "output_template"},     {"ANTREA", "antrea"},
      {"FIELDS", "input_count"},      {"APPENDED", "appended_names"}};
  static const std::vector<column> actors{
      {"NAME", "name"},       {"ROLE", "role"},       {"ID", "id"},    {"TYPE", "type"},
      {"MAILBOX", "mailbox"}, {"HANDLED", "handled"}, {"AGE", "since"}};
  static const std::vector<column> flows{{"SHARD", "shard"},
                                         {"SOURCE", "source"},
                                         {"SPORT", "source_port"},
                                         {"DESTINATION", "destination"},
                                         {"DPORT", "destination_port"},
                                         {"PROTO", "protocol"},
                                         {"STATE", "state"},
                                         {"SOURCE_POD", "source_pod"},
                                         {"DEST_POD", "destination_pod"},
                                         {"PACKETS", "packets"},
                                         {"BYTES", "octets"},
                                         {"IDLE_MS", "idle_ms"}};
  static const std::vector<column> aggregators{
      {"SHARD", "shard"},           {"FLOWS", "flows"},          {"PENDING", "pending"},
      {"MAX", "max_flows"},         {"BYTES", "state_bytes"},    {"RECORDS", "records_in"},
      {"CORRELATED", "correlated"}, {"EXPORTED", "records_out"}, {"EVICTED", "evicted"},
      {"FORWARDED", "forwarded"}};
  static const std::vector<std::string> views{"sessions", "templates",   "destinations", "labels",
                                              "actors",   "aggregators", "flows"};
  if (std::find(views.begin(), views.end(), opts.what) == views.end()) {
    std::cerr << "flow-aggregator inspect: unknown view '" << opts.what
              << "'; use sessions, templates, destinations, labels, actors, aggregators or "
                 "flows\n";
    return 2;
  }
  std::string base = opts.admin;
  if (base.find("://") == std::string::npos) {
    base = "http://" + base;
  } else if (!base.starts_with("http://") && !base.starts_with("https://")) {
    std::cerr << "flow-aggregator inspect: --admin " << opts.admin
              << ": expected HOST:PORT, http://HOST:PORT or https://HOST:PORT\n";
    return 2;
  }
  while (base.ends_with("/"))
    base.pop_back();
  auto url = base + "/api/v1/" + opts.what;
  if (opts.what == "labels" && !opts.ip.empty())
    url += "?ip=" + opts.ip;
  if (opts.what == "flows") {
    // The API checks the values (400 with the reason, printed below).
    std::string q;
    const std::pair<const char*, const std::string*> params[] = {
        {"ip", &opts.ip}, {"port", &opts.port}, {"limit", &opts.limit}};
    for (const auto& [key, value] : params)
      if (!value->empty())
        q += (q.empty() ? "?" : "&") + std::string{key} + "=" + *value;
    url += q;
  }
  auto r = get(url, opts.token, opts.cacert);
  if (!r.error.empty()) {
    std::cerr << "flow-aggregator inspect: cannot reach the admin API at " << opts.admin << ": "
              << r.error << " (is flow-aggregator running, with [admin] listen set?)\n";
    return 1;
  }
  if (r.status == 401) {
    std::cerr << "flow-aggregator inspect: the admin API at " << opts.admin
              << " needs a token: pass --token-file FILE (or -c the config that names it)\n";
    return 1;
  }
  if (r.status != 200) {
    std::cerr << "flow-aggregator inspect: " << url << " answered " << r.status << ": " << r.body;
    return 1;
  }
  if (opts.json) {
    std::cout << r.body;
    return 0;
  }
  auto body = json::parse(r.body, nullptr, false);
  if (body.is_discarded()) {
    std::cerr << "flow-aggregator inspect: " << url << " did not answer JSON\n";
    return 1;
  }
  if (opts.what == "sessions")
    print_table(body, sessions);
  else if (opts.what == "destinations")
    print_table(body, destinations);
  else if (opts.what == "actors")
    print_table(body, actors); // an actor that did not answer in time shows "-"
  else if (opts.what == "aggregators")
    print_table(body, aggregators);
  else if (opts.what == "flows") {
    print_table(body["flows"], flows);
    if (body.value("more", false))
      std::cout << "(more flows match: raise --limit, at most 1000, or narrow with --ip/--port)\n";
  } else if (opts.what == "templates") {
    for (auto& t : body) {
      t["input_count"] = t["input_fields"].size();
      json names = json::array();
      for (const auto& f : t["appended_fields"])
        names.push_back(f["name"]);
      t["appended_names"] = names;
    }
    print_table(body, templates);
  } else
    print_labels(body);
  return 0;
}

} // namespace fa::app
