#include "labels/pod_json.hpp"

#include "labels/label_json.hpp"
#include "labels/pod_index.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace fa::labels {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::StartsWith;

// `kubectl get pod -n shop web-7d4b9c8f6d-x2k9p -o json` on a dual-stack cluster
// (managedFields dropped, as kubectl does by default).
constexpr const char* dual_stack_pod = R"({
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "annotations": {
            "kubectl.kubernetes.io/restartedAt": "2024-04-30T16:20:00Z"
        },
        "creationTimestamp": "2024-05-01T10:00:00Z",
        "generateName": "web-7d4b9c8f6d-",
        "labels": {
            "app": "web",
            "pod-template-hash": "7d4b9c8f6d",
            "tier": "frontend"
        },
        "name": "web-7d4b9c8f6d-x2k9p",
        "namespace": "shop",
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "blockOwnerDeletion": true,
                "controller": true,
                "kind": "ReplicaSet",
                "name": "web-7d4b9c8f6d",
                "uid": "0b7c1d2e-3f40-4a51-8b62-7c83d94e0f15"
            }
        ],
        "resourceVersion": "184467",
        "uid": "4f8e2a1c-9b3d-4e5f-a617-28c9d0e1f2a3"
    },
    "spec": {
        "containers": [
            {
                "image": "nginx:1.25",
                "imagePullPolicy": "IfNotPresent",
                "name": "nginx",
                "ports": [
                    {
                        "containerPort": 80,
                        "protocol": "TCP"
                    }
                ],
                "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "volumeMounts": [
                    {
                        "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                        "name": "kube-api-access-7xq2b",
                        "readOnly": true
                    }
                ]
            }
        ],
        "dnsPolicy": "ClusterFirst",
        "enableServiceLinks": true,
        "nodeName": "worker-1",
        "preemptionPolicy": "PreemptLowerPriority",
        "priority": 0,
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "serviceAccount": "default",
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
        "tolerations": [
            {
                "effect": "NoExecute",
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "tolerationSeconds": 300
            }
        ],
        "volumes": [
            {
                "name": "kube-api-access-7xq2b",
                "projected": {
                    "defaultMode": 420,
                    "sources": [
                        {
                            "serviceAccountToken": {
                                "expirationSeconds": 3607,
                                "path": "token"
                            }
                        }
                    ]
                }
            }
        ]
    },
    "status": {
        "conditions": [
            {
                "lastProbeTime": null,
                "lastTransitionTime": "2024-05-01T10:00:00Z",
                "status": "True",
                "type": "Initialized"
            },
            {
                "lastProbeTime": null,
                "lastTransitionTime": "2024-05-01T10:00:03Z",
                "status": "True",
                "type": "Ready"
            },
            {
                "lastProbeTime": null,
                "lastTransitionTime": "2024-05-01T10:00:00Z",
                "status": "True",
                "type": "PodScheduled"
            }
        ],
        "containerStatuses": [
            {
                "containerID": "containerd://5d2f9a0c1b7e4f3a8d6c2b1e0f9a8d7c6b5a4e3d2c1b0a9f8e7d6c5b4a3f2e1d",
                "image": "docker.io/library/nginx:1.25",
                "imageID": "docker.io/library/nginx@sha256:0d3f2c6a9b8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c",
                "lastState": {},
                "name": "nginx",
                "ready": true,
                "restartCount": 0,
                "started": true,
                "state": {
                    "running": {
                        "startedAt": "2024-05-01T10:00:02Z"
                    }
                }
            }
        ],
        "hostIP": "192.168.10.11",
        "hostIPs": [
            {
                "ip": "192.168.10.11"
            },
            {
                "ip": "fd00:192:168:10::11"
            }
        ],
        "phase": "Running",
        "podIP": "10.244.1.23",
        "podIPs": [
            {
                "ip": "10.244.1.23"
            },
            {
                "ip": "fd00:10:244:1::17"
            }
        ],
        "qosClass": "BestEffort",
        "startTime": "2024-05-01T10:00:00Z"
    }
})";

