// Pod labels from a file source (issue 4's file source): records whose addresses belong to
// Pods in the file carry their labels; a changed file is picked up without a restart.

#include "test/integration/harness.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace std::chrono_literals;
using fa::test::collector;
using fa::test::running;
using fa::test::tcp_destination;

namespace {

/// One Pod object per line, in the shape `kubectl get pods -A -o json | jq -c '.items[]'`
/// prints (trimmed of fields the index does not read).
std::string pod_line(const std::string& uid, const std::string& name, const std::string& ip,
                     const std::string& labels_json) {
  return R"({"apiVersion":"v1","kind":"Pod","metadata":{"creationTimestamp":"2024-05-01T10:00:00Z",)"
         R"("labels":)" +
         labels_json + R"(,"name":")" + name +
         R"(","namespace":"shop","resourceVersion":"4711","uid":")" + uid +
         R"("},"spec":{"containers":[{"image":"nginx:1.25","name":"web"}],"nodeName":"kind-worker",)"
         R"("hostNetwork":false},"status":{"phase":"Running","podIP":")" +
         ip + R"(","podIPs":[{"ip":")" + ip + R"("}],"hostIP":"172.18.0.2"}})" + "\n";
}

void write_file(const std::string& path, const std::string& text) {
  auto tmp = path + ".tmp";
  std::ofstream{tmp} << text;
  std::rename(tmp.c_str(), path.c_str());
}

/// One record from 10.0.0.1 to 10.0.0.2 with its template.
std::vector<std::uint8_t> one_record() {
  return fa::test::flow_message(0, 5, {fa::test::flow_record{}});
}

/// Labels from the Pod file `pods`, also for records of non-Antrea templates (the test
/// records carry only addresses and a counter).
fa::config::config file_labels_config(std::uint16_t collector_port, const std::string& pods) {
  return fa::test::test_config(tcp_destination(collector_port),
                               "[labels]\nsource = \"file\"\nfile = \"" + pods +
                                   "\"\n[enrichment]\nlabels_for_foreign_records = true\n");
}

} // namespace

TEST(labels, file_source_labels_records_and_follows_changes) {
  auto dir = fa::test::scratch_dir("labels_file");
  auto pods = dir + "/pods.jsonl";
  write_file(pods, pod_line("u-1", "web-1", "10.0.0.1", R"({"app":"web"})"));
  collector col{dir, {"--print", "--expect-total", "2"}};
  running fa{file_labels_config(col.port(), pods)};
  ASSERT_TRUE(fa::test::eventually([&] { return fa.sup.label_ips() == 1; }, 10s));
  fa::test::send_raw(fa.port, one_record());
  // A second Pod, without labels, and new labels for the first.
  write_file(pods, pod_line("u-1", "web-1", "10.0.0.1", R"({"tier":"front","app":"web"})") +
                       pod_line("u-2", "db-0", "10.0.0.2", "{}"));
  ASSERT_TRUE(fa::test::eventually([&] { return fa.sup.label_ips() == 2; }, 10s));
  fa::test::send_raw(fa.port, one_record());
  auto r = col.report();
  ASSERT_EQ(r.value("records", 0), 2) << r.dump();
  std::istringstream lines{fa::test::read_file(col.out_file())};
  std::vector<nlohmann::json> records;
  for (std::string line; std::getline(lines, line);)
    if (!line.empty())
      records.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].value("sourcePodLabels", "?"), R"({"app":"web"})") << records[0].dump();
  EXPECT_EQ(records[0].value("destinationPodLabels", "?"), "") << records[0].dump();
  EXPECT_EQ(records[1].value("sourcePodLabels", "?"), R"({"app":"web","tier":"front"})")
      << records[1].dump();
  EXPECT_EQ(records[1].value("destinationPodLabels", "?"), "{}") << records[1].dump();
}

// A file with a bad object is rejected whole: the previous good index stays in force.
TEST(labels, a_bad_file_keeps_the_previous_index) {
  auto dir = fa::test::scratch_dir("labels_bad_file");
  auto pods = dir + "/pods.jsonl";
  write_file(pods, pod_line("u-1", "web-1", "10.0.0.1", R"({"app":"web"})"));
  collector col{dir, {"--print", "--expect-total", "1"}};
  running fa{file_labels_config(col.port(), pods)};
  ASSERT_TRUE(fa::test::eventually([&] { return fa.sup.label_ips() == 1; }, 10s));
  write_file(pods,
             pod_line("u-2", "db-0", "10.0.0.2", "{}") + "{\"kind\":\"Pod\",\"metadata\":{}}\n");
  std::this_thread::sleep_for(1500ms); // longer than the 1 s poll: the bad file was read
  EXPECT_EQ(fa.sup.label_ips(), 1u);
  fa::test::send_raw(fa.port, one_record());
  auto r = col.report();
  ASSERT_EQ(r.value("records", 0), 1) << r.dump();
  auto first = fa::test::read_file(col.out_file());
  auto rec = nlohmann::json::parse(first.substr(0, first.find('\n')));
  EXPECT_EQ(rec.value("sourcePodLabels", "?"), R"({"app":"web"})") << rec.dump();
}
