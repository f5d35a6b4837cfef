#include "ipfix/template_store.hpp"

#include "ipfix/message.hpp"
#include "test/ipfix/test_util.hpp"

#include <gtest/gtest.h>

namespace fa::ipfix {
namespace {

using namespace std::chrono_literals;
using test::make_template;

template_record definition(template_def def) {
  return template_record{false, std::move(def)};
}

template_record withdrawal(std::uint16_t id) {
  template_record rec;
  rec.withdrawal = true;
  rec.def.id = id;
  return rec;
}

const template_def tmpl_a = make_template(256, {{8, 4}, {12, 4}});
const template_def tmpl_a2 = make_template(256, {{8, 4}, {12, 4}, {1, 8}});
const template_def tmpl_b = make_template(257, {{27, 16}});
const template_def opts_c = make_template(258, {{149, 4}, {41, 8}}, 1);

/// Runs on both transports; each test states what each transport must do.
class template_store_test : public ::testing::TestWithParam<transport_kind> {
 protected:
  bool udp() const { return GetParam() == transport_kind::udp; }
  template_event on(template_event tcp, template_event udp_event) const {
    return udp() ? udp_event : tcp;
  }
  template_store make(std::size_t max = 4096) const {
    template_store_config cfg;
    cfg.transport = GetParam();
    cfg.max_templates = max;
    cfg.udp_lifetime = 30s;
    return template_store(cfg);
  }
  const clock_type::time_point t0 = clock_type::time_point{} + 1000s;
};

TEST_P(template_store_test, new_template_is_added_and_found) {
  auto store = make();
  EXPECT_EQ(store.apply(1, template_set_id, definition(tmpl_a), t0), template_event::added);
  auto* found = store.find(1, 256, t0);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(**found, tmpl_a);
  EXPECT_EQ(store.size(), 1u);
  EXPECT_EQ(store.find(1, 257, t0), nullptr);
}

TEST_P(template_store_test, templates_are_scoped_per_odid) {
  auto store = make();
  EXPECT_EQ(store.apply(1, template_set_id, definition(tmpl_a), t0), template_event::added);
  EXPECT_EQ(store.find(2, 256, t0), nullptr);
  // The same id in another ODID is a different template, not a redefinition.
  EXPECT_EQ(store.apply(2, template_set_id, definition(tmpl_a2), t0), template_event::added);
  EXPECT_EQ(**store.find(1, 256, t0), tmpl_a);
  EXPECT_EQ(**store.find(2, 256, t0), tmpl_a2);
  std::size_t n = 0;
  store.for_each([&](std::uint32_t odid, const template_ptr& def) {
    ++n;
    EXPECT_EQ(*def, odid == 1 ? tmpl_a : tmpl_a2);
  });
  EXPECT_EQ(n, 2u);
}

TEST_P(template_store_test, identical_resend_is_a_refresh) {
  auto store = make();
  store.apply(1, template_set_id, definition(tmpl_a), t0);
  auto before = *store.find(1, 256, t0);
  EXPECT_EQ(store.apply(1, template_set_id, definition(tmpl_a), t0 + 1s),
            template_event::refreshed);
  EXPECT_EQ(*store.find(1, 256, t0 + 1s), before); // the same shared definition
}

TEST_P(template_store_test, new_definition_without_withdrawal_is_used) {
  auto store = make();
  store.apply(1, template_set_id, definition(tmpl_a), t0);
  auto old = *store.find(1, 256, t0);
  EXPECT_EQ(store.apply(1, template_set_id, definition(tmpl_a2), t0),
            on(template_event::redefined, template_event::replaced));
  EXPECT_EQ(**store.find(1, 256, t0), tmpl_a2);
  EXPECT_EQ(*old, tmpl_a); // holders of the old definition keep a valid one
  EXPECT_EQ(store.size(), 1u);
}

TEST_P(template_store_test, withdrawal_of_one_template) {
  auto store = make();
  store.apply(1, template_set_id, definition(tmpl_a), t0);
  store.apply(1, template_set_id, definition(tmpl_b), t0);
  std::vector<std::uint16_t> removed;
  EXPECT_EQ(store.apply(1, template_set_id, withdrawal(256), t0, &removed),
            on(template_event::withdrawn, template_event::ignored_withdrawal));
  if (udp()) {
    // RFC 7011 8.4: withdrawals are ignored over UDP.
    EXPECT_NE(store.find(1, 256, t0), nullptr);
    EXPECT_TRUE(removed.empty());
  } else {
    EXPECT_EQ(store.find(1, 256, t0), nullptr);
    EXPECT_EQ(removed, std::vector<std::uint16_t>{256});
  }
  EXPECT_NE(store.find(1, 257, t0), nullptr);
}

TEST_P(template_store_test, withdrawal_of_an_unknown_id) {
  auto store = make();
  store.apply(1, template_set_id, definition(tmpl_a), t0);
  std::vector<std::uint16_t> removed;
  EXPECT_EQ(store.apply(1, template_set_id, withdrawal(300), t0, &removed),
            on(template_event::unknown_withdrawal, template_event::ignored_withdrawal));
  // Known id, other ODID: unknown too.
  EXPECT_EQ(store.apply(2, template_set_id, withdrawal(256), t0, &removed),
            on(template_event::unknown_withdrawal, template_event::ignored_withdrawal));
  EXPECT_TRUE(removed.empty());
  EXPECT_EQ(store.size(), 1u);
}

TEST_P(template_store_test, withdrawal_in_the_wrong_kind_of_set_is_unknown) {
  auto store = make();
  store.apply(1, options_template_set_id, definition(opts_c), t0);
  EXPECT_EQ(store.apply(1, template_set_id, withdrawal(258), t0),
            on(template_event::unknown_withdrawal, template_event::ignored_withdrawal));
  EXPECT_NE(store.find(1, 258, t0), nullptr);
  EXPECT_EQ(store.apply(1, options_template_set_id, withdrawal(258), t0),
            on(template_event::withdrawn, template_event::ignored_withdrawal));
  EXPECT_EQ(store.find(1, 258, t0) == nullptr, !udp());
}

TEST_P(template_store_test, id_2_in_set_2_withdraws_all_templates_but_no_options_templates) {
  auto store = make();
  store.apply(1, template_set_id, definition(tmpl_a), t0);
  store.apply(1, template_set_id, definition(tmpl_b), t0);
  store.apply(1, options_template_set_id, definition(opts_c), t0);
  store.apply(2, template_set_id, definition(tmpl_a), t0); // another ODID
  std::vector<std::uint16_t> removed;
  EXPECT_EQ(store.apply(1, template_set_id, withdrawal(template_set_id), t0, &removed),
            on(template_event::withdrawn_all, template_event::ignored_withdrawal));
  if (udp()) {
    EXPECT_EQ(store.size(), 4u);
    EXPECT_TRUE(removed.empty());
    return;
  }
  std::sort(removed.begin(), removed.end());
  EXPECT_EQ(removed, (std::vector<std::uint16_t>{256, 257}));
  EXPECT_EQ(store.find(1, 256, t0), nullptr);
  EXPECT_EQ(store.find(1, 257, t0), nullptr);
  EXPECT_NE(store.find(1, 258, t0), nullptr);
  EXPECT_NE(store.find(2, 256, t0), nullptr);
}

TEST_P(template_store_test, id_3_in_set_3_withdraws_all_options_templates_only) {
  auto store = make();
  store.apply(1, template_set_id, definition(tmpl_a), t0);
  store.apply(1, options_template_set_id, definition(opts_c), t0);
  std::vector<std::uint16_t> removed;
  EXPECT_EQ(
      store.apply(1, options_template_set_id, withdrawal(options_template_set_id), t0, &removed),
      on(template_event::withdrawn_all, template_event::ignored_withdrawal));
  EXPECT_EQ(store.find(1, 258, t0) == nullptr, !udp());
  EXPECT_NE(store.find(1, 256, t0), nullptr);
  EXPECT_EQ(removed, udp() ? std::vector<std::uint16_t>{} : std::vector<std::uint16_t>{258});
}

TEST_P(template_store_test, withdrawn_id_can_be_defined_again) {
  auto store = make();
  store.apply(1, template_set_id, definition(tmpl_a), t0);
  store.apply(1, template_set_id, withdrawal(256), t0);
  EXPECT_EQ(store.apply(1, template_set_id, definition(tmpl_a2), t0),
            on(template_event::added, template_event::replaced));
  EXPECT_EQ(**store.find(1, 256, t0), tmpl_a2);
}

TEST_P(template_store_test, limit_refuses_new_ids_but_not_refreshes) {
  auto store = make(2);
  EXPECT_EQ(store.apply(1, template_set_id, definition(tmpl_a), t0), template_event::added);
  EXPECT_EQ(store.apply(2, template_set_id, definition(tmpl_a), t0), template_event::added);
  EXPECT_EQ(store.apply(1, template_set_id, definition(tmpl_b), t0), template_event::limit_reached);
  EXPECT_EQ(store.find(1, 257, t0), nullptr);
  EXPECT_EQ(store.size(), 2u);
  EXPECT_EQ(store.apply(1, template_set_id, definition(tmpl_a), t0), template_event::refreshed);
  EXPECT_EQ(store.apply(1, template_set_id, definition(tmpl_a2), t0),
            on(template_event::redefined, template_event::replaced));
}

TEST_P(template_store_test, expiry_applies_to_udp_only) {
  auto store = make();
  store.apply(1, template_set_id, definition(tmpl_a), t0);
  store.apply(3, template_set_id, definition(tmpl_b), t0 + 10s);
  const auto later = t0 + 30s;
  EXPECT_EQ(store.find(1, 256, later) == nullptr, udp());
  EXPECT_NE(store.find(1, 256, later - 1s), nullptr);
  auto expired = store.expire(later);
  if (udp()) {
    EXPECT_EQ(expired, (std::vector<std::pair<std::uint32_t, std::uint16_t>>{{1, 256}}));
    EXPECT_EQ(store.size(), 1u);
    EXPECT_NE(store.find(3, 257, later), nullptr);
  } else {
    // RFC 7011 8: over TCP templates live as long as the session.
    EXPECT_TRUE(expired.empty());
    EXPECT_EQ(store.size(), 2u);
    EXPECT_NE(store.find(1, 256, t0 + 1000000s), nullptr);
  }
}

TEST_P(template_store_test, refresh_extends_life) {
  auto store = make();
  store.apply(1, template_set_id, definition(tmpl_a), t0);
  EXPECT_EQ(store.apply(1, template_set_id, definition(tmpl_a), t0 + 20s),
            template_event::refreshed);
  EXPECT_NE(store.find(1, 256, t0 + 45s), nullptr);
  EXPECT_TRUE(store.expire(t0 + 45s).empty());
  EXPECT_EQ(store.find(1, 256, t0 + 50s) == nullptr, udp());
}

TEST_P(template_store_test, definition_after_expiry_is_added_again) {
  auto store = make();
  store.apply(1, template_set_id, definition(tmpl_a), t0);
  EXPECT_EQ(store.apply(1, template_set_id, definition(tmpl_a2), t0 + 60s),
            on(template_event::redefined, template_event::added));
  EXPECT_EQ(**store.find(1, 256, t0 + 60s), tmpl_a2);
}

TEST_P(template_store_test, expired_templates_do_not_count_against_the_udp_limit) {
  auto store = make(1);
  store.apply(1, template_set_id, definition(tmpl_a), t0);
  EXPECT_EQ(store.apply(1, template_set_id, definition(tmpl_b), t0 + 60s),
            on(template_event::limit_reached, template_event::added));
}

TEST_P(template_store_test, clear_withdraws_everything) {
  auto store = make();
  store.apply(1, template_set_id, definition(tmpl_a), t0);
  store.apply(1, options_template_set_id, definition(opts_c), t0);
  store.clear();
  EXPECT_EQ(store.size(), 0u);
  EXPECT_EQ(store.find(1, 256, t0), nullptr);
}

// Issue 16 defect 6: template state has a budget. Each template is charged to its
// exporter's share and the process total; one that does not fit is refused, counted by
// which budget refused it, and every charge comes back when the template goes.
TEST_P(template_store_test, templates_are_charged_to_the_exporter_and_the_process) {
  const auto a = template_footprint(tmpl_a), b = template_footprint(tmpl_b);
  auto exporter = std::make_shared<template_budget>(a + b);
  auto process = std::make_shared<template_budget>(10 * (a + b));
  template_store_config cfg;
  cfg.transport = GetParam();
  cfg.udp_lifetime = 30s;
  cfg.quota = {exporter, process};
  template_store one{cfg}, two{cfg}; // two sessions of one exporter
  EXPECT_EQ(one.apply(1, template_set_id, definition(tmpl_a), t0), template_event::added);
  EXPECT_EQ(two.apply(1, template_set_id, definition(tmpl_b), t0), template_event::added);
  EXPECT_EQ(exporter->used(), a + b);
  EXPECT_EQ(process->used(), a + b);
  // The exporter's share is spent: a third template of either session is refused, and
  // charges nothing.
  EXPECT_EQ(two.apply(2, template_set_id, definition(tmpl_a), t0), template_event::exporter_budget);
  EXPECT_EQ(two.find(2, 256, t0), nullptr);
  EXPECT_EQ(two.size(), 1u);
  EXPECT_EQ(exporter->used(), a + b);
  EXPECT_EQ(process->used(), a + b);
  EXPECT_EQ(one.charged(), a);
  // A refresh costs nothing more.
  EXPECT_EQ(one.apply(1, template_set_id, definition(tmpl_a), t0), template_event::refreshed);
  EXPECT_EQ(exporter->used(), a + b);
  // Going away gives the charge back: then it fits.
  two.clear();
  EXPECT_EQ(exporter->used(), a);
  EXPECT_EQ(two.apply(2, template_set_id, definition(tmpl_b), t0), template_event::added);
  { template_store gone = std::move(two); }
  EXPECT_EQ(exporter->used(), a);
  EXPECT_EQ(process->used(), a);
  EXPECT_EQ(two.charged(), 0u);
}

TEST_P(template_store_test, the_process_budget_refuses_every_exporter) {
  const auto a = template_footprint(tmpl_a);
  auto process = std::make_shared<template_budget>(a);
  template_store_config cfg;
  cfg.transport = GetParam();
  cfg.quota = {std::make_shared<template_budget>(100 * a), process};
  auto other = cfg;
  other.quota.exporter = std::make_shared<template_budget>(100 * a);
  template_store one{cfg}, two{other};
  EXPECT_EQ(one.apply(1, template_set_id, definition(tmpl_a), t0), template_event::added);
  EXPECT_EQ(two.apply(1, template_set_id, definition(tmpl_a), t0), template_event::process_budget);
  // The refused charge was not kept on the exporter's share either.
  EXPECT_EQ(other.quota.exporter->used(), 0u);
  EXPECT_EQ(process->used(), a);
}

TEST_P(template_store_test, a_redefinition_that_does_not_fit_loses_the_old_one) {
  const auto a = template_footprint(tmpl_a);
  ASSERT_GT(template_footprint(tmpl_a2), a);
  template_store_config cfg;
  cfg.transport = GetParam();
  cfg.quota = {std::make_shared<template_budget>(a), nullptr};
  template_store store{cfg};
  store.apply(1, template_set_id, definition(tmpl_a), t0);
  std::vector<std::uint16_t> removed;
  EXPECT_EQ(store.apply(1, template_set_id, definition(tmpl_a2), t0, &removed),
            template_event::exporter_budget);
  EXPECT_EQ(removed, std::vector<std::uint16_t>{256});
  EXPECT_EQ(store.find(1, 256, t0), nullptr);
  EXPECT_EQ(cfg.quota.exporter->used(), 0u);
}

TEST_P(template_store_test, withdrawal_and_expiry_release_the_charge) {
  template_store_config cfg;
  cfg.transport = GetParam();
  cfg.udp_lifetime = 30s;
  cfg.quota = {nullptr, std::make_shared<template_budget>(1 << 20)};
  template_store store{cfg};
  store.apply(1, template_set_id, definition(tmpl_a), t0);
  store.apply(1, template_set_id, definition(tmpl_b), t0);
  store.apply(1, template_set_id, withdrawal(257), t0);
  store.expire(t0 + 60s);
  store.apply(1, template_set_id, withdrawal(256), t0 + 60s);
  EXPECT_EQ(store.size(), 0u);
  EXPECT_EQ(cfg.quota.process->used(), 0u);
  EXPECT_EQ(store.charged(), 0u);
}

INSTANTIATE_TEST_SUITE_P(transport, template_store_test,
                         ::testing::Values(transport_kind::tcp, transport_kind::udp),
                         [](const auto& info) {
                           return info.param == transport_kind::tcp ? "tcp" : "udp";
                         });

TEST(template_event, to_string_names_every_event) {
  EXPECT_EQ(to_string(template_event::added), "added");
  EXPECT_EQ(to_string(template_event::redefined), "redefined");
  EXPECT_EQ(to_string(template_event::ignored_withdrawal), "ignored_withdrawal");
  for (int e = 0; e <= static_cast<int>(template_event::process_budget); ++e)
    EXPECT_NE(to_string(static_cast<template_event>(e)), "unknown") << e;
}

} // namespace
} // namespace fa::ipfix