// An Antrea agent Pod: hostNetwork, so its podIP is the Node's.
constexpr const char* host_network_pod = R"({
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "annotations": {
            "kubectl.kubernetes.io/default-container": "antrea-agent"
        },
        "creationTimestamp": "2024-04-28T07:12:44Z",
        "generateName": "antrea-agent-",
        "labels": {
            "app": "antrea",
            "component": "antrea-agent",
            "controller-revision-hash": "6c9f8b7d5",
            "pod-template-generation": "1"
        },
        "name": "antrea-agent-8hxw2",
        "namespace": "kube-system",
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "blockOwnerDeletion": true,
                "controller": true,
                "kind": "DaemonSet",
                "name": "antrea-agent",
                "uid": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
            }
        ],
        "resourceVersion": "1021",
        "uid": "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f"
    },
    "spec": {
        "containers": [
            {
                "args": [
                    "--config=/etc/antrea/antrea-agent.conf",
                    "--logtostderr=false",
                    "--log_dir=/var/log/antrea"
                ],
                "command": [
                    "antrea-agent"
                ],
                "image": "antrea/antrea-agent-ubuntu:v2.0.0",
                "imagePullPolicy": "IfNotPresent",
                "name": "antrea-agent",
                "resources": {
                    "requests": {
                        "cpu": "200m"
                    }
                },
                "securityContext": {
                    "privileged": true
                }
            }
        ],
        "dnsPolicy": "ClusterFirstWithHostNet",
        "hostNetwork": true,
        "nodeName": "worker-1",
        "priorityClassName": "system-node-critical",
        "restartPolicy": "Always",
        "serviceAccountName": "antrea-agent",
        "tolerations": [
            {
                "key": "CriticalAddonsOnly",
                "operator": "Exists"
            },
            {
                "effect": "NoSchedule",
                "operator": "Exists"
            }
        ]
    },
    "status": {
        "conditions": [
            {
                "lastProbeTime": null,
                "lastTransitionTime": "2024-04-28T07:13:10Z",
                "status": "True",
                "type": "Ready"
            }
        ],
        "containerStatuses": [
            {
                "containerID": "containerd://9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d",
                "image": "docker.io/antrea/antrea-agent-ubuntu:v2.0.0",
                "imageID": "docker.io/antrea/antrea-agent-ubuntu@sha256:1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e",
                "lastState": {},
                "name": "antrea-agent",
                "ready": true,
                "restartCount": 0,
                "started": true,
                "state": {
                    "running": {
                        "startedAt": "2024-04-28T07:13:01Z"
                    }
                }
            }
        ],
        "hostIP": "192.168.10.11",
        "phase": "Running",
        "podIP": "192.168.10.11",
        "podIPs": [
            {
                "ip": "192.168.10.11"
            }
        ],
        "qosClass": "Burstable",
        "startTime": "2024-04-28T07:12:44Z"
    }
})";

