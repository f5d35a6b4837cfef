// deploy/kubernetes: the proxy kustomization and the aggregate one render with `kubectl
// kustomize` (the kustomize of Debian's kubectl 1.20 and of later ones), and aggregate
// mode cannot be scaled wrong: one StatefulSet of one replica, no Deployment, no
// HorizontalPodAutoscaler, no PodDisruptionBudget. Each ConfigMap's TOML passes
// `flow-aggregator check-config`.

#include "test/support/process.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <string>

namespace fa::test {
namespace {

/// `kubectl kustomize DIR`'s output; fails the test when it does not render.
std::string render(const std::string& dir) {
  std::string out;
  auto rc = run_command({"kubectl", "kustomize", source(dir)}, out);
  EXPECT_EQ(rc, 0) << "kubectl kustomize " << dir << " (package kubernetes-client): " << out;
  return out;
}

/// The documents of `yaml` of kind `kind`.
std::size_t count_kind(const std::string& yaml, const std::string& kind) {
  std::regex re{"(^|\n)kind: " + kind + "\n"};
  return static_cast<std::size_t>(
      std::distance(std::sregex_iterator(yaml.begin(), yaml.end(), re), std::sregex_iterator()));
}

/// The TOML block scalar (`config.toml: |`, indented four spaces) of a ConfigMap file.
std::string configmap_toml(const std::string& file) {
  std::ifstream in{source(file)};
  EXPECT_TRUE(in) << file;
  std::string line, toml;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.find("config.toml: |") != std::string::npos) {
      inside = true;
      continue;
    }
    if (inside)
      toml += (line.size() >= 4 ? line.substr(4) : std::string{}) + "\n";
  }
  return toml;
}

void expect_valid_config(const std::string& file, const std::string& name) {
  auto toml = configmap_toml(file);
  ASSERT_NE(toml.find("[collector]"), std::string::npos) << toml;
  auto path = scratch_dir(name) + "/config.toml";
  std::ofstream{path} << toml;
  std::string out;
  auto rc = run_command({binary("app/flow-aggregator"), "check-config", "-c", path}, out);
  EXPECT_EQ(rc, 0) << out;
}

TEST(deploy, proxy_kustomization_renders) {
  auto yaml = render("deploy/kubernetes");
  EXPECT_EQ(count_kind(yaml, "Deployment"), 1u) << yaml;
  EXPECT_EQ(count_kind(yaml, "HorizontalPodAutoscaler"), 1u) << yaml;
  EXPECT_EQ(count_kind(yaml, "ServiceAccount"), 1u) << yaml;
  EXPECT_NE(yaml.find("mode = \"proxy\""), std::string::npos);
}

TEST(deploy, aggregate_kustomization_is_one_replica_that_cannot_scale) {
  auto yaml = render("deploy/kubernetes/aggregate");
  EXPECT_EQ(count_kind(yaml, "StatefulSet"), 1u) << yaml;
  EXPECT_EQ(count_kind(yaml, "Deployment"), 0u) << yaml;
  EXPECT_EQ(count_kind(yaml, "HorizontalPodAutoscaler"), 0u) << yaml;
  EXPECT_EQ(count_kind(yaml, "PodDisruptionBudget"), 0u) << yaml;
  EXPECT_EQ(count_kind(yaml, "Namespace"), 1u) << yaml;
  EXPECT_EQ(count_kind(yaml, "ClusterRole"), 1u) << yaml;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(yaml, m, std::regex{"\n  replicas: ([0-9]+)"})) << yaml;
  EXPECT_EQ(m[1], "1");
  EXPECT_NE(yaml.find("mode = \"aggregate\""), std::string::npos);
  // The memory request is sized for max_flows (README, aggregate benchmark), not left
  // at the proxy Deployment's.
  ASSERT_TRUE(std::regex_search(yaml, m, std::regex{"memory: ([0-9]+)Gi"})) << yaml;
}

TEST(deploy, both_configmaps_pass_check_config) {
  expect_valid_config("deploy/kubernetes/configmap.yaml", "deploy_proxy_configmap");
  expect_valid_config("deploy/kubernetes/aggregate/configmap.yaml", "deploy_aggregate_configmap");
}

} // namespace
} // namespace fa::test
