#pragma once

// Helpers for the codec tests: packets are built with message_builder, not hex blobs.

#include "ipfix/message.hpp"
#include "ipfix/message_builder.hpp"
#include "ipfix/template.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace fa::ipfix::test {

using bytes = std::vector<std::uint8_t>;

inline template_def make_template(std::uint16_t id, std::initializer_list<field_spec> fields,
                                  std::uint16_t scope_count = 0) {
  template_def def;
  def.id = id;
  def.scope_count = scope_count;
  def.fields = fields;
  return def;
}

/// A small deterministic generator (a linear congruential one) for varied records: the
/// same seed gives the same records, on every machine.
struct lcg {
  std::uint32_t state = 1;
  /// The next number, 0-999.
  std::uint32_t operator()() {
    state = state * 1103515245u + 12345u;
    return (state >> 8) % 1000;
  }
};

/// Writes one record of `def` with varied contents: fixed fields of any octets, and
/// variable-length values of 0-39 octets or of 255 and more, with a 1- or 3-octet prefix
/// (a short value at times in the 3-octet form, RFC 7011 7).
inline void put_varied_record(message_builder& b, const template_def& def, lcg& next) {
  for (const auto& f : def.fields) {
    if (!f.is_varlen()) {
      for (int k = 0; k < f.length; ++k)
        b.put_u8(static_cast<std::uint8_t>(next()));
      continue;
    }
    const auto pick = next();
    const std::size_t len = pick % 5 == 0 ? 255 + pick % 300 : pick % 40;
    b.put_string(std::string(len, static_cast<char>('a' + pick % 26)), pick % 3 == 0);
  }
}

/// A message with one set `set_id` whose content `fill(builder)` writes, then `padding`
/// zero octets.
template <class F>
bytes one_set_message(std::uint16_t set_id, F&& fill, std::size_t padding = 0) {
  bytes out;
  message_builder b(out);
  b.begin_message(1700000000, 0, 1);
  b.begin_set(set_id);
  fill(b);
  b.end_set(padding);
  b.end_message();
  return out;
}

/// The sets of a message that must parse.
inline std::vector<set_view> sets_of(const bytes& msg) {
  message_view view;
  EXPECT_EQ(message_view::parse(msg, view), parse_error::none);
  std::vector<set_view> sets;
  view.for_each_set([&](const set_view& s) { sets.push_back(s); });
  return sets;
}

/// The body of the only set of a message that must parse.
inline bytes_view only_set_body(const bytes& msg) {
  auto sets = sets_of(msg);
  EXPECT_EQ(sets.size(), 1u);
  return sets.empty() ? bytes_view{} : sets.front().body;
}

} // namespace fa::ipfix::test
