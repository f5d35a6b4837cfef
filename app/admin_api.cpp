#include "app/admin_api.hpp"

#include "app/supervisor.hpp"
#include "config/render.hpp"
#include "ipfix/elements.hpp"
#include "labels/pod_index.hpp"
#include "monitoring/log.hpp"
#include "monitoring/rate_limited_log.hpp"

#include <nlohmann/json.hpp>
#include <prometheus/counter.h>
#include <prometheus/text_serializer.h>
#include <toml++/toml.h>

#include <asio/ip/address.hpp>

#include <algorithm>
#include <optional>
#include <sstream>
#include <variant>

namespace fa::app {

namespace {

using nlohmann::json;

http_response json_response(const json& body, int status = 200) {
  http_response r;
  r.status = status;
  r.body = body.dump(2);
  r.body += '\n';
  return r;
}

json to_json(const messages::session_status& s) {
  return {{"id", s.id},
          {"transport", s.transport},
          {"peer", s.peer},
          {"observation_domains", s.odids},
          {"templates", s.templates},
          {"template_bytes", s.template_bytes},
          {"messages", s.messages},
          {"records", s.records},
          {"bytes", s.bytes},
          {"lost_records", s.lost_records},
          {"out_of_order_messages", s.out_of_order_messages},
          {"sequence_resets", s.sequence_resets},
          {"malformed", s.malformed},
          {"unknown_template_sets", s.unknown_template_sets},
          {"no_output_id_sets", s.no_output_id_sets},
          {"template_events", s.template_events},
          {"budget_drops", s.budget_drops},
          {"since", s.since}};
}

json to_json(const std::vector<messages::template_field>& fields) {
  json out = json::array();
  for (const auto& f : fields) {
    json x = {{"name", ipfix::element_name(f.enterprise, f.id)}, {"id", f.id}};
    if (f.enterprise != 0)
      x["enterprise"] = f.enterprise;
    x["length"] = f.length == 65535 ? json("variable") : json(f.length);
    out.push_back(std::move(x));
  }
  return out;
}

json templates_json(const std::vector<messages::session_status>& sessions) {
  json out = json::array();
  for (const auto& s : sessions)
    for (const auto& m : s.template_mappings)
      out.push_back({{"session", s.id},
                     {"peer", s.peer},
                     {"transport", s.transport},
                     {"observation_domain", m.odid},
                     {"input_template", m.input_id},
                     {"output_template", m.output_id},
                     {"options", m.options},
                     {"antrea", m.antrea},
                     {"input_fields", to_json(m.input)},
                     {"appended_fields", to_json(m.appended)}});
  return out;
}

json to_json(const messages::destination_status& d) {
  return {{"name", d.name},
          {"url", d.url},
          {"state", d.state},
          {"queued_bytes", d.queued_bytes},
          {"queued_batches", d.queued_batches},
          {"queued_records", d.queued_records},
          {"sent_records", d.sent_records},
          {"sent_messages", d.sent_messages},
          {"sent_bytes", d.sent_bytes},
          {"dropped_records", d.dropped_records},
          {"reconnects", d.reconnects},
          {"connections", d.connections},
          {"templates_announced", d.templates_announced}};
}

json to_json(const messages::label_status& l) {
  json pods = json::array();
  for (const auto& p : l.lookup)
    pods.push_back({{"name", p.name},
                    {"namespace", p.pod_namespace},
                    {"node", p.node_name},
                    {"labels", json::parse(p.labels_json.empty() ? "{}" : p.labels_json)},
                    {"created", p.creation},
                    {"deleted", p.deletion},
                    {"match", p.match}});
  json out = {{"source", l.source},
              {"ready", l.ready},
              {"synced", l.synced},
              {"pods", l.pods},
              {"ips", l.ips},
              {"last_sync", l.last_sync},
              {"last_change", l.last_change},
              {"resource_version", l.resource_version},
              {"lists", l.lists},
              {"relists_gone", l.relists_gone},
              {"watch_restarts", l.watch_restarts},
              {"idle_restarts", l.idle_restarts},
              {"watch_events", l.watch_events},
              {"bookmarks", l.bookmarks},
              {"errors", l.errors},
              {"unauthorized", l.unauthorized},
              {"bad_objects", l.bad_objects},
              {"reloads", l.reloads},
              {"rejected_reloads", l.rejected_reloads},
              {"invalid_ips", l.invalid_ips},
              {"snapshots", l.snapshots},
              {"expired", l.expired},
              {"last_error", l.last_error}};
  if (!l.lookup_ip.empty())
    out["lookup"] = {{"ip", l.lookup_ip}, {"pods", pods}};
  return out;
}

/// A row of the ACTORS view. Numbers are null when the actor did not answer in time.
json to_json(const actor_row& a) {
  json out = {{"name", a.name},
              {"role", a.role},
              {"id", a.id},
              {"answered", a.answered},
              {"type", a.answered ? json(a.stats.type) : json()},
              {"mailbox", a.answered ? json(a.stats.mailbox) : json()},
              {"handled", a.answered ? json(a.stats.handled) : json()},
              {"since", a.answered ? json(a.stats.since) : json()}};
  if (!a.answered)
    out["error"] = a.error;
  return out;
}

json to_json(const messages::aggregator_status& a) {
  json exports = json::object();
  static constexpr const char* reasons[] = {"ready",   "active",   "inactive",
                                            "evicted", "shutdown", "uncorrelated"};
  for (std::size_t i = 0; i < a.exports.size() && i < std::size(reasons); ++i)
    exports[reasons[i]] = a.exports[i];
  return {{"shard", a.shard},
          {"max_flows", a.max_flows},
          {"flows", a.flows},
          {"pending", a.pending},
          {"state_bytes", a.state_bytes},
          {"batches", a.batches},
          {"records_in", a.records_in},
          {"forwarded", a.forwarded},
          {"created", a.created},
          {"correlated", a.correlated},
          {"out_of_date", a.out_of_date},
          {"malformed", a.malformed},
          {"exports", exports},
          {"unchanged", a.unchanged},
          {"expired", a.expired},
          {"evicted", a.evicted},
          {"uncorrelated_exported", a.uncorrelated_exported},
          {"uncorrelated_dropped", a.uncorrelated_dropped},
          {"too_large", a.too_large},
          {"records_out", a.records_out}};
}

json to_json(const messages::flow_row& f) {
  return {{"shard", f.shard},
          {"source", f.source},
          {"destination", f.destination},
          {"source_port", f.source_port},
          {"destination_port", f.destination_port},
          {"protocol", f.protocol},
          {"flow_type", f.flow_type},
          {"state", f.state},
          {"source_pod", f.source_pod},
          {"destination_pod", f.destination_pod},
          {"packets", f.packets},
          {"octets", f.octets},
          {"reverse_packets", f.reverse_packets},
          {"reverse_octets", f.reverse_octets},
          {"idle_ms", f.idle_ms}};
}

/// Flows in one page of /api/v1/flows: at most this many, 100 unless `limit` says.
constexpr std::uint32_t max_flow_page = 1000;

/// A decimal number in [lo, hi], or nullopt.
std::optional<std::uint64_t> bounded_number(const std::string& text, std::uint64_t lo,
                                            std::uint64_t hi) {
  if (text.empty() || text.size() > 10 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  auto v = std::stoull(text);
  if (v < lo || v > hi)
    return std::nullopt;
  return v;
}

/// The query of /api/v1/flows (`ip`, `port`, `limit`), or what is wrong with it.
std::variant<messages::flow_query, std::string> flow_query_of(std::string_view query) {
  messages::flow_query q;
  if (auto ip = query_param(query, "ip"); !ip.empty()) {
    asio::error_code ec;
    auto a = asio::ip::make_address(ip, ec);
    if (ec)
      return "ip: \"" + ip + "\" is not an IPv4 or IPv6 address";
    q.ip = a.to_string();
  }
  if (auto port = query_param(query, "port"); !port.empty()) {
    auto v = bounded_number(port, 0, 65535);
    if (!v)
      return "port: \"" + port + "\" is not a port number (0..65535)";
    q.port = static_cast<std::int32_t>(*v);
  }
  if (auto limit = query_param(query, "limit"); !limit.empty()) {
    auto v = bounded_number(limit, 1, max_flow_page);
    if (!v)
      return "limit: \"" + limit + "\" is not a number of flows (1.." +
             std::to_string(max_flow_page) + ")";
    q.limit = static_cast<std::uint32_t>(*v);
  }
  return q;
}

/// The effective configuration as JSON: rendered to TOML with secrets redacted (the one
/// place that knows which keys are secret), then re-read and emitted as JSON.
json config_json(const config::config& cfg) {
  auto text = config::render_effective(cfg, true);
  auto table = toml::parse(text);
  std::ostringstream out;
  out << toml::json_formatter{table};
  return json::parse(out.str());
}

} // namespace

readiness check_readiness(supervisor& s) {
  readiness r;
  r.listeners = s.listening();
  r.labels =
      s.effective_config().labels.source == config::label_source::none || s.label_status().ready;
  for (const auto& d : s.destinations())
    r.destination = r.destination || d.state == "connected";
  return r;
}

std::function<void(std::string_view)> admin_connection_events(supervisor& s) {
  auto& family = prometheus::BuildCounter()
                     .Name("flow_aggregator_admin_connections_closed_total")
                     .Help("Admin API connections closed before they were served, by reason")
                     .Register(*s.metrics().registry());
  // Resolved once (STYLE: metrics are state); the reasons are app/admin_front.hpp's.
  auto counters = std::make_shared<std::map<std::string, prometheus::Counter*, std::less<>>>();
  for (const char* reason : {"head_timeout", "tls_handshake", "evicted", "full", "head_too_large",
                             "bad_request", "busy", "exchange_timeout"})
    (*counters)[reason] = &family.Add({{"reason", reason}});
  // Called on the front's one thread only, so the limiter needs no lock.
  auto limiter = std::make_shared<monitoring::log_rate_limiter>();
  return [counters, limiter](std::string_view reason) {
    if (auto it = counters->find(reason); it != counters->end())
      it->second->Increment();
    if (!monitoring::log_enabled(monitoring::log_level::warn))
      return;
    if (auto suppressed = limiter->admit())
      monitoring::log(
          monitoring::log_level::warn, "admin connection closed before it was served",
          {{"reason", std::string{reason}}, {"suppressed", std::to_string(*suppressed)}});
  };
}

std::map<std::string, http_handler> admin_routes(supervisor& s) {
  std::map<std::string, http_handler> routes;
  routes["/metrics"] = [&s](const http_request&) {
    http_response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = prometheus::TextSerializer{}.Serialize(s.metrics().registry()->Collect());
    return r;
  };
  routes["/healthz"] = [](const http_request&) {
    http_response r;
    r.content_type = "text/plain";
    r.body = "ok\n";
    return r;
  };
  routes["/readyz"] = [&s](const http_request&) {
    auto r = check_readiness(s);
    return json_response({{"ready", r.ready()},
                          {"listeners", r.listeners},
                          {"labels", r.labels},
                          {"destination", r.destination}},
                         r.ready() ? 200 : 503);
  };
  routes["/api/v1/sessions"] = [&s](const http_request&) {
    json out = json::array();
    for (const auto& x : s.sessions())
      out.push_back(to_json(x));
    return json_response(out);
  };
  routes["/api/v1/templates"] = [&s](const http_request&) {
    return json_response(templates_json(s.sessions()));
  };
  routes["/api/v1/destinations"] = [&s](const http_request&) {
    json out = json::array();
    for (const auto& x : s.destinations())
      out.push_back(to_json(x));
    return json_response(out);
  };
  routes["/api/v1/labels"] = [&s](const http_request& req) {
    auto ip = query_param(req.query, "ip");
    // The client's mistake, said as such (400); the text is not echoed: it need not be
    // UTF-8.
    if (!ip.empty() && !labels::parse_ip(ip))
      return json_response(
          {{"error", "ip must be an IPv4 or IPv6 address, such as 10.0.0.1 or fd00::1"}}, 400);
    return json_response(to_json(s.label_status(ip)));
  };
  routes["/api/v1/actors"] = [&s](const http_request&) {
    json out = json::array();
    for (const auto& x : s.actors())
      out.push_back(to_json(x));
    return json_response(out);
  };
  // mode = "aggregate": the flows the shards hold, a bounded page filtered by address
  // and port. 400 for a bad parameter, 404 in proxy mode (there is no flow table).
  routes["/api/v1/flows"] = [&s](const http_request& req) {
    auto q = flow_query_of(req.query);
    if (auto* err = std::get_if<std::string>(&q))
      return json_response({{"error", *err}}, 400);
    if (s.effective_config().mode != config::run_mode::aggregate)
      return json_response({{"error", "flows are held only with mode = \"aggregate\""}}, 404);
    const auto& query = std::get<messages::flow_query>(q);
    auto page = s.flows(query);
    json flows = json::array();
    for (const auto& f : page.flows)
      flows.push_back(to_json(f));
    return json_response({{"flows", flows}, {"more", page.more}, {"limit", query.limit}});
  };
  routes["/api/v1/aggregators"] = [&s](const http_request&) {
    json out = json::array();
    for (const auto& x : s.aggregators())
      out.push_back(to_json(x));
    return json_response(out);
  };
  routes["/api/v1/config"] = [&s](const http_request&) {
    return json_response(config_json(s.effective_config()));
  };
  json index = json::array();
  for (const auto& [path, _] : routes)
    index.push_back(path);
  routes["/api/v1"] = [index](const http_request&) { return json_response(index); };
  return routes;
}

} // namespace fa::app
