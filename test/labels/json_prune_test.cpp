#include "labels/json_prune.hpp"
#include "labels/pod_json.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

namespace fa::labels {
namespace {

using nlohmann::json;

constexpr json_keep keep_inner[] = {{"a", {}}, {"b", {}}};
constexpr json_keep keep_top[] = {{"x", {}}, {"o", keep_inner}};

TEST(json_prune, keeps_only_the_named_members) {
  auto doc = parse_pruned(
      R"({"drop":{"deep":[1,{"k":"v"}],"s":"long string that would be allocated"},
          "x":[1,{"y":2},"z"],"o":{"a":"A","skip":{"q":[]},"b":{"whole":true}},"tail":null})",
      keep_top);
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_EQ(doc, json::parse(R"({"x":[1,{"y":2},"z"],"o":{"a":"A","b":{"whole":true}}})"));
}

TEST(json_prune, keeps_a_value_of_the_wrong_type_whole) {
  // A filtered member that is not an object is kept as it is, so its reader reports it.
  EXPECT_EQ(parse_pruned(R"({"o":[{"a":1,"c":2}],"x":7})", keep_top),
            json::parse(R"({"o":[{"a":1,"c":2}],"x":7})"));
  EXPECT_EQ(parse_pruned(R"({"o":"text"})", keep_top), json::parse(R"({"o":"text"})"));
  EXPECT_EQ(parse_pruned(R"([{"drop":1}])", keep_top), json::parse(R"([{"drop":1}])"));
  EXPECT_EQ(parse_pruned("42", keep_top), json(42));
}

TEST(json_prune, later_duplicates_win_as_in_a_full_parse) {
  const char* text = R"({"x":1,"x":2,"o":{"a":1},"o":{"b":2}})";
  EXPECT_EQ(parse_pruned(text, keep_top), json::parse(text));
}

TEST(json_prune, invalid_json_is_discarded) {
  for (const char* bad : {"", "{", R"({"x":})", R"({"drop":[1,2})", R"({"x":1} extra)", "nul"})
    EXPECT_TRUE(parse_pruned(bad, keep_top).is_discarded()) << bad;
}

// A Pod as the API server sends it: parse_pod reads the same from the pruned document as
// from the full one, errors included.
TEST(json_prune, a_pruned_watch_event_gives_parse_pod_the_same_answers) {
  const std::string pod = R"({"kind":"Pod","apiVersion":"v1",
    "metadata":{"name":"web-7","namespace":"shop","uid":"u-1","resourceVersion":"42",
      "creationTimestamp":"2024-05-01T10:00:00Z","labels":{"app":"web","tier":"front"},
      "annotations":{"a":"b"},"ownerReferences":[{"kind":"ReplicaSet","name":"web"}],
      "managedFields":[{"manager":"kubelet","fieldsV1":{"f:status":{"f:podIPs":{}}}}]},
    "spec":{"nodeName":"node-3","hostNetwork":false,
      "containers":[{"name":"c","image":"nginx","ports":[{"containerPort":80}],
        "env":[{"name":"A","value":"1"}]}],"volumes":[{"name":"v","emptyDir":{}}]},
    "status":{"phase":"Running","podIP":"10.0.0.7","podIPs":[{"ip":"10.0.0.7"},{"ip":"fd00::7"}],
      "conditions":[{"type":"Ready","status":"True"}],"containerStatuses":[{"ready":true}]}})";
  auto same = [&](const std::string& text) {
    std::string full_error, pruned_error;
    auto full = parse_pod(json::parse(text), full_error);
    auto pruned = parse_pod(parse_pruned(text, pod_members), pruned_error);
    ASSERT_EQ(full.has_value(), pruned.has_value()) << text;
    EXPECT_EQ(full_error, pruned_error);
    if (full) {
      EXPECT_EQ(full->info.uid, pruned->info.uid);
      EXPECT_EQ(full->info.name, pruned->info.name);
      EXPECT_EQ(full->info.pod_namespace, pruned->info.pod_namespace);
      EXPECT_EQ(full->info.node_name, pruned->info.node_name);
      EXPECT_EQ(full->info.ips, pruned->info.ips);
      EXPECT_EQ(full->info.labels, pruned->info.labels);
      EXPECT_EQ(full->info.phase, pruned->info.phase);
      EXPECT_EQ(full->info.creation, pruned->info.creation);
      EXPECT_EQ(full->deletion, pruned->deletion);
    }
  };
  same(pod);
  // name, namespace, uid, creationTimestamp, resourceVersion, labels
  EXPECT_EQ(parse_pruned(pod, pod_members)["metadata"].size(), 6u);
  EXPECT_FALSE(parse_pruned(pod, pod_members)["spec"].contains("containers"));
  auto broken = [&](const std::string& from, const std::string& to) {
    auto text = pod;
    text.replace(text.find(from), from.size(), to);
    same(text);
  };
  broken(R"("uid":"u-1")", R"("uid":{"x":1})");
  broken(R"("labels":{"app":"web","tier":"front"})", R"("labels":["app"])");
  broken(R"("nodeName":"node-3")", R"("nodeName":3)");
  broken(R"("podIPs":[{"ip":"10.0.0.7"},{"ip":"fd00::7"}])", R"("podIPs":[{"ip":7}])");
  broken(R"("spec":{)", R"("spec":[],"x":{)");
  broken(R"("kind":"Pod")", R"("kind":"Node")");
}

} // namespace
} // namespace fa::labels