// A finished Job Pod.
constexpr const char* job_pod = R"({
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "creationTimestamp": "2024-05-01T09:30:05Z",
        "generateName": "nightly-report-28575930-",
        "labels": {
            "batch.kubernetes.io/controller-uid": "7e6d5c4b-3a2f-4e1d-9c8b-7a6f5e4d3c2b",
            "batch.kubernetes.io/job-name": "nightly-report-28575930",
            "controller-uid": "7e6d5c4b-3a2f-4e1d-9c8b-7a6f5e4d3c2b",
            "job-name": "nightly-report-28575930"
        },
        "name": "nightly-report-28575930-kq7zt",
        "namespace": "reports",
        "ownerReferences": [
            {
                "apiVersion": "batch/v1",
                "blockOwnerDeletion": true,
                "controller": true,
                "kind": "Job",
                "name": "nightly-report-28575930",
                "uid": "7e6d5c4b-3a2f-4e1d-9c8b-7a6f5e4d3c2b"
            }
        ],
        "resourceVersion": "183990",
        "uid": "e5f6a7b8-c9d0-4e1f-a2b3-c4d5e6f7a8b9"
    },
    "spec": {
        "containers": [
            {
                "command": [
                    "/bin/report",
                    "--since=24h"
                ],
                "image": "registry.example.com/report:3.2.1",
                "imagePullPolicy": "IfNotPresent",
                "name": "report",
                "resources": {}
            }
        ],
        "nodeName": "worker-2",
        "restartPolicy": "Never",
        "serviceAccountName": "default"
    },
    "status": {
        "conditions": [
            {
                "lastProbeTime": null,
                "lastTransitionTime": "2024-05-01T09:31:40Z",
                "reason": "PodCompleted",
                "status": "False",
                "type": "Ready"
            }
        ],
        "containerStatuses": [
            {
                "containerID": "containerd://1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b",
                "image": "registry.example.com/report:3.2.1",
                "imageID": "registry.example.com/report@sha256:2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c",
                "lastState": {},
                "name": "report",
                "ready": false,
                "restartCount": 0,
                "started": false,
                "state": {
                    "terminated": {
                        "containerID": "containerd://1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b",
                        "exitCode": 0,
                        "finishedAt": "2024-05-01T09:31:39Z",
                        "reason": "Completed",
                        "startedAt": "2024-05-01T09:30:07Z"
                    }
                }
            }
        ],
        "hostIP": "192.168.10.12",
        "phase": "Succeeded",
        "podIP": "10.244.2.41",
        "podIPs": [
            {
                "ip": "10.244.2.41"
            }
        ],
        "qosClass": "BestEffort",
        "startTime": "2024-05-01T09:30:05Z"
    }
})";

constexpr std::int64_t may1_1000 = 1714557600; // 2024-05-01T10:00:00Z

json j(const char* text) {
  return json::parse(text);
}

// parse_pod, expecting success.
parsed_pod ok(const json& pod) {
  std::string error;
  auto p = parse_pod(pod, error);
  EXPECT_TRUE(p) << error;
  return p.value_or(parsed_pod{});
}

// parse_pod, expecting failure; returns the error.
std::string bad(const json& pod) {
  std::string error;
  auto p = parse_pod(pod, error);
  EXPECT_FALSE(p) << pod.dump();
  return error;
}

// The Pod names of a result, in order.
std::vector<std::string> names(const pod_file_result& r) {
  std::vector<std::string> out;
  for (const auto& p : r.pods) {
    out.push_back(p.info.name);
  }
  return out;
}

// A PodList as the API server returns it: items without kind/apiVersion.
std::string api_pod_list(const std::vector<json>& pods) {
  json list = {{"apiVersion", "v1"},
               {"kind", "PodList"},
               {"metadata", {{"resourceVersion", "184500"}}},
               {"items", json::array()}};
  for (auto p : pods) {
    p.erase("kind");
    p.erase("apiVersion");
    list["items"].push_back(std::move(p));
  }
  return list.dump(4);
}

TEST(parse_pod, dual_stack_pod) {
  auto p = ok(j(dual_stack_pod));
  EXPECT_EQ(p.info.uid, "4f8e2a1c-9b3d-4e5f-a617-28c9d0e1f2a3");
  EXPECT_EQ(p.info.pod_namespace, "shop");
  EXPECT_EQ(p.info.name, "web-7d4b9c8f6d-x2k9p");
  EXPECT_EQ(p.info.node_name, "worker-1");
  EXPECT_THAT(p.info.labels,
              ElementsAre(Pair("app", "web"), Pair("pod-template-hash", "7d4b9c8f6d"),
                          Pair("tier", "frontend")));
  EXPECT_EQ(p.info.creation, may1_1000);
  EXPECT_THAT(p.info.ips, ElementsAre("10.244.1.23", "fd00:10:244:1::17"));
  EXPECT_FALSE(p.info.host_network);
  EXPECT_EQ(p.info.phase, "Running");
  EXPECT_FALSE(p.deletion);
}

