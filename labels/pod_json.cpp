#include "labels/pod_json.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <exception>
#include <utility>

namespace fa::labels {
namespace {

using json = nlohmann::json;

// `obj[key]`, or nullptr when `obj` is no object or the member is absent or null
// (the API omits empty fields; some clients write them as null).
const json* member(const json& obj, const char* key) {
  if (!obj.is_object()) {
    return nullptr;
  }
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    return nullptr;
  }
  return &*it;
}

std::string expected(const std::string& path, const char* what, const json& got) {
  return path + ": expected " + what + ", got " + got.type_name();
}

// Reads an optional string member into `out` (left as is when absent).
bool get_string(const json& obj, const char* key, const std::string& path, std::string& out,
                std::string& error) {
  const json* v = member(obj, key);
  if (!v) {
    return true;
  }
  if (!v->is_string()) {
    error = expected(path, "a string", *v);
    return false;
  }
  out = v->get_ref<const std::string&>();
  return true;
}

bool get_required_string(const json& obj, const char* key, const std::string& path,
                         std::string& out, std::string& error) {
  if (!member(obj, key)) {
    error = path + ": missing";
    return false;
  }
  if (!get_string(obj, key, path, out, error)) {
    return false;
  }
  if (out.empty()) {
    error = path + ": empty";
    return false;
  }
  return true;
}

bool get_time(const json& obj, const char* key, const std::string& path, bool required,
              std::optional<std::int64_t>& out, std::string& error) {
  std::string text;
  if (required ? !get_required_string(obj, key, path, text, error)
               : !get_string(obj, key, path, text, error)) {
    return false;
  }
  if (!required && !member(obj, key)) {
    return true;
  }
  out = parse_rfc3339(text);
  if (!out) {
    error = path + ": not an RFC 3339 time: \"" + text + "\"";
    return false;
  }
  return true;
}

bool parse_labels(const json& metadata, label_list& out, std::string& error) {
  const json* labels = member(metadata, "labels");
  if (!labels) {
    return true;
  }
  if (!labels->is_object()) {
    error = expected("metadata.labels", "an object", *labels);
    return false;
  }
  out.reserve(labels->size());
  for (const auto& [key, value] : labels->items()) {
    if (!value.is_string()) {
      error = expected("metadata.labels." + key, "a string", value);
      return false;
    }
    out.emplace_back(key, value.get_ref<const std::string&>());
  }
  return true;
}

bool parse_ips(const json& status, std::vector<std::string>& out, std::string& error) {
  const json* ips = member(status, "podIPs");
  if (ips) {
    if (!ips->is_array()) {
      error = expected("status.podIPs", "an array", *ips);
      return false;
    }
    for (std::size_t i = 0; i < ips->size(); ++i) {
      const json& entry = (*ips)[i];
      std::string path = "status.podIPs[" + std::to_string(i) + "]";
      if (!entry.is_object()) {
        error = expected(path, "an object", entry);
        return false;
      }
      std::string ip;
      if (!get_required_string(entry, "ip", path + ".ip", ip, error)) {
        return false;
      }
      out.push_back(std::move(ip));
    }
  }
  if (out.empty()) {
    std::string ip;
    if (!get_string(status, "podIP", "status.podIP", ip, error)) {
      return false;
    }
    if (!ip.empty()) {
      out.push_back(std::move(ip));
    }
  }
  return true;
}

std::optional<parsed_pod> parse_pod_unchecked(const json& pod, std::string& error) {
  if (!pod.is_object()) {
    error = expected("Pod", "an object", pod);
    return std::nullopt;
  }
  std::string kind;
  if (!get_string(pod, "kind", "kind", kind, error)) {
    return std::nullopt;
  }
  if (!kind.empty() && kind != "Pod") {
    error = "kind: expected \"Pod\", got \"" + kind + "\"";
    return std::nullopt;
  }

  parsed_pod out;
  pod_info& info = out.info;
  const json* metadata = member(pod, "metadata");
  if (!metadata) {
    error = "metadata: missing";
    return std::nullopt;
  }
  if (!metadata->is_object()) {
    error = expected("metadata", "an object", *metadata);
    return std::nullopt;
  }
  std::optional<std::int64_t> creation;
  if (!get_required_string(*metadata, "uid", "metadata.uid", info.uid, error) ||
      !get_required_string(*metadata, "namespace", "metadata.namespace", info.pod_namespace,
                           error) ||
      !get_required_string(*metadata, "name", "metadata.name", info.name, error) ||
      !get_time(*metadata, "creationTimestamp", "metadata.creationTimestamp", true, creation,
                error) ||
      !get_time(*metadata, "deletionTimestamp", "metadata.deletionTimestamp", false, out.deletion,
                error) ||
      !parse_labels(*metadata, info.labels, error)) {
    return std::nullopt;
  }
  info.creation = *creation;

  if (const json* spec = member(pod, "spec")) {
    if (!spec->is_object()) {
      error = expected("spec", "an object", *spec);
      return std::nullopt;
    }
    if (!get_string(*spec, "nodeName", "spec.nodeName", info.node_name, error)) {
      return std::nullopt;
    }
    if (const json* host = member(*spec, "hostNetwork")) {
      if (!host->is_boolean()) {
        error = expected("spec.hostNetwork", "a boolean", *host);
        return std::nullopt;
      }
      info.host_network = host->get<bool>();
    }
  }

  if (const json* status = member(pod, "status")) {
    if (!status->is_object()) {
      error = expected("status", "an object", *status);
      return std::nullopt;
    }
    if (!get_string(*status, "phase", "status.phase", info.phase, error) ||
        !parse_ips(*status, info.ips, error)) {
      return std::nullopt;
    }
  }
  return out;
}

// "[json.exception.parse_error.101] parse error at line 3, column 5: syntax error ..."
// -> "line 3, column 5: syntax error ...". Left as is (prefix dropped) if not that shape.
std::string describe_parse_error(const char* what) {
  std::string_view text{what};
  if (auto close = text.find("] ");
      text.starts_with("[json.exception.") && close != std::string_view::npos) {
    text.remove_prefix(close + 2);
  }
  constexpr std::string_view at = "parse error at ";
  if (text.starts_with(at)) {
    text.remove_prefix(at.size());
  }
  return std::string{text};
}

struct line {
  std::size_t number; // 1-based
  std::string_view text;
};

bool blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos;
}

