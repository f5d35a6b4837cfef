#include "ipfix/elements.hpp"

#include <algorithm>
#include <charconv>
#include <iterator>

namespace fa::ipfix {

namespace {

// element_table (sorted by enterprise, id) and element_name_index (sorted by name),
// generated from ipfix/elements/*.csv by ipfix/elements/generate.cmake.
#include "ipfix/element_table.inc"

constexpr bool key_less(const element_info& a, std::uint32_t enterprise, std::uint16_t id) {
  return a.enterprise != enterprise ? a.enterprise < enterprise : a.id < id;
}

constexpr bool strictly_sorted() {
  for (std::size_t i = 1; i < std::size(element_table); ++i)
    if (!key_less(element_table[i - 1], element_table[i].enterprise, element_table[i].id))
      return false;
  for (std::size_t i = 1; i < std::size(element_name_index); ++i)
    if (!(element_table[element_name_index[i - 1]].name <
          element_table[element_name_index[i]].name))
      return false;
  return true;
}

static_assert(std::size(element_table) == std::size(element_name_index));
// Binary search needs both orders, and look-ups need unique keys and names.
static_assert(strictly_sorted(), "the generated element table is not sorted or not unique");

} // namespace

std::string_view to_string(data_type t) {
  // RFC 7012 3.1 names, as the IANA registry spells them.
  switch (t) {
  case data_type::octet_array:
    return "octetArray";
  case data_type::unsigned8:
    return "unsigned8";
  case data_type::unsigned16:
    return "unsigned16";
  case data_type::unsigned32:
    return "unsigned32";
  case data_type::unsigned64:
    return "unsigned64";
  case data_type::signed8:
    return "signed8";
  case data_type::signed16:
    return "signed16";
  case data_type::signed32:
    return "signed32";
  case data_type::signed64:
    return "signed64";
  case data_type::float32:
    return "float32";
  case data_type::float64:
    return "float64";
  case data_type::boolean:
    return "boolean";
  case data_type::mac_address:
    return "macAddress";
  case data_type::string:
    return "string";
  case data_type::date_time_seconds:
    return "dateTimeSeconds";
  case data_type::date_time_milliseconds:
    return "dateTimeMilliseconds";
  case data_type::date_time_microseconds:
    return "dateTimeMicroseconds";
  case data_type::date_time_nanoseconds:
    return "dateTimeNanoseconds";
  case data_type::ipv4_address:
    return "ipv4Address";
  case data_type::ipv6_address:
    return "ipv6Address";
  case data_type::basic_list:
    return "basicList";
  case data_type::sub_template_list:
    return "subTemplateList";
  case data_type::sub_template_multi_list:
    return "subTemplateMultiList";
  }
  return "unknown";
}

const element_info* find_element(std::uint32_t enterprise, std::uint16_t id) {
  const auto* end = std::end(element_table);
  const auto* it =
      std::lower_bound(std::begin(element_table), end, 0,
                       [&](const element_info& e, int) { return key_less(e, enterprise, id); });
  if (it == end || it->enterprise != enterprise || it->id != id)
    return nullptr;
  return it;
}

const element_info* find_element(std::string_view name) {
  const auto* end = std::end(element_name_index);
  const auto* it = std::lower_bound(
      std::begin(element_name_index), end, name,
      [](std::uint16_t i, std::string_view n) { return element_table[i].name < n; });
  if (it == end || element_table[*it].name != name)
    return nullptr;
  return &element_table[*it];
}

void append_element_name(std::string& out, std::uint32_t enterprise, std::uint16_t id) {
  if (const auto* e = find_element(enterprise, id)) {
    out += e->name;
    return;
  }
  // Unknown elements: "id<id>" for IANA, "e<pen>id<id>" otherwise. Both are unique per
  // (enterprise, id) and cannot clash with a registry name (those never start that way
  // followed by a digit).
  char buf[16];
  if (enterprise != 0) {
    out += 'e';
    out.append(buf, std::to_chars(buf, buf + sizeof buf, enterprise).ptr);
  }
  out += "id";
  out.append(buf, std::to_chars(buf, buf + sizeof buf, id).ptr);
}

std::string element_name(std::uint32_t enterprise, std::uint16_t id) {
  std::string out;
  append_element_name(out, enterprise, id);
  return out;
}

} // namespace fa::ipfix