TEST(parse_pod, host_network_pod) {
  auto p = ok(j(host_network_pod));
  EXPECT_EQ(p.info.name, "antrea-agent-8hxw2");
  EXPECT_EQ(p.info.pod_namespace, "kube-system");
  EXPECT_TRUE(p.info.host_network);
  EXPECT_THAT(p.info.ips, ElementsAre("192.168.10.11"));
  EXPECT_EQ(p.info.creation, 1714288364); // 2024-04-28T07:12:44Z
  EXPECT_EQ(p.info.labels.size(), 4u);
}

TEST(parse_pod, succeeded_job_pod) {
  auto p = ok(j(job_pod));
  EXPECT_EQ(p.info.name, "nightly-report-28575930-kq7zt");
  EXPECT_EQ(p.info.node_name, "worker-2");
  EXPECT_EQ(p.info.phase, "Succeeded");
  EXPECT_THAT(p.info.ips, ElementsAre("10.244.2.41"));
  EXPECT_EQ(p.info.creation, 1714555805); // 2024-05-01T09:30:05Z
  ASSERT_EQ(p.info.labels.size(), 4u);
  EXPECT_EQ(p.info.labels[1], (std::pair<std::string, std::string>{"batch.kubernetes.io/job-name",
                                                                   "nightly-report-28575930"}));
}

TEST(parse_pod, deletion_timestamp) {
  auto pod = j(dual_stack_pod);
  pod["metadata"]["deletionTimestamp"] = "2024-05-01T10:05:00Z";
  pod["metadata"]["deletionGracePeriodSeconds"] = 30;
  auto p = ok(pod);
  ASSERT_TRUE(p.deletion);
  EXPECT_EQ(*p.deletion, may1_1000 + 300);

  pod["metadata"]["deletionTimestamp"] = nullptr;
  EXPECT_FALSE(ok(pod).deletion);

  pod["metadata"]["deletionTimestamp"] = "soon";
  EXPECT_THAT(bad(pod), StartsWith("metadata.deletionTimestamp: "));
}

TEST(parse_pod, missing_identity_names_the_path) {
  for (const char* field : {"name", "namespace", "uid"}) {
    auto pod = j(dual_stack_pod);
    pod["metadata"].erase(field);
    EXPECT_EQ(bad(pod), std::string{"metadata."} + field + ": missing");
    pod["metadata"][field] = "";
    EXPECT_EQ(bad(pod), std::string{"metadata."} + field + ": empty");
    pod["metadata"][field] = 7;
    EXPECT_EQ(bad(pod), std::string{"metadata."} + field + ": expected a string, got number");
  }
  auto pod = j(dual_stack_pod);
  pod.erase("metadata");
  EXPECT_EQ(bad(pod), "metadata: missing");
  pod = j(dual_stack_pod);
  pod["metadata"].erase("creationTimestamp");
  EXPECT_EQ(bad(pod), "metadata.creationTimestamp: missing");
}

TEST(parse_pod, bad_timestamp) {
  for (const char* ts : {"2024-05-01 10:00:00", "2024-13-01T10:00:00Z", "2023-02-29T10:00:00Z",
                         "2024-05-01T24:00:00Z", "2024-05-01T10:00:60Z", "2024-05-01T10:00:00",
                         "2024-05-01T10:00:00+0200", "2024-05-01T10:00:00.Z", "2024-05-01",
                         "yesterday", "", "2024-05-01T10:00:00Zjunk"}) {
    auto pod = j(dual_stack_pod);
    pod["metadata"]["creationTimestamp"] = ts;
    EXPECT_THAT(bad(pod), StartsWith("metadata.creationTimestamp: ")) << ts;
  }
  auto pod = j(dual_stack_pod);
  pod["metadata"]["creationTimestamp"] = may1_1000;
  EXPECT_EQ(bad(pod), "metadata.creationTimestamp: expected a string, got number");
}

