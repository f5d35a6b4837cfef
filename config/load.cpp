#include "config/load.hpp"

#include "config/default_config.hpp"
#include "config/endpoint.hpp"
#include "config/enum_names.hpp"
#include "config/render.hpp"
#include "config/schema.hpp"
#include "config/units.hpp"
#include "config/validate.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>
#include <unordered_map>

namespace fa::config {

namespace {

// -- text helpers -------------------------------------------------------------

/// "a", "b" or "c".
template <class Enum>
std::string choices() {
  const auto& names = enum_traits<Enum>::names;
  std::string result;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i != 0)
      result += i + 1 == names.size() ? " or " : ", ";
    result += toml_quote(names[i].name);
  }
  return result;
}

/// The value as it would be written in TOML, short; empty for tables.
std::string render_node(const toml::node& node) {
  if (auto* s = node.as_string())
    return toml_quote(s->get());
  if (node.is_table())
    return {};
  std::string text;
  if (const auto* array = node.as_array()) {
    text = "[";
    for (std::size_t i = 0; i < array->size(); ++i) {
      if (i != 0)
        text += ", ";
      auto element = render_node(*array->get(i));
      text += element.empty() ? "{...}" : element;
    }
    text += "]";
  } else {
    std::ostringstream out;
    node.visit([&out](const auto& x) { out << x; });
    text = out.str();
  }
  constexpr std::size_t max_length = 60;
  if (text.size() > max_length)
    text = text.substr(0, max_length - 3) + "...";
  return text;
}

std::string type_noun(const toml::node& node) {
  switch (node.type()) {
  case toml::node_type::table:
    return "a table";
  case toml::node_type::array:
    return "an array";
  case toml::node_type::string:
    return "a string";
  case toml::node_type::integer:
    return "an integer";
  case toml::node_type::floating_point:
    return "a floating-point number";
  case toml::node_type::boolean:
    return "a boolean";
  default:
    return "a date or time";
  }
}

std::string lower(std::string_view x) {
  std::string result{x};
  for (auto& c : result)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return result;
}

/// Optimal string alignment distance: edits, plus swaps of two neighbours ("fulsh").
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i)
    d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j)
    d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

std::string section_header(std::string_view section) {
  if (section.empty())
    return "the top level (before any [table])";
  if (section == "destination")
    return "[[destination]]";
  return "[" + std::string{section} + "]";
}