std::vector<line> non_blank_lines(std::string_view text) {
  std::vector<line> out;
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    auto end = text.find('\n');
    std::string_view l = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (!blank(l)) {
      out.push_back({number, l});
    }
  }
  return out;
}

// Whether `l` alone is a JSON object that looks like a Pod (see parse_pod_file).
bool pod_line(std::string_view l) {
  json j = json::parse(l, nullptr, false);
  return j.is_object() && (j.contains("kind") || j.contains("metadata"));
}

void add(pod_file_result& result, const json& pod, const std::string& where) {
  std::string error;
  if (auto p = parse_pod_unchecked(pod, error)) {
    result.pods.push_back(std::move(*p));
  } else {
    result.errors.push_back(where.empty() ? error : where + ": " + error);
  }
}

void parse_json_lines(const std::vector<line>& lines, pod_file_result& result) {
  for (const auto& l : lines) {
    std::string where = "line " + std::to_string(l.number);
    try {
      add(result, json::parse(l.text), where);
    } catch (const json::parse_error& e) {
      // The line alone is the input: its "line 1" is ours, its column stands.
      std::string detail = describe_parse_error(e.what());
      if (detail.starts_with("line 1, ")) {
        result.errors.push_back(where + ", " + detail.substr(8));
      } else {
        result.errors.push_back(where + ": " + detail);
      }
    }
  }
}

void parse_document(const json& doc, pod_file_result& result) {
  if (!doc.is_object()) {
    result.errors.push_back(expected("document", "a Pod or PodList object", doc));
    return;
  }
  const json* items = member(doc, "items");
  if (!items) {
    add(result, doc, "");
    return;
  }
  std::string kind;
  std::string error;
  if (!get_string(doc, "kind", "kind", kind, error)) {
    result.errors.push_back(std::move(error));
    return;
  }
  if (!kind.empty() && kind != "PodList" && kind != "List") {
    result.errors.push_back("kind: expected \"PodList\" or \"List\", got \"" + kind + "\"");
    return;
  }
  if (!items->is_array()) {
    result.errors.push_back(expected("items", "an array", *items));
    return;
  }
  result.pods.reserve(items->size());
  for (std::size_t i = 0; i < items->size(); ++i) {
    add(result, (*items)[i], "items[" + std::to_string(i) + "]");
  }
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(int y, unsigned m) {
  static constexpr unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : days[m - 1];
}

// Reads exactly `n` decimal digits at `pos`.
bool digits(std::string_view s, std::size_t& pos, std::size_t n, int& out) {
  if (pos + n > s.size()) {
    return false;
  }
  out = 0;
  for (std::size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') {
      return false;
    }
    out = out * 10 + (c - '0');
  }
  pos += n;
  return true;
}