TEST(parse_rfc3339, values) {
  EXPECT_EQ(parse_rfc3339("2024-05-01T10:00:00Z"), may1_1000);
  EXPECT_EQ(parse_rfc3339("2024-05-01T12:00:00.75+02:00"), may1_1000);
  EXPECT_EQ(parse_rfc3339("2024-05-01T10:00:00.000000001Z"), may1_1000);
  EXPECT_EQ(parse_rfc3339("2024-02-29T23:59:59Z"), 1709251199);
  EXPECT_EQ(parse_rfc3339("2000-03-01T00:00:00-05:30"), 951888600);
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339("1969-12-31T23:59:59Z"), -1);
  EXPECT_FALSE(parse_rfc3339("2024-05-01t10:00:00z"));
  EXPECT_FALSE(parse_rfc3339("2024-04-31T10:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("2024-05-01T10:00:00+24:00"));
}

TEST(parse_pod, pod_ip_fallback) {
  auto pod = j(job_pod);
  pod["status"].erase("podIPs");
  pod["status"]["podIP"] = "10.244.2.99";
  EXPECT_THAT(ok(pod).info.ips, ElementsAre("10.244.2.99"));

  pod["status"]["podIPs"] = json::array();
  EXPECT_THAT(ok(pod).info.ips, ElementsAre("10.244.2.99"));

  // podIPs wins when present.
  pod["status"]["podIPs"] = json::array({{{"ip", "10.244.2.41"}}});
  EXPECT_THAT(ok(pod).info.ips, ElementsAre("10.244.2.41"));

  // A Pending Pod has neither.
  pod["status"].erase("podIPs");
  pod["status"].erase("podIP");
  pod["status"]["phase"] = "Pending";
  auto p = ok(pod);
  EXPECT_TRUE(p.info.ips.empty());
  EXPECT_EQ(p.info.phase, "Pending");

  pod["status"]["podIPs"] = json::array({{{"ipAddress", "10.1.1.1"}}});
  EXPECT_EQ(bad(pod), "status.podIPs[0].ip: missing");
}

TEST(parse_pod, optional_fields_default) {
  json pod = {{"metadata",
               {{"uid", "u1"},
                {"namespace", "ns"},
                {"name", "p"},
                {"creationTimestamp", "2024-05-01T10:00:00Z"}}}};
  auto p = ok(pod);
  EXPECT_TRUE(p.info.labels.empty());
  EXPECT_TRUE(p.info.ips.empty());
  EXPECT_FALSE(p.info.host_network);
  EXPECT_EQ(p.info.node_name, "");
  EXPECT_EQ(p.info.phase, "");

  pod["metadata"]["labels"] = nullptr;
  EXPECT_TRUE(ok(pod).info.labels.empty());
  pod["metadata"]["labels"] = {{"app", 1}};
  EXPECT_EQ(bad(pod), "metadata.labels.app: expected a string, got number");
  pod["metadata"]["labels"] = json::array();
  EXPECT_EQ(bad(pod), "metadata.labels: expected an object, got array");
  pod["metadata"].erase("labels");
  pod["spec"] = {{"hostNetwork", "true"}};
  EXPECT_EQ(bad(pod), "spec.hostNetwork: expected a boolean, got string");
  pod["spec"] = {{"hostNetwork", false}};
  pod["kind"] = "Service";
  EXPECT_EQ(bad(pod), "kind: expected \"Pod\", got \"Service\"");
  EXPECT_EQ(bad(json::array()), "Pod: expected an object, got array");
}

TEST(parse_pod, label_order_irrelevant) {
  auto a = parse_pod_file(R"({"metadata": {"uid": "u", "namespace": "n", "name": "p",
      "creationTimestamp": "2024-05-01T10:00:00Z",
      "labels": {"tier": "frontend", "app": "web", "pod-template-hash": "7d4b9c8f6d"}}})");
  auto b = parse_pod_file(R"({"metadata": {"labels": {"pod-template-hash": "7d4b9c8f6d",
      "app": "web", "tier": "frontend"}, "name": "p", "namespace": "n", "uid": "u",
      "creationTimestamp": "2024-05-01T10:00:00Z"}})");
  ASSERT_EQ(a.pods.size(), 1u);
  ASSERT_EQ(b.pods.size(), 1u);
  EXPECT_EQ(a.pods[0].info.labels, b.pods[0].info.labels);
  EXPECT_EQ(a.pods[0].info.labels, ok(j(dual_stack_pod)).info.labels);
  EXPECT_EQ(encode_labels_json(a.pods[0].info.labels),
            R"({"app":"web","pod-template-hash":"7d4b9c8f6d","tier":"frontend"})");
}