/// What to tell someone who wrote `key` in `section`.
std::string unknown_key_message(std::string_view key, std::string_view section) {
  const auto* here = find_section(section);
  auto wanted = lower(key);
  // Close enough: about one typo per three letters, at most three.
  auto limit = std::clamp<std::size_t>(key.size() / 3, 1, 3);
  std::string_view best;
  auto best_distance = std::numeric_limits<std::size_t>::max();
  for (auto candidate : here->keys) {
    auto distance = edit_distance(wanted, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  if (best_distance > limit) {
    // A shortened or lengthened name: "labels_for_foreign", "intervals".
    for (auto candidate : here->keys) {
      auto shorter = std::min(wanted.size(), candidate.size());
      if (shorter >= 4 && (candidate.find(wanted) != std::string_view::npos ||
                           wanted.find(candidate) != std::string::npos)) {
        best = candidate;
        best_distance = 0;
        break;
      }
    }
  }
  if (best_distance <= limit)
    return "unknown key; did you mean " + toml_quote(best) + "?";
  for (const auto& other : schema()) {
    if (other.path == section)
      continue;
    for (auto candidate : other.keys)
      if (candidate == wanted)
        return "unknown key here; did you mean " + toml_quote(candidate) + " in " +
               section_header(other.path) + "?";
  }
  std::string result = "unknown key; valid keys in " + section_header(section) + " are ";
  for (std::size_t i = 0; i < here->keys.size(); ++i) {
    if (i != 0)
      result += ", ";
    result += toml_quote(here->keys[i]);
  }
  return result;
}

// -- the loader ---------------------------------------------------------------

/// Where a key was written, and how, so that errors found later on the typed config
/// (by `validate`) can point at the text.
struct origin {
  std::uint32_t line = 0;
  std::uint32_t column = 0;
  std::string value;
};

/// Reads a TOML table tree into a `config`, collecting every error on the way.
class loader {
 public:
  config run(const toml::table& root) {
    config cfg;
    check_keys(root, "", "");
    read_enum(&root, "", "mode", cfg.mode);
    read_string(&root, "", "cluster_id", cfg.cluster_id);
    read_collector(section(root, "", "collector"), cfg.collector);
    read_destinations(root, cfg.destinations);
    const auto* fanout = section(root, "", "fanout");
    read_enum(fanout, "fanout", "mode", cfg.fanout.mode);
    read_bool(fanout, "fanout", "failover", cfg.fanout.failover);
    read_aggregate(section(root, "", "aggregate"), cfg.aggregate);
    read_enrichment(section(root, "", "enrichment"), cfg.enrichment);
    read_labels(section(root, "", "labels"), cfg.labels);
    read_kubernetes(section(root, "", "kubernetes"), cfg.kubernetes);
    read_admin(section(root, "", "admin"), cfg.admin);
    read_runtime(section(root, "", "runtime"), cfg.runtime);
    return cfg;
  }

  std::vector<config_error>& errors() noexcept { return errors_; }

  /// The position of `key`, or of its closest written parent; `value` is set only when
  /// `key` itself was written.
  origin locate(std::string_view key) const {
    bool exact = true;
    for (;;) {
      if (auto it = origins_.find(std::string{key}); it != origins_.end()) {
        auto result = it->second;
        if (!exact)
          result.value.clear();
        return result;
      }
      auto cut = key.find_last_of(".[");
      if (cut == std::string_view::npos || key.empty())
        return {};
      key = key.substr(0, cut);
      exact = false;
    }
  }

 private:
  void add(error_kind kind, std::string key, const toml::source_region& at, std::string value,
           std::string message) {
    config_error e;
    e.kind = kind;
    e.line = at.begin.line;
    e.column = at.begin.column;
    e.key = std::move(key);
    e.value = std::move(value);
    e.message = std::move(message);
    errors_.push_back(std::move(e));
  }

  void invalid(const std::string& key, const toml::node& node, std::string message) {
    add(error_kind::invalid_value, key, node.source(), render_node(node), std::move(message));
  }

  void wrong_type(const std::string& key, const toml::node& node, std::string expected) {
    auto value = render_node(node);
    if (value.empty() || node.is_array())
      expected += ", not " + type_noun(node);
    add(error_kind::wrong_type, key, node.source(), std::move(value), std::move(expected));
  }

  void remember(const std::string& key, const toml::node& node) {
    origins_[key] = origin{node.source().begin.line, node.source().begin.column, render_node(node)};
  }

  void check_keys(const toml::table& table, const std::string& path, std::string_view section) {
    const auto* known = find_section(section);
    for (const auto& [key, value] : table) {
      auto name = key.str();
      if (std::find(known->keys.begin(), known->keys.end(), name) == known->keys.end())
        add(error_kind::unknown_key, key_path(path, name), key.source(), {},
            unknown_key_message(name, section));
    }
  }

  /// The node at `path.key`, remembered for `locate`; nullptr when absent.
  const toml::node* find(const toml::table* table, const std::string& path, std::string_view key) {
    if (table == nullptr)
      return nullptr;
    const auto* node = table->get(key);
    if (node != nullptr)
      remember(key_path(path, key), *node);
    return node;
  }

  /// The sub-table `path.key`, with its keys checked; nullptr when absent or not a table.
  const toml::table* section(const toml::table& parent, const std::string& path,
                             std::string_view key) {
    const auto* node = find(&parent, path, key);
    if (node == nullptr)
      return nullptr;
    auto full = key_path(path, key);
    const auto* table = node->as_table();
    if (table == nullptr) {
      wrong_type(full, *node, "expected a table, written [" + full + "]");
      return nullptr;
    }
    check_keys(*table, full, full);
    return table;
  }

  // -- scalar readers; each leaves `out` unchanged on error ---------------------

  void read_string(const toml::table* table, const std::string& path, std::string_view key,
                   std::string& out) {
    const auto* node = find(table, path, key);
    if (node == nullptr)
      return;
    if (const auto* s = node->as_string())
      out = s->get();
    else
      wrong_type(key_path(path, key), *node, "expected a string");
  }

  void read_bool(const toml::table* table, const std::string& path, std::string_view key,
                 bool& out) {
    const auto* node = find(table, path, key);
    if (node == nullptr)
      return;
    if (const auto* b = node->as_boolean())
      out = b->get();
    else
      wrong_type(key_path(path, key), *node, "expected true or false");
  }

  /// An integer that must fit `Unsigned`; ranges are `validate`'s job.
  template <class Unsigned>
  void read_uint(const toml::table* table, const std::string& path, std::string_view key,
                 Unsigned& out) {
    const auto* node = find(table, path, key);
    if (node == nullptr)
      return;
    const auto* i = node->as_integer();
    if (i == nullptr) {
      wrong_type(key_path(path, key), *node, "expected an integer");
      return;
    }
    auto value = i->get();
    constexpr auto max = std::numeric_limits<Unsigned>::max();
    if (value < 0 || static_cast<std::uint64_t>(value) > max) {
      invalid(key_path(path, key), *node, "expected an integer from 0 to " + std::to_string(max));
      return;
    }
    out = static_cast<Unsigned>(value);
  }

  void read_duration(const toml::table* table, const std::string& path, std::string_view key,
                     duration& out) {
    const auto* node = find(table, path, key);
    if (node == nullptr)
      return;
    const auto* s = node->as_string();
    if (s == nullptr) {
      wrong_type(key_path(path, key), *node, std::string{duration_hint});
      return;
    }
    if (auto value = parse_duration(s->get()))
      out = *value;
    else
      invalid(key_path(path, key), *node, std::string{duration_hint});
  }

  /// A size: a plain integer (bytes) or a string with a unit.
  void read_size(const toml::table* table, const std::string& path, std::string_view key,
                 byte_size& out) {
    const auto* node = find(table, path, key);
    if (node == nullptr)
      return;
    if (const auto* i = node->as_integer()) {
      if (i->get() < 0)
        invalid(key_path(path, key), *node, std::string{size_hint});
      else
        out = static_cast<byte_size>(i->get());
      return;
    }
    const auto* s = node->as_string();
    if (s == nullptr) {
      wrong_type(key_path(path, key), *node, std::string{size_hint});
      return;
    }
    if (auto value = parse_size(s->get()))
      out = *value;
    else
      invalid(key_path(path, key), *node, std::string{size_hint});
  }

  /// `max_message_size`: a size that fits 32 bits; `validate` checks the range.
  void read_message_size(const toml::table* table, const std::string& path, std::string_view key,
                         std::uint32_t& out) {
    auto value = byte_size{out};
    auto before = errors_.size();
    read_size(table, path, key, value);
    if (errors_.size() != before)
      return;
    if (value > std::numeric_limits<std::uint32_t>::max()) {
      invalid(key_path(path, key), *table->get(key), "expected an integer up to 65535");
      return;
    }
    out = static_cast<std::uint32_t>(value);
  }

  template <class Enum>
  void read_enum(const toml::table* table, const std::string& path, std::string_view key,
                 Enum& out) {
    const auto* node = find(table, path, key);
    if (node == nullptr)
      return;
    const auto* s = node->as_string();
    if (s == nullptr) {
      wrong_type(key_path(path, key), *node, "expected " + choices<Enum>());
      return;
    }
    if (auto value = enum_from_string<Enum>(s->get()))
      out = *value;
    else
      invalid(key_path(path, key), *node, "expected " + choices<Enum>());
  }

  /// An array of strings; calls `each(key, node, text)` for each element.
  template <class F>
  void read_string_array(const toml::table* table, const std::string& path, std::string_view key,
                         std::string_view expected, F each) {
    const auto* node = find(table, path, key);
    if (node == nullptr)
      return;
    auto full = key_path(path, key);
    const auto* array = node->as_array();
    if (array == nullptr) {
      wrong_type(full, *node, std::string{expected});
      return;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
      const auto& element = *array->get(i);
      auto item = element_path(full, i);
      remember(item, element);
      if (const auto* s = element.as_string())
        each(item, element, s->get());
      else
        wrong_type(item, element, "expected a string");
    }
  }

  // -- sections -----------------------------------------------------------------

  void read_collector(const toml::table* table, collector_config& out) {
    const std::string path = "collector";
    read_string_array(table, path, "listen",
                      "expected an array of URLs, such as [\"tcp://0.0.0.0:4739\"]",
                      [&](const std::string& key, const toml::node& node, const std::string& text) {
                        auto parsed = parse_listen_url(text);
                        if (parsed.value) {
                          out.listen.push_back(std::move(*parsed.value));
                        } else {
                          invalid(key, node, parsed.error);
                          // A placeholder keeps the indexes of later entries aligned
                          // with the file; port 0 makes it collide with nothing.
                          out.listen.push_back(listen_endpoint{transport_kind::tcp, "0.0.0.0", 0});
                        }
                      });
    read_uint(table, path, "max_sessions", out.max_sessions);
    read_message_size(table, path, "max_message_size", out.max_message_size);
    read_size(table, path, "session_budget", out.session_budget);
    read_size(table, path, "receive_budget", out.receive_budget);
    read_uint(table, path, "max_templates_per_session", out.max_templates_per_session);
    read_duration(table, path, "template_lifetime", out.template_lifetime);
    read_size(table, path, "udp_receive_buffer", out.udp_receive_buffer);
    read_duration(table, path, "udp_idle_timeout", out.udp_idle_timeout);
    read_duration(table, path, "message_timeout", out.message_timeout);
    read_uint(table, path, "max_tcp_sessions", out.max_tcp_sessions);
    read_uint(table, path, "max_udp_sessions", out.max_udp_sessions);
    read_uint(table, path, "max_sessions_per_address", out.max_sessions_per_address);
    read_duration(table, path, "first_message_timeout", out.first_message_timeout);
    read_duration(table, path, "tcp_idle_timeout", out.tcp_idle_timeout);
    read_duration(table, path, "udp_untemplated_idle_timeout", out.udp_untemplated_idle_timeout);
    read_size(table, path, "template_budget", out.template_budget);
    read_size(table, path, "template_budget_per_exporter", out.template_budget_per_exporter);
    read_duration(table, path, "output_id_idle_timeout", out.output_id_idle_timeout);
    const auto* tls = table != nullptr ? section(*table, path, "tls") : nullptr;
    const std::string tls_path = "collector.tls";
    read_string(tls, tls_path, "cert", out.tls.cert);
    read_string(tls, tls_path, "key", out.tls.key);
    read_string(tls, tls_path, "client_ca", out.tls.client_ca);
    read_string_array(tls, tls_path, "allowed_names", "expected an array of strings",
                      [&](const std::string&, const toml::node&, const std::string& text) {
                        out.tls.allowed_names.push_back(text);
                      });
    read_duration(tls, tls_path, "handshake_timeout", out.tls.handshake_timeout);
    read_uint(tls, tls_path, "max_handshakes", out.tls.max_handshakes);
    read_string(tls, tls_path, "min_version", out.tls.min_version);
    const auto* grpc = table != nullptr ? section(*table, path, "grpc") : nullptr;
    const std::string grpc_path = "collector.grpc";
    read_size(grpc, grpc_path, "max_message_size", out.grpc.max_message_size);
    read_duration(grpc, grpc_path, "keepalive_time", out.grpc.keepalive_time);
    read_duration(grpc, grpc_path, "keepalive_timeout", out.grpc.keepalive_timeout);
    read_bool(grpc, grpc_path, "include_k8s_uids", out.grpc.include_k8s_uids);
  }

  void read_destinations(const toml::table& root, std::vector<destination_config>& out) {
    const auto* node = find(&root, "", "destination");
    if (node == nullptr)
      return;
    const auto* array = node->as_array();
    if (array == nullptr) {
      wrong_type("destination", *node,
                 "expected one or more [[destination]] tables (two brackets)");
      return;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
      const auto& element = *array->get(i);
      auto path = element_path("destination", i);
      remember(path, element);
      // Always push, so that destination[i] in later errors is the i-th in the file.
      auto& dst = out.emplace_back();
      const auto* table = element.as_table();
      if (table == nullptr) {
        wrong_type(path, element, "expected a table");
        continue;
      }
      check_keys(*table, path, "destination");
      read_destination(*table, path, dst);
    }
  }

  void read_destination(const toml::table& table, const std::string& path,
                        destination_config& out) {
    read_string(&table, path, "name", out.name);
    if (const auto* url = find(&table, path, "url")) {
      if (const auto* s = url->as_string()) {
        auto parsed = parse_destination_url(s->get());
        if (parsed.value)
          out.url = std::move(*parsed.value);
        else
          invalid(key_path(path, "url"), *url, parsed.error);
      } else {
        wrong_type(key_path(path, "url"), *url, "expected a URL string, such as \"jsonl:stdout\"");
      }
    } else {
      add(error_kind::missing_key, key_path(path, "url"), table.source(), {},
          "a url is required, such as \"ipfix+tcp://collector:4739\" or \"jsonl:stdout\"");
    }
    std::uint32_t odid = 0;
    if (find(&table, path, "observation_domain_id") != nullptr) {
      read_uint(&table, path, "observation_domain_id", odid);
      if (odid != 0)
        out.observation_domain_id = odid;
    }
    read_message_size(&table, path, "max_message_size", out.max_message_size);
    read_duration(&table, path, "flush_interval", out.flush_interval);
    read_duration(&table, path, "template_refresh", out.template_refresh);
    read_uint(&table, path, "template_refresh_messages", out.template_refresh_messages);
    read_bool(&table, path, "udp_gso", out.udp_gso);
    read_size(&table, path, "queue_size", out.queue_size);
    read_enum(&table, path, "on_full", out.on_full);
    read_size(&table, path, "replay_window", out.replay_window);
    read_duration(&table, path, "reconnect_min", out.reconnect_min);
    read_duration(&table, path, "reconnect_max", out.reconnect_max);
    read_string(&table, path, "tls_ca", out.tls_ca);
    read_string(&table, path, "tls_cert", out.tls_cert);
    read_string(&table, path, "tls_key", out.tls_key);
    read_string(&table, path, "tls_server_name", out.tls_server_name);
    read_string(&table, path, "tls_min_version", out.tls_min_version);
    read_string(&table, path, "user", out.user);
    read_string(&table, path, "password_file", out.password_file);
    read_duration(&table, path, "commit_interval", out.commit_interval);
    read_uint(&table, path, "max_rows", out.max_rows);
    read_enum(&table, path, "compression", out.compression);
    read_enum(&table, path, "format", out.format);
    read_bool(&table, path, "pretty_print", out.pretty_print);
    read_size(&table, path, "max_size", out.max_size);
    read_uint(&table, path, "max_backups", out.max_backups);
    read_duration(&table, path, "max_age", out.max_age);
    read_bool(&table, path, "compress", out.compress);
    read_filters(table, path, out.filters);
    read_uint(&table, path, "stream_buffer", out.stream_buffer);
    read_uint(&table, path, "stream_max_subscribers", out.stream_max_subscribers);
  }

  /// `filters = [{ingress_network_policy_rule_actions = ["Drop"]}, ...]`.
  void read_filters(const toml::table& table, const std::string& path,
                    std::vector<flow_log_filter>& out) {
    const auto* node = find(&table, path, "filters");
    if (node == nullptr)
      return;
    auto full = key_path(path, "filters");
    const auto* array = node->as_array();
    if (array == nullptr) {
      wrong_type(full, *node,
                 "expected an array of tables, such as "
                 "[{ingress_network_policy_rule_actions = [\"Drop\", \"Reject\"]}]");
      return;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
      const auto& element = *array->get(i);
      auto item = element_path(full, i);
      remember(item, element);
      auto& filter = out.emplace_back();
      const auto* t = element.as_table();
      if (t == nullptr) {
        wrong_type(item, element, "expected a table");
        continue;
      }
      check_keys(*t, item, "destination.filters");
      read_actions(t, item, "ingress_network_policy_rule_actions",
                   filter.ingress_network_policy_rule_actions);
      read_actions(t, item, "egress_network_policy_rule_actions",
                   filter.egress_network_policy_rule_actions);
    }
  }

  void read_actions(const toml::table* table, const std::string& path, std::string_view key,
                    std::vector<rule_action>& out) {
    read_string_array(
        table, path, key, "expected an array of rule actions, such as [\"Drop\"]",
        [&](const std::string& item, const toml::node& node, const std::string& text) {
          if (auto a = enum_from_string<rule_action>(text))
            out.push_back(*a);
          else
            invalid(item, node, "expected " + choices<rule_action>());
        });
  }

  void read_enrichment(const toml::table* table, enrichment_config& out) {
    const std::string path = "enrichment";
    read_bool(table, path, "provenance", out.provenance);
    read_bool(table, path, "antrea", out.antrea);
    read_bool(table, path, "pod_labels", out.pod_labels);
    read_bool(table, path, "fill_k8s_names", out.fill_k8s_names);
    read_bool(table, path, "labels_for_foreign_records", out.labels_for_foreign_records);
  }

  void read_aggregate(const toml::table* table, aggregate_config& out) {
    const std::string path = "aggregate";
    read_duration(table, path, "active_timeout", out.active_timeout);
    read_duration(table, path, "inactive_timeout", out.inactive_timeout);
    read_enum(table, path, "uncorrelated", out.uncorrelated);
    read_uint(table, path, "max_flows", out.max_flows);
    read_uint(table, path, "shards", out.shards);
    read_bool(table, path, "scaled_out", out.scaled_out);
  }

  void read_labels(const toml::table* table, labels_config& out) {
    const std::string path = "labels";
    read_enum(table, path, "source", out.source);
    read_string(table, path, "file", out.file);
    read_duration(table, path, "deleted_pod_retention", out.deleted_pod_retention);
  }

  void read_kubernetes(const toml::table* table, kubernetes_config& out) {
    const std::string path = "kubernetes";
    read_string(table, path, "api_server", out.api_server);
    read_string(table, path, "token_file", out.token_file);
    read_string(table, path, "ca_file", out.ca_file);
    read_string(table, path, "client_cert", out.client_cert);
    read_string(table, path, "client_key", out.client_key);
    read_duration(table, path, "watch_idle_timeout", out.watch_idle_timeout);
  }

  void read_admin(const toml::table* table, admin_config& out) {
    const std::string path = "admin";
    if (const auto* node = find(table, path, "listen")) {
      const auto* s = node->as_string();
      if (s == nullptr) {
        wrong_type("admin.listen", *node, "expected \"HOST:PORT\" or \"\" (disabled)");
      } else if (s->get().empty()) {
        out.listen.reset();
      } else {
        auto parsed = parse_host_port(s->get());
        if (parsed.value)
          out.listen = std::move(*parsed.value);
        else
          invalid("admin.listen", *node, parsed.error + ", or \"\" to disable the admin server");
      }
    }
    read_string(table, path, "token_file", out.token_file);
    read_string(table, path, "tls_cert", out.tls_cert);
    read_string(table, path, "tls_key", out.tls_key);
  }

  void read_runtime(const toml::table* table, runtime_config& out) {
    const std::string path = "runtime";
    read_uint(table, path, "workers", out.workers);
    read_uint(table, path, "io_threads", out.io_threads);
    read_uint(table, path, "enrichers", out.enrichers);
    read_uint(table, path, "idle_spin", out.idle_spin);
    read_duration(table, path, "idle_poll", out.idle_poll);
    read_duration(table, path, "idle_sleep", out.idle_sleep);
    read_uint(table, path, "max_throughput", out.max_throughput);
    read_enum(table, path, "log_level", out.log_level);
    read_enum(table, path, "log_format", out.log_format);
    read_duration(table, path, "shutdown_timeout", out.shutdown_timeout);
    read_duration(table, path, "memory_trim_interval", out.memory_trim_interval);
  }

  std::vector<config_error> errors_;
  std::unordered_map<std::string, origin> origins_;
};

/// True when `a` is `b`, or one is a parent of the other ("destination[0]" and
/// "destination[0].url", "collector.listen" and "collector.listen[2]").
bool related(std::string_view a, std::string_view b) {
  if (a.size() > b.size())
    std::swap(a, b);
  if (!b.starts_with(a))
    return false;
  return a.size() == b.size() || b[a.size()] == '.' || b[a.size()] == '[';
}

void finish(std::vector<config_error>& errors, std::string_view source) {
  for (auto& e : errors)
    e.source = std::string{source};
  std::stable_sort(errors.begin(), errors.end(), [](const auto& a, const auto& b) {
    // Positioned errors first, in file order; the rest keep their order.
    auto key = [](const config_error& e) { return std::make_tuple(e.line == 0, e.line, e.column); };
    return key(a) < key(b);
  });
}

} // namespace

load_result load_string(std::string_view text, std::string_view source_name) {
  load_result result;
  try {
    auto root = toml::parse(text, source_name);
    loader reader;
    auto cfg = reader.run(root);
    auto& errors = reader.errors();
    // Checks on the typed config. Skip any that concern a key that already failed to
    // parse: its value there is a default or a placeholder, not what the user wrote.
    auto parse_errors = errors.size();
    for (auto& e : validate(cfg)) {
      bool shadowed = std::any_of(errors.begin(), errors.begin() + parse_errors,
                                  [&e](const auto& p) { return related(p.key, e.key); });
      if (shadowed)
        continue;
      auto where = reader.locate(e.key);
      e.line = where.line;
      e.column = where.column;
      if (!e.value.empty()) {
        if (!where.value.empty())
          e.value = where.value; // as written: "1800s" rather than "30m"
        else
          e.message += " (" + e.key + " is not set, so this is its default)";
      }
      errors.push_back(std::move(e));
    }
    if (errors.empty())
      result.cfg = std::move(cfg);
    result.errors = std::move(errors);
  } catch (const toml::parse_error& err) {
    config_error e;
    e.kind = error_kind::syntax;
    e.line = err.source().begin.line;
    e.column = err.source().begin.column;
    e.message = "invalid TOML: " + std::string{err.description()};
    result.errors.push_back(std::move(e));
  } catch (const std::exception& err) {
    // Only allocation can throw here; the contract is still: no exception escapes.
    config_error e;
    e.kind = error_kind::io;
    e.message = err.what();
    result.errors.push_back(std::move(e));
  }
  finish(result.errors, source_name);
  return result;
}

load_result load_file(const std::filesystem::path& path) {
  auto name = path.string();
  std::ifstream in{path, std::ios::binary};
  std::error_code ec;
  if (!in || std::filesystem::is_directory(path, ec)) {
    load_result result;
    config_error e;
    e.kind = error_kind::io;
    e.source = name;
    e.message =
        std::filesystem::exists(path, ec) ? "cannot read the file" : "the file does not exist";
    result.errors.push_back(std::move(e));
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return load_string(text.str(), name);
}

load_result load_default() {
  return load_string(default_config_text(), "default.toml");
}

} // namespace fa::config