bool literal(std::string_view s, std::size_t& pos, char c) {
  if (pos < s.size() && s[pos] == c) {
    ++pos;
    return true;
  }
  return false;
}

} // namespace

std::optional<std::int64_t> parse_rfc3339(std::string_view s) {
  std::size_t pos = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(s, pos, 4, year) || !literal(s, pos, '-') || !digits(s, pos, 2, month) ||
      !literal(s, pos, '-') || !digits(s, pos, 2, day) || !literal(s, pos, 'T') ||
      !digits(s, pos, 2, hour) || !literal(s, pos, ':') || !digits(s, pos, 2, minute) ||
      !literal(s, pos, ':') || !digits(s, pos, 2, second)) {
    return std::nullopt;
  }
  // Go's time.Parse rejects leap seconds (60) too.
  if (month < 1 || month > 12 || day < 1 ||
      static_cast<unsigned>(day) > days_in_month(year, static_cast<unsigned>(month)) || hour > 23 ||
      minute > 59 || second > 59) {
    return std::nullopt;
  }
  if (literal(s, pos, '.')) {
    std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      ++pos;
    }
    if (pos == start) {
      return std::nullopt;
    }
  }
  std::int64_t offset = 0;
  if (!literal(s, pos, 'Z')) {
    int sign = 0;
    if (literal(s, pos, '+')) {
      sign = 1;
    } else if (literal(s, pos, '-')) {
      sign = -1;
    } else {
      return std::nullopt;
    }
    int oh = 0, om = 0;
    if (!digits(s, pos, 2, oh) || !literal(s, pos, ':') || !digits(s, pos, 2, om) || oh > 23 ||
        om > 59) {
      return std::nullopt;
    }
    offset = sign * (oh * 3600 + om * 60);
  }
  if (pos != s.size()) {
    return std::nullopt;
  }
  return days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
         hour * 3600 + minute * 60 + second - offset;
}

namespace {
constexpr json_keep pod_metadata[] = {{"uid", {}},
                                      {"namespace", {}},
                                      {"name", {}},
                                      {"creationTimestamp", {}},
                                      {"deletionTimestamp", {}},
                                      {"resourceVersion", {}},
                                      {"labels", {}}};
constexpr json_keep pod_spec[] = {{"nodeName", {}}, {"hostNetwork", {}}};
constexpr json_keep pod_status[] = {{"podIPs", {}}, {"podIP", {}}, {"phase", {}}};
constexpr json_keep pod_object[] = {{"kind", {}},       {"metadata", pod_metadata},
                                    {"spec", pod_spec}, {"status", pod_status},
                                    {"code", {}},       {"message", {}}};
} // namespace

const std::span<const json_keep> pod_members{pod_object};

std::optional<parsed_pod> parse_pod(const nlohmann::json& pod, std::string& error) {
  try {
    return parse_pod_unchecked(pod, error);
  } catch (const std::exception& e) {
    error = std::string{"Pod: "} + e.what();
  } catch (...) {
    error = "Pod: unknown error";
  }
  return std::nullopt;
}

pod_file_result parse_pod_file(std::string_view text) {
  pod_file_result result;
  try {
    if (blank(text)) {
      return result; // e.g. `jq -c '.items[]'` of no Pods
    }
    json doc;
    try {
      doc = json::parse(text);
    } catch (const json::parse_error& e) {
      auto lines = non_blank_lines(text);
      for (const auto& l : lines) {
        if (pod_line(l.text)) {
          parse_json_lines(lines, result);
          return result;
        }
      }
      result.errors.push_back(describe_parse_error(e.what()));
      return result;
    }
    parse_document(doc, result);
  } catch (const std::exception& e) {
    result.errors.push_back(std::string{"unexpected error: "} + e.what());
  } catch (...) {
    result.errors.push_back("unexpected error");
  }
  return result;
}

} // namespace fa::labels