TEST(parse_pod_file, api_pod_list) {
  auto r = parse_pod_file(api_pod_list({j(dual_stack_pod), j(host_network_pod), j(job_pod)}));
  EXPECT_THAT(r.errors, ElementsAre());
  EXPECT_THAT(names(r), ElementsAre("web-7d4b9c8f6d-x2k9p", "antrea-agent-8hxw2",
                                    "nightly-report-28575930-kq7zt"));
  ASSERT_EQ(r.pods.size(), 3u);
  EXPECT_TRUE(r.pods[1].info.host_network);
  EXPECT_EQ(r.pods[2].info.phase, "Succeeded");
}

TEST(parse_pod_file, kubectl_list) {
  // `kubectl get pods -A -o json` prints kind "List", items with kind and apiVersion.
  json list = {{"apiVersion", "v1"},
               {"items", {j(dual_stack_pod), j(job_pod)}},
               {"kind", "List"},
               {"metadata", {{"resourceVersion", ""}}}};
  auto r = parse_pod_file(list.dump(4));
  EXPECT_THAT(r.errors, ElementsAre());
  EXPECT_THAT(names(r), ElementsAre("web-7d4b9c8f6d-x2k9p", "nightly-report-28575930-kq7zt"));

  list["items"] = json::array();
  r = parse_pod_file(list.dump());
  EXPECT_TRUE(r.pods.empty());
  EXPECT_THAT(r.errors, ElementsAre());
}

TEST(parse_pod_file, json_lines) {
  // `kubectl get pods -A -o json | jq -c '.items[]'`, with a blank line and CRLF.
  std::string text = j(dual_stack_pod).dump() + "\n\n" + j(host_network_pod).dump() + "\r\n" +
                     j(job_pod).dump() + "\n";
  auto r = parse_pod_file(text);
  EXPECT_THAT(r.errors, ElementsAre());
  EXPECT_THAT(names(r), ElementsAre("web-7d4b9c8f6d-x2k9p", "antrea-agent-8hxw2",
                                    "nightly-report-28575930-kq7zt"));
  ASSERT_EQ(r.pods.size(), 3u);
  EXPECT_THAT(r.pods[0].info.ips, ElementsAre("10.244.1.23", "fd00:10:244:1::17"));
}

TEST(parse_pod_file, single_object) {
  auto r = parse_pod_file(dual_stack_pod);
  EXPECT_THAT(r.errors, ElementsAre());
  EXPECT_THAT(names(r), ElementsAre("web-7d4b9c8f6d-x2k9p"));

  // One compact line is the same thing.
  r = parse_pod_file(j(job_pod).dump());
  EXPECT_THAT(r.errors, ElementsAre());
  EXPECT_THAT(names(r), ElementsAre("nightly-report-28575930-kq7zt"));

  auto pod = j(job_pod);
  pod["metadata"].erase("uid");
  r = parse_pod_file(pod.dump(2));
  EXPECT_TRUE(r.pods.empty());
  EXPECT_THAT(r.errors, ElementsAre("metadata.uid: missing"));
}

