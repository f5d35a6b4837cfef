#pragma once

// Helpers for the codec tests: packets are built with message_builder, not hex blobs.

#include "ipfix/message.hpp"
#include "ipfix/message_builder.hpp"
#include "ipfix/template.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
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
