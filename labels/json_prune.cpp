#include "labels/json_prune.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace fa::labels {

namespace {

using nlohmann::json;

/// nlohmann's SAX interface: builds the kept members only. Containers being skipped are
/// counted, not built; the lexer's key and string buffers are copied only when kept.
class pruning_parser final : public nlohmann::json_sax<json> {
 public:
  pruning_parser(json& root, std::span<const json_keep> members)
      : root_(root)
      , pending_(members) {}

  bool null() override { return dropped() || add(json(nullptr)); }
  bool boolean(bool v) override { return dropped() || add(json(v)); }
  bool number_integer(number_integer_t v) override { return dropped() || add(json(v)); }
  bool number_unsigned(number_unsigned_t v) override { return dropped() || add(json(v)); }
  bool number_float(number_float_t v, const string_t&) override {
    return dropped() || add(json(v));
  }
  bool string(string_t& v) override { return dropped() || add(json(std::move(v))); }
  bool binary(binary_t& v) override { return dropped() || add(json::binary(std::move(v))); }

  bool start_object(std::size_t) override { return open(json::object()); }
  bool start_array(std::size_t) override { return open(json::array()); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }

  bool key(string_t& k) override {
    if (skipping())
      return true;
    auto& f = frames_.back();
    if (!f.filtered) {
      key_ = std::move(k);
      pending_ = {};
      keep_ = true;
      return true;
    }
    auto i = std::find_if(f.members.begin(), f.members.end(),
                          [&](const json_keep& m) { return m.key == k; });
    keep_ = i != f.members.end();
    if (keep_) {
      key_ = std::move(k);
      pending_ = i->members;
    }
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  struct frame {
    json* value = nullptr;              ///< the container being built
    std::span<const json_keep> members; ///< members to keep, when `filtered`
    bool filtered = false;
  };

  bool skipping() const { return skip_depth_ > 0; }
  /// Whether the next scalar is dropped: inside a skipped value, or after a key not kept.
  bool dropped() const {
    return skipping() || (!frames_.empty() && !frames_.back().value->is_array() && !keep_);
  }

  /// Where the next value goes, or nullptr when it is dropped.
  json* place(json&& v) {
    if (frames_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    auto& parent = *frames_.back().value;
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    if (!keep_)
      return nullptr;
    auto& slot = parent[key_];
    slot = std::move(v);
    return &slot;
  }

  bool add(json&& v) {
    place(std::move(v));
    return true;
  }

  bool open(json&& container) {
    if (skipping()) {
      ++skip_depth_;
      return true;
    }
    const bool in_array = !frames_.empty() && frames_.back().value->is_array();
    // Elements of an array are kept whole, as are members kept without a list.
    const auto members = in_array ? std::span<const json_keep>{} : pending_;
    const bool filtered = container.is_object() && !members.empty();
    json* at = place(std::move(container));
    if (!at) {
      skip_depth_ = 1;
      return true;
    }
    frames_.push_back({at, members, filtered});
    return true;
  }

  bool close() {
    if (skipping())
      --skip_depth_;
    else
      frames_.pop_back();
    return true;
  }

  json& root_;
  std::vector<frame> frames_;
  std::span<const json_keep> pending_; ///< what to keep of the value after the last key
  std::string key_;                    ///< the last key kept
  bool keep_ = true;                   ///< whether the value after the last key is kept
  std::size_t skip_depth_ = 0;         ///< containers open inside a skipped value
};

} // namespace

json parse_pruned(std::string_view text, std::span<const json_keep> members) {
  json root;
  pruning_parser parser{root, members};
  if (!json::sax_parse(text.begin(), text.end(), &parser))
    return json(json::value_t::discarded);
  return root;
}

} // namespace fa::labels