TEST(parse_pod_file, bad_list_item_reported_by_index) {
  auto nameless = j(host_network_pod);
  nameless["metadata"].erase("name");
  auto r = parse_pod_file(api_pod_list({j(dual_stack_pod), nameless, j(job_pod)}));
  EXPECT_THAT(names(r), ElementsAre("web-7d4b9c8f6d-x2k9p", "nightly-report-28575930-kq7zt"));
  EXPECT_THAT(r.errors, ElementsAre("items[1]: metadata.name: missing"));

  json list = {{"kind", "PodList"}, {"items", {42, j(job_pod)}}};
  r = parse_pod_file(list.dump());
  EXPECT_THAT(names(r), ElementsAre("nightly-report-28575930-kq7zt"));
  EXPECT_THAT(r.errors, ElementsAre("items[0]: Pod: expected an object, got number"));
}

TEST(parse_pod_file, bad_line_reported_by_number) {
  auto late = j(job_pod);
  late["metadata"]["creationTimestamp"] = "2024-05-01T09:30:05";
  std::string good = j(dual_stack_pod).dump();
  std::string text = good + "\n" +                             // line 1
                     "{\"kind\": \"Pod\", \"metadata\": {\n" + // line 2: truncated
                     "\n" +                                    // line 3
                     late.dump() + "\n" +                      // line 4
                     j(host_network_pod).dump() + "\n";        // line 5
  auto r = parse_pod_file(text);
  EXPECT_THAT(names(r), ElementsAre("web-7d4b9c8f6d-x2k9p", "antrea-agent-8hxw2"));
  ASSERT_EQ(r.errors.size(), 2u);
  // Line 2 has 29 characters; the input ends after them.
  EXPECT_THAT(r.errors[0], StartsWith("line 2, column 30: "));
  EXPECT_THAT(r.errors[0], HasSubstr("syntax error"));
  EXPECT_EQ(r.errors[1],
            "line 4: metadata.creationTimestamp: not an RFC 3339 time: \"2024-05-01T09:30:05\"");
}

TEST(parse_pod_file, syntax_error_has_line_and_column) {
  // A pretty-printed Pod with a missing comma after "name" (line 4 of this text).
  // nlohmann reports where the unexpected token ends: "namespace" on line 5, column 19.
  auto r = parse_pod_file(R"({
    "kind": "Pod",
    "metadata": {
        "name": "web"
        "namespace": "shop"
    }
})");
  EXPECT_TRUE(r.pods.empty());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0], StartsWith("line 5, column 19: syntax error"));
}

TEST(parse_pod_file, other_documents) {
  EXPECT_THAT(parse_pod_file("").errors, ElementsAre());
  EXPECT_THAT(parse_pod_file(" \n\n").errors, ElementsAre());
  EXPECT_THAT(parse_pod_file("[1, 2]").errors,
              ElementsAre("document: expected a Pod or PodList object, got array"));
  EXPECT_THAT(parse_pod_file(R"({"kind": "ServiceList", "items": []})").errors,
              ElementsAre("kind: expected \"PodList\" or \"List\", got \"ServiceList\""));
  EXPECT_THAT(parse_pod_file(R"({"kind": "PodList", "items": {}})").errors,
              ElementsAre("items: expected an array, got object"));
  // Invalid UTF-8 is a parse error, not an exception.
  EXPECT_EQ(parse_pod_file("{\"kind\": \"\xff\"}").errors.size(), 1u);
}

TEST(parse_pod_file, feeds_the_index) {
  auto r = parse_pod_file(api_pod_list({j(dual_stack_pod), j(host_network_pod), j(job_pod)}));
  ASSERT_EQ(r.pods.size(), 3u);
  pod_index index;
  for (const auto& p : r.pods) {
    index.upsert(p.info, may1_1000 + 60);
  }
  // The hostNetwork Pod is not indexed; the dual-stack one is, by both addresses.
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(index.num_ips(), 3u);
  auto snap = index.snapshot();
  const auto* e = snap->lookup(*parse_ip("fd00:10:244:1::17"), may1_1000 + 30);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name, "web-7d4b9c8f6d-x2k9p");
  EXPECT_EQ(snap->lookup(*parse_ip("192.168.10.11"), may1_1000 + 30), nullptr);
}

} // namespace
} // namespace fa::labels
