#include "test/fuzz/fuzz_seeds.hpp"

#include "ipfix/message_builder.hpp"
#include "ipfix/template.hpp"

#include <bit>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace fa::test {

namespace {

using namespace fa::ipfix;
using bytes = std::vector<std::uint8_t>;

template_def make(std::uint16_t id, std::vector<field_spec> fields, std::uint16_t scope = 0) {
  template_def def;
  def.id = id;
  def.scope_count = scope;
  def.fields = std::move(fields);
  return def;
}

const template_def flow4 =
    make(256, {{8, 4}, {12, 4}, {7, 2}, {11, 2}, {4, 1}, {1, 8}, {2, 8}, {152, 8}, {153, 8}});
const template_def antrea = make(257, {{8, 4},
                                       {12, 4},
                                       {101, varlen, antrea_pen},
                                       {100, varlen, antrea_pen},
                                       {103, varlen, antrea_pen},
                                       {137, 1, antrea_pen},
                                       {143, varlen, antrea_pen},
                                       {1, 8, reverse_pen},
                                       {2, 8, reverse_pen}});
const template_def options = make(258, {{149, 4}, {144, 4}, {41, 8}, {166, 8}}, 2);
const template_def typed = make(259, {{27, 16},
                                      {28, 16},
                                      {56, 6},
                                      {276, 1},
                                      {311, 8},
                                      {154, 8},
                                      {156, 8},
                                      {150, 4},
                                      {434, 4},
                                      {82, varlen},
                                      {95, varlen},
                                      {291, varlen},
                                      {30000, 2},
                                      {7, 3, 12345}});
const template_def reduced = make(260, {{1, 4}, {2, 2}, {434, 2}, {311, 4}, {10, 1}});

void flow4_record(message_builder& b, std::uint32_t i) {
  b.put_u32(0x0a000001 + i);
  b.put_u32(0x0a000101 + i);
  b.put_u16(static_cast<std::uint16_t>(40000 + i));
  b.put_u16(443);
  b.put_u8(6);
  b.put_u64(1500 * (i + 1));
  b.put_u64(i + 1);
  b.put_u64(1714566896000 + i);
  b.put_u64(1714566897000 + i);
}

void antrea_record(message_builder& b, std::uint32_t i, bool long_form) {
  b.put_u32(0x0a0a0001 + i);
  b.put_u32(0x0a0a0101 + i);
  b.put_string("web-" + std::to_string(i), long_form);
  b.put_string("default", long_form);
  b.put_string(i % 2 ? "" : "db-0");
  b.put_u8(static_cast<std::uint8_t>(1 + i % 3));
  b.put_string(i == 1 ? std::string(300, 'l') : R"({"app":"web"})");
  b.put_u64(64 * i);
  b.put_u64(i);
}

void typed_record(message_builder& b) {
  b.put_bytes(bytes{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  b.put_bytes(bytes{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1});
  b.put_bytes(bytes{0x00, 0x1b, 0x2c, 0xaa, 0xbf, 0xff});
  b.put_u8(1);
  b.put_u64(std::bit_cast<std::uint64_t>(0.25));
  b.put_u64((std::uint64_t{3923555696} << 32) | 0x1f9a6000);
  b.put_u64((std::uint64_t{3923555696} << 32) | 0x1f9add2f);
  b.put_u32(1714566896);
  b.put_u32(0xfffffffe);
  b.put_string("eth0 \"q\" \\ \n \xc3\xbc \xff");
  b.put_varlen(bytes{0xde, 0xad, 0xbe, 0xef});
  b.put_varlen(bytes{0xff, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01});
  b.put_u16(0xabcd);
  b.put_bytes(bytes{1, 2, 3});
}

void templates(message_builder& b, std::initializer_list<const template_def*> defs) {
  b.begin_set(template_set_id);
  for (const auto* d : defs)
    b.add_template(*d);
  b.end_set();
}

} // namespace

std::vector<fuzz_seed> codec_seeds() {
  std::vector<fuzz_seed> out;
  auto add = [&](std::string name, auto&& build) {
    fuzz_seed s{std::move(name), {}};
    message_builder b(s.data);
    build(b);
    out.push_back(std::move(s));
  };

  add("header-only", [](message_builder& b) {
    b.begin_message(1714566896, 0, 1);
    b.end_message();
  });
  add("template-and-data", [](message_builder& b) {
    b.begin_message(1714566896, 0, 1);
    templates(b, {&flow4});
    b.begin_set(flow4.id);
    for (std::uint32_t i = 0; i < 3; ++i)
      flow4_record(b, i);
    b.end_message();
  });
  add("antrea-varlen-short-form", [](message_builder& b) {
    b.begin_message(1714566896, 10, 1);
    templates(b, {&antrea});
    b.begin_set(antrea.id);
    for (std::uint32_t i = 0; i < 3; ++i)
      antrea_record(b, i, false);
    b.end_message();
  });
  add("antrea-varlen-long-form", [](message_builder& b) {
    b.begin_message(1714566896, 10, 1);
    templates(b, {&antrea});
    b.begin_set(antrea.id);
    for (std::uint32_t i = 0; i < 2; ++i)
      antrea_record(b, i, true);
    b.end_message();
  });
  add("options-template-and-data", [](message_builder& b) {
    b.begin_message(1714566896, 0, 1);
    b.begin_set(options_template_set_id);
    b.add_template(options);
    b.begin_set(options.id);
    b.put_u32(1);
    b.put_u32(7);
    b.put_u64(1000);
    b.put_u64(3);
    b.end_message();
  });
  add("padding-zero", [](message_builder& b) {
    b.begin_message(1714566896, 0, 1);
    b.begin_set(template_set_id);
    b.add_template(flow4);
    b.end_set(3);
    b.begin_set(flow4.id);
    flow4_record(b, 0);
    b.end_set(7);
    b.end_message();
  });
  add("padding-non-zero", [](message_builder& b) {
    b.begin_message(1714566896, 0, 1);
    templates(b, {&antrea});
    b.begin_set(antrea.id);
    antrea_record(b, 0, false);
    b.put_u8(0xa5);
    b.put_u8(0x5a);
    b.end_message();
  });
  add("withdraw-one", [](message_builder& b) {
    b.begin_message(1714566896, 0, 1);
    templates(b, {&flow4, &antrea});
    b.begin_set(template_set_id);
    b.add_withdrawal(flow4.id);
    b.begin_set(flow4.id); // data for a withdrawn template
    flow4_record(b, 0);
    b.end_message();
  });
  add("withdraw-all", [](message_builder& b) {
    b.begin_message(1714566896, 0, 1);
    templates(b, {&flow4, &antrea});
    b.begin_set(options_template_set_id);
    b.add_template(options);
    b.begin_set(template_set_id);
    b.add_withdrawal(template_set_id);
    b.begin_set(options_template_set_id);
    b.add_withdrawal(options_template_set_id);
    b.add_withdrawal(options.id);
    b.end_message();
  });
  add("many-sets", [](message_builder& b) {
    b.begin_message(1714566896, 5, 1);
    templates(b, {&flow4});
    b.begin_set(options_template_set_id);
    b.add_template(options);
    b.begin_set(flow4.id);
    flow4_record(b, 0);
    templates(b, {&antrea, &typed});
    b.begin_set(antrea.id);
    antrea_record(b, 2, false);
    b.begin_set(flow4.id);
    flow4_record(b, 1);
    flow4_record(b, 2);
    b.begin_set(typed.id);
    typed_record(b);
    b.end_message();
  });
  add("all-types", [](message_builder& b) {
    b.begin_message(1714566896, 0, 1);
    templates(b, {&typed});
    b.begin_set(typed.id);
    typed_record(b);
    typed_record(b);
    b.end_message();
  });
  add("reduced-size", [](message_builder& b) {
    b.begin_message(1714566896, 0, 1);
    templates(b, {&reduced});
    b.begin_set(reduced.id);
    b.put_u32(4000000000u);
    b.put_u16(3);
    b.put_u16(0x8000);
    b.put_u32(std::bit_cast<std::uint32_t>(1.5f));
    b.put_u8(7);
    b.end_message();
  });
  add("stream-template-then-data", [](message_builder& b) {
    b.begin_message(1714566896, 0, 1);
    templates(b, {&flow4, &antrea});
    b.end_message();
    b.begin_message(1714566897, 0, 1);
    b.begin_set(flow4.id);
    flow4_record(b, 0);
    b.begin_set(antrea.id);
    antrea_record(b, 0, true);
    b.end_message();
    b.begin_message(1714566898, 2, 1);
    b.begin_set(flow4.id);
    flow4_record(b, 1);
    b.end_message();
  });
  add("sequence-gap-and-out-of-order", [](message_builder& b) {
    b.begin_message(1714566896, 100, 1);
    templates(b, {&flow4});
    b.begin_set(flow4.id);
    flow4_record(b, 0);
    b.end_message();
    b.begin_message(1714566897, 150, 1);
    b.begin_set(flow4.id);
    flow4_record(b, 1);
    b.end_message();
    b.begin_message(1714566897, 120, 1);
    b.begin_set(flow4.id);
    flow4_record(b, 2);
    b.end_message();
  });
  add("sequence-wrap", [](message_builder& b) {
    b.begin_message(1714566896, 0xffffffffu, 1);
    templates(b, {&flow4});
    b.begin_set(flow4.id);
    flow4_record(b, 0);
    flow4_record(b, 1);
    b.end_message();
    b.begin_message(1714566897, 1, 1);
    b.begin_set(flow4.id);
    flow4_record(b, 2);
    b.end_message();
  });
  add("two-odids-same-id", [](message_builder& b) {
    b.begin_message(1714566896, 0, 1);
    templates(b, {&flow4});
    b.end_message();
    b.begin_message(1714566896, 0, 2);
    b.begin_set(template_set_id);
    b.add_template(make(flow4.id, {{8, 4}}));
    b.begin_set(flow4.id);
    b.put_u32(0x0a000001);
    b.end_message();
  });
  add("redefinition", [](message_builder& b) {
    b.begin_message(1714566896, 0, 1);
    templates(b, {&flow4});
    b.begin_set(template_set_id);
    b.add_template(make(flow4.id, {{8, 4}, {82, varlen}}));
    b.begin_set(flow4.id);
    b.put_u32(0x0a000001);
    b.put_string("eth0");
    b.end_message();
  });
  add("unknown-template-data", [](message_builder& b) {
    b.begin_message(1714566896, 0, 1);
    b.begin_set(999);
    b.put_u64(1);
    b.end_message();
  });
  add("duplicate-elements", [](message_builder& b) {
    b.begin_message(1714566896, 0, 1);
    b.begin_set(template_set_id);
    b.add_template(make(300, {{1, 8}, {1, 4}, {1, 8, reverse_pen}, {1, 2}}));
    b.begin_set(300);
    b.put_u64(1);
    b.put_u32(2);
    b.put_u64(3);
    b.put_u16(4);
    b.end_message();
  });
  add("wide-template", [](message_builder& b) {
    std::vector<field_spec> fields;
    for (std::uint16_t i = 0; i < 60; ++i)
      fields.push_back({static_cast<std::uint16_t>(1 + i), 1});
    b.begin_message(1714566896, 0, 1);
    b.begin_set(template_set_id);
    b.add_template(make(301, fields));
    b.begin_set(301);
    for (int i = 0; i < 120; ++i)
      b.put_u8(static_cast<std::uint8_t>(i));
    b.end_message();
  });
  add("empty-varlen-values", [](message_builder& b) {
    b.begin_message(1714566896, 0, 1);
    b.begin_set(template_set_id);
    b.add_template(make(302, {{82, varlen}, {83, varlen}}));
    b.begin_set(302);
    for (int i = 0; i < 5; ++i) {
      b.put_string("");
      b.put_string("", true);
    }
    b.end_set(1);
    b.end_message();
  });
  return out;
}

int write_seeds(const std::string& dir, const std::vector<fuzz_seed>& seeds) {
  const std::filesystem::path path = dir;
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) {
    std::fprintf(stderr, "cannot create %s: %s\n", dir.c_str(), ec.message().c_str());
    return 1;
  }
  int n = 0;
  for (const auto& s : seeds) {
    char prefix[8];
    std::snprintf(prefix, sizeof prefix, "%02d-", ++n);
    const auto file = path / (prefix + s.name);
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(s.data.data()),
              static_cast<std::streamsize>(s.data.size()));
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", file.c_str());
      return 1;
    }
  }
  std::printf("wrote %d seeds to %s\n", n, dir.c_str());
  return 0;
}

} // namespace fa::test
