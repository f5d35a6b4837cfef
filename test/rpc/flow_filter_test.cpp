// The flow stream filters (antrea-grpc-transport.md 5) and Kubernetes label selectors.

#include "rpc/flow_filter.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>

namespace fa::rpc {
namespace {

std::string v4(const char* text) {
  std::string out(4, '\0');
  ::inet_pton(AF_INET, text, out.data());
  return out;
}

pb::Flow flow() {
  pb::Flow f;
  f.mutable_end_ts()->set_seconds(1000);
  f.mutable_ip()->set_version(pb::IP_VERSION_4);
  f.mutable_ip()->set_source(v4("10.244.1.5"));
  f.mutable_ip()->set_destination(v4("10.244.2.7"));
  auto* k = f.mutable_k8s();
  k->set_flow_type(pb::FLOW_TYPE_INTER_NODE);
  k->set_source_pod_namespace("default");
  k->set_source_pod_name("frontend");
  (*k->mutable_source_pod_labels()->mutable_labels())["app"] = "web";
  (*k->mutable_source_pod_labels()->mutable_labels())["tier"] = "1";
  k->set_destination_pod_namespace("payments");
  k->set_destination_pod_name("api-0");
  (*k->mutable_destination_pod_labels()->mutable_labels())["app"] = "api";
  k->set_destination_service_port_name("payments/api-gateway:http");
  return f;
}

/// Compiles a request built by `fill`; fails the test when it does not compile.
flow_filter_set compile(void (*fill)(pb::GetFlowsRequest&)) {
  pb::GetFlowsRequest r;
  fill(r);
  std::string error;
  auto s = flow_filter_set::compile(r, error);
  EXPECT_TRUE(s) << error;
  return s ? *s : flow_filter_set{};
}

TEST(flow_filter, no_filter_matches_everything) {
  EXPECT_TRUE(compile([](pb::GetFlowsRequest&) {}).matches(flow()));
}

TEST(flow_filter, namespaces_by_direction) {
  auto both = compile([](pb::GetFlowsRequest& r) { r.add_filters()->add_namespaces("payments"); });
  EXPECT_TRUE(both.matches(flow()));
  auto from = compile([](pb::GetFlowsRequest& r) {
    auto* f = r.add_filters();
    f->add_namespaces("payments");
    f->set_direction(pb::FLOW_FILTER_DIRECTION_FROM);
  });
  EXPECT_FALSE(from.matches(flow()));
  auto to = compile([](pb::GetFlowsRequest& r) {
    auto* f = r.add_filters();
    f->add_namespaces("payments");
    f->add_namespaces("other"); // OR inside a field
    f->set_direction(pb::FLOW_FILTER_DIRECTION_TO);
  });
  EXPECT_TRUE(to.matches(flow()));
}

TEST(flow_filter, one_side_must_satisfy_all_side_fields) {
  // Namespace of the source, Pod name of the destination: no single side has both.
  auto mixed = compile([](pb::GetFlowsRequest& r) {
    auto* f = r.add_filters();
    f->add_namespaces("default");
    f->add_pod_names("api-0");
  });
  EXPECT_FALSE(mixed.matches(flow()));
  auto same = compile([](pb::GetFlowsRequest& r) {
    auto* f = r.add_filters();
    f->add_namespaces("payments");
    f->add_pod_names("api-0");
  });
  EXPECT_TRUE(same.matches(flow()));
}

TEST(flow_filter, filters_are_anded) {
  auto s = compile([](pb::GetFlowsRequest& r) {
    r.add_filters()->add_namespaces("default");
    r.add_filters()->add_flow_types(pb::FLOW_TYPE_INTRA_NODE);
  });
  EXPECT_FALSE(s.matches(flow()));
  auto t = compile([](pb::GetFlowsRequest& r) {
    r.add_filters()->add_namespaces("default");
    r.add_filters()->add_flow_types(pb::FLOW_TYPE_INTER_NODE);
  });
  EXPECT_TRUE(t.matches(flow()));
}

TEST(flow_filter, ips_and_prefixes) {
  auto exact = compile([](pb::GetFlowsRequest& r) { r.add_filters()->add_ips("10.244.2.7"); });
  EXPECT_TRUE(exact.matches(flow()));
  auto prefix = compile([](pb::GetFlowsRequest& r) {
    auto* f = r.add_filters();
    f->add_ips("10.244.1.0/24");
    f->set_direction(pb::FLOW_FILTER_DIRECTION_TO);
  });
  EXPECT_FALSE(prefix.matches(flow()));
  auto odd = compile([](pb::GetFlowsRequest& r) {
    auto* f = r.add_filters();
    f->add_ips("10.244.0.0/23"); // 10.244.0.0 - 10.244.1.255
    f->set_direction(pb::FLOW_FILTER_DIRECTION_FROM);
  });
  EXPECT_TRUE(odd.matches(flow()));
  auto v6 = compile([](pb::GetFlowsRequest& r) { r.add_filters()->add_ips("fd00::/8"); });
  EXPECT_FALSE(v6.matches(flow()));
}

TEST(flow_filter, service_names_and_flow_types) {
  auto svc =
      compile([](pb::GetFlowsRequest& r) { r.add_filters()->add_service_names("api-gateway"); });
  EXPECT_TRUE(svc.matches(flow()));
  auto other =
      compile([](pb::GetFlowsRequest& r) { r.add_filters()->add_service_names("payments"); });
  EXPECT_FALSE(other.matches(flow())) << "the name between / and :, not the namespace";
  EXPECT_EQ(service_name("ns/name"), "name");
  EXPECT_EQ(service_name(""), "");
}

TEST(flow_filter, label_selectors_per_side) {
  auto web = compile([](pb::GetFlowsRequest& r) {
    auto* f = r.add_filters();
    f->set_pod_label_selector("app=web,tier in (1,2)");
    f->set_direction(pb::FLOW_FILTER_DIRECTION_FROM);
  });
  EXPECT_TRUE(web.matches(flow()));
  auto not_api = compile([](pb::GetFlowsRequest& r) {
    auto* f = r.add_filters();
    f->set_pod_label_selector("app!=api");
    f->set_direction(pb::FLOW_FILTER_DIRECTION_TO);
  });
  EXPECT_FALSE(not_api.matches(flow()));
  auto no_tier = compile([](pb::GetFlowsRequest& r) {
    auto* f = r.add_filters();
    f->set_pod_label_selector("!tier");
    f->set_direction(pb::FLOW_FILTER_DIRECTION_TO);
  });
  EXPECT_TRUE(no_tier.matches(flow()));
}

TEST(flow_filter, since_keeps_flows_that_ended_at_or_after_it) {
  auto s = compile([](pb::GetFlowsRequest& r) { r.mutable_since()->set_seconds(1000); });
  EXPECT_TRUE(s.matches(flow()));
  auto later = compile([](pb::GetFlowsRequest& r) { r.mutable_since()->set_seconds(1001); });
  EXPECT_FALSE(later.matches(flow()));
  auto f = flow();
  f.clear_end_ts();
  EXPECT_FALSE(s.matches(f)) << "no end_ts: excluded";
}

TEST(flow_filter, invalid_filters_are_refused_with_a_reason) {
  struct bad {
    const char* what;
    void (*fill)(pb::GetFlowsRequest&);
  };
  const bad cases[] = {
      {"service_names with FROM",
       [](pb::GetFlowsRequest& r) {
         auto* f = r.add_filters();
         f->add_service_names("x");
         f->set_direction(pb::FLOW_FILTER_DIRECTION_FROM);
       }},
      {"bad ip", [](pb::GetFlowsRequest& r) { r.add_filters()->add_ips("10.0.0.300"); }},
      {"bad prefix", [](pb::GetFlowsRequest& r) { r.add_filters()->add_ips("10.0.0.0/33"); }},
      {"prefix not a number",
       [](pb::GetFlowsRequest& r) { r.add_filters()->add_ips("10.0.0.0/x"); }},
      {"bad selector",
       [](pb::GetFlowsRequest& r) { r.add_filters()->set_pod_label_selector("app in web"); }},
      {"unknown direction",
       [](pb::GetFlowsRequest& r) {
         r.add_filters()->set_direction(static_cast<pb::FlowFilterDirection>(7));
       }},
  };
  for (const auto& c : cases) {
    pb::GetFlowsRequest r;
    c.fill(r);
    std::string error;
    EXPECT_FALSE(flow_filter_set::compile(r, error)) << c.what;
    EXPECT_NE(error.find("filters[0]"), std::string::npos) << c.what << ": " << error;
  }
}

TEST(label_selector, kubernetes_syntax) {
  pb::Labels l;
  (*l.mutable_labels())["app.kubernetes.io/name"] = "web";
  (*l.mutable_labels())["replicas"] = "3";
  auto match = [&](const char* text) {
    std::string error;
    auto s = label_selector::parse(text, error);
    EXPECT_TRUE(s) << text << ": " << error;
    return s && s->matches(&l);
  };
  EXPECT_TRUE(match(""));
  EXPECT_TRUE(match("app.kubernetes.io/name"));
  EXPECT_TRUE(match("app.kubernetes.io/name==web"));
  EXPECT_TRUE(match(" app.kubernetes.io/name = web , replicas "));
  EXPECT_FALSE(match("app.kubernetes.io/name=api"));
  EXPECT_TRUE(match("missing!=x"));
  EXPECT_TRUE(match("app.kubernetes.io/name notin (api, db)"));
  EXPECT_FALSE(match("app.kubernetes.io/name in (api,db)"));
  EXPECT_TRUE(match("replicas>2"));
  EXPECT_FALSE(match("replicas<3"));
  EXPECT_FALSE(match("!replicas"));
  std::string error;
  for (const char* bad : {"-app", "app in (a", "app=a b", "a/b/c", "app>x", ",", "app,"})
    EXPECT_FALSE(label_selector::parse(bad, error)) << bad;
  auto s = label_selector::parse("app", error);
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->matches(nullptr)) << "no Labels: no label exists";
}

} // namespace
} // namespace fa::rpc
