#include "rpc/label_selector.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace fa::rpc {

namespace {

bool alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

/// A label value or the name part of a key: <= 63 characters of [A-Za-z0-9-_.],
/// alphanumeric at both ends; `allow_empty` for values.
bool valid_name(std::string_view s, bool allow_empty) {
  if (s.empty())
    return allow_empty;
  if (s.size() > 63 || !alnum(s.front()) || !alnum(s.back()))
    return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

/// A DNS subdomain (the optional prefix of a key).
bool valid_prefix(std::string_view s) {
  if (s.empty() || s.size() > 253)
    return false;
  while (!s.empty()) {
    auto dot = s.find('.');
    auto label = s.substr(0, dot);
    if (label.empty() || label.size() > 63 || !alnum(label.front()) || !alnum(label.back()) ||
        !std::all_of(label.begin(), label.end(), [](char c) {
          return (std::islower(static_cast<unsigned char>(c)) != 0) ||
                 std::isdigit(static_cast<unsigned char>(c)) != 0 || c == '-';
        }))
      return false;
    if (dot == std::string_view::npos)
      break;
    s.remove_prefix(dot + 1);
  }
  return true;
}

bool valid_key(std::string_view k) {
  auto slash = k.find('/');
  if (slash == std::string_view::npos)
    return valid_name(k, false);
  return valid_prefix(k.substr(0, slash)) && valid_name(k.substr(slash + 1), false);
}

class lexer {
 public:
  explicit lexer(std::string_view s)
      : s_(s) {}
  void ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_])) != 0)
      ++i_;
  }
  bool done() {
    ws();
    return i_ >= s_.size();
  }
  char peek() {
    ws();
    return i_ < s_.size() ? s_[i_] : '\0';
  }
  bool eat(std::string_view t) {
    ws();
    if (s_.substr(i_).starts_with(t)) {
      i_ += t.size();
      return true;
    }
    return false;
  }
  /// A run of characters that are not spaces or operators.
  std::string_view word() {
    ws();
    auto start = i_;
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (std::isspace(static_cast<unsigned char>(c)) != 0 || c == ',' || c == '=' || c == '!' ||
          c == '(' || c == ')' || c == '<' || c == '>')
        break;
      ++i_;
    }
    return s_.substr(start, i_ - start);
  }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
};

} // namespace

std::optional<label_selector> label_selector::parse(std::string_view text, std::string& error) {
  label_selector out;
  lexer lx{text};
  if (lx.done())
    return out;
  auto fail = [&](std::string why) -> std::optional<label_selector> {
    error = "invalid label selector \"" + std::string{text} + "\": " + std::move(why);
    return std::nullopt;
  };
  for (;;) {
    requirement r;
    if (lx.eat("!")) {
      r.kind = op::not_exists;
      r.key = std::string{lx.word()};
      if (!valid_key(r.key))
        return fail("bad key \"" + r.key + "\"");
    } else {
      r.key = std::string{lx.word()};
      if (!valid_key(r.key))
        return fail("bad key \"" + r.key + "\"");
      auto value = [&]() -> bool {
        auto v = lx.word();
        if (!valid_name(v, true))
          return false;
        r.values.emplace_back(v);
        return true;
      };
      if (lx.eat("==") || lx.eat("=")) {
        r.kind = op::equals;
        if (!value())
          return fail("bad value for \"" + r.key + "\"");
      } else if (lx.eat("!=")) {
        r.kind = op::not_equals;
        if (!value())
          return fail("bad value for \"" + r.key + "\"");
      } else if (lx.peek() == '>' || lx.peek() == '<') {
        r.kind = lx.eat(">") ? op::greater : (lx.eat("<"), op::less);
        auto w = lx.word();
        auto [p, ec] = std::from_chars(w.data(), w.data() + w.size(), r.number);
        if (w.empty() || ec != std::errc{} || p != w.data() + w.size())
          return fail("expected an integer after \"" + r.key + (r.kind == op::greater ? ">" : "<") +
                      "\"");
      } else if (lx.peek() == 'i' || lx.peek() == 'n') {
        auto w = lx.word();
        if (w == "in")
          r.kind = op::in;
        else if (w == "notin")
          r.kind = op::not_in;
        else
          return fail("expected \"in\" or \"notin\" after \"" + r.key + "\"");
        if (!lx.eat("("))
          return fail("expected \"(\" after \"" + std::string{w} + "\"");
        if (!lx.eat(")")) {
          do {
            if (!value())
              return fail("bad value in the set of \"" + r.key + "\"");
          } while (lx.eat(","));
          if (!lx.eat(")"))
            return fail("expected \")\"");
        }
      } else {
        r.kind = op::exists;
      }
    }
    out.reqs_.push_back(std::move(r));
    if (lx.done())
      return out;
    if (!lx.eat(","))
      return fail("expected \",\" between requirements");
  }
}

bool label_selector::matches(const pb::Labels* labels) const {
  for (const auto& r : reqs_) {
    const std::string* v = nullptr;
    if (labels) {
      auto i = labels->labels().find(r.key);
      if (i != labels->labels().end())
        v = &i->second;
    }
    bool in_set = v && std::find(r.values.begin(), r.values.end(), *v) != r.values.end();
    bool ok = false;
    switch (r.kind) {
    case op::exists:
      ok = v != nullptr;
      break;
    case op::not_exists:
      ok = v == nullptr;
      break;
    case op::equals:
    case op::in:
      ok = in_set;
      break;
    case op::not_equals:
    case op::not_in:
      ok = !in_set;
      break;
    case op::greater:
    case op::less: {
      long long n = 0;
      if (!v)
        break;
      auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      ok = ec == std::errc{} && p == v->data() + v->size() &&
           (r.kind == op::greater ? n > r.number : n < r.number);
      break;
    }
    }
    if (!ok)
      return false;
  }
  return true;
}

} // namespace fa::rpc
