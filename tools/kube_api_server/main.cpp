// kube-api-test-server: the test Kubernetes API server (kube_api_server.hpp) as a process,
// for the labels benchmark (test/bench/labels.sh). It holds --pods Pods, the first 4,000
// at exactly the Pod addresses ipfix-loadgen uses (10.244.<node 0..15>.<host 2..251>),
// and changes the labels of --updates-per-second of those Pods every second, so that
// the enrichers keep receiving new snapshots while records flow. Runs until SIGTERM or
// SIGINT.

#include "tools/common/cli.hpp"
#include "tools/kube_api_server/kube_api_server.hpp"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <pthread.h>
#include <thread>

using namespace fa::tools;

namespace {

constexpr int loadgen_nodes = 16;
constexpr int loadgen_hosts = 250; // .2 .. .251

pod_spec make_pod(std::uint64_t i, std::uint64_t rev) {
  pod_spec p;
  std::string ip;
  std::string node;
  if (i < loadgen_nodes * loadgen_hosts) {
    auto n = i / loadgen_hosts, h = 2 + i % loadgen_hosts;
    ip = "10.244." + std::to_string(n) + "." + std::to_string(h);
    node = std::to_string(n);
  } else { // elsewhere in 10/8, never an address the loadgen sends
    auto k = i - loadgen_nodes * loadgen_hosts;
    ip = "10." + std::to_string(100 + k / 65536) + "." + std::to_string(k / 256 % 256) + "." +
         std::to_string(k % 256);
    node = std::to_string(16 + k % 84);
  }
  p.pod_namespace = "ns-" + std::to_string(i % 50);
  p.name = "app-" + std::to_string(i % 1000) + "-7d4b9c8f6d-" + std::to_string(i);
  p.uid = "8c3e9a1f-0000-4000-8000-" + std::to_string(100000000000 + i);
  p.node_name = "node-" + node;
  p.ips = {ip};
  p.labels = {{"app", "app-" + std::to_string(i % 1000)},
              {"pod-template-hash", "7d4b9c8f6d"},
              {"rev", std::to_string(rev)}};
  return p;
}

} // namespace

int main(int argc, char** argv) {
  kube_api_server::options opts;
  opts.token = "bench-token";
  opts.max_history = 20000;
  std::string port_file;
  std::uint64_t pods = 100000;
  double rate = 100;
  arg_parser args{"kube-api-test-server",
                  "A Kubernetes API server for Pods (LIST + WATCH over TLS) with synthetic Pods "
                  "covering ipfix-loadgen's addresses, for benchmarks."};
  args.option("cert", "FILE", "server certificate (PEM)", "a file", [&](std::string_view v) {
    opts.cert_file = v;
    return true;
  });
  args.option("key", "FILE", "server key (PEM)", "a file", [&](std::string_view v) {
    opts.key_file = v;
    return true;
  });
  args.option("token", "TEXT", "bearer token clients must send (default bench-token)", "any text",
              [&](std::string_view v) {
                opts.token = v;
                return !v.empty();
              });
  args.option("port", "PORT", "listen on 127.0.0.1:PORT (default 0 = ephemeral)", "0..65535",
              [&](std::string_view v) {
                auto n = parse_uint(v);
                if (!n || *n > 65535)
                  return false;
                opts.port = static_cast<std::uint16_t>(*n);
                return true;
              });
  args.option("port-file", "FILE", "write the bound port here once listening", "a path",
              [&](std::string_view v) {
                port_file = v;
                return true;
              });
  args.option("pods", "N", "Pods held (default 100000; at least the 4000 loadgen addresses)",
              "4000 or more", [&](std::string_view v) {
                auto n = parse_uint(v);
                if (!n || *n < loadgen_nodes * loadgen_hosts)
                  return false;
                pods = *n;
                return true;
              });
  args.option("updates-per-second", "R", "label changes per second (default 100; 0 = none)",
              "a number", [&](std::string_view v) {
                auto n = parse_number(v);
                if (!n)
                  return false;
                rate = *n;
                return true;
              });
  args.parse(argc, argv);
  if (opts.cert_file.empty() || opts.key_file.empty())
    args.fail("--cert and --key are required");

  // Signals go to sigwait below, not to a random thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::unique_ptr<kube_api_server> server;
  try {
    server = std::make_unique<kube_api_server>(opts);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kube-api-test-server: %s\n", e.what());
    return 1;
  }
  std::vector<pod_spec> all;
  all.reserve(pods);
  for (std::uint64_t i = 0; i < pods; ++i)
    all.push_back(make_pod(i, 0));
  server->preload(std::move(all));
  if (!port_file.empty()) {
    if (auto err = write_file_atomically(port_file, std::to_string(server->port()) + "\n");
        !err.empty()) {
      std::fprintf(stderr, "kube-api-test-server: %s\n", err.c_str());
      return 1;
    }
  }
  std::fprintf(stderr, "kube-api-test-server: %llu Pods at %s, %.0f updates/s\n",
               static_cast<unsigned long long>(pods), server->url().c_str(), rate);

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> updates{0};
  std::thread updater{[&] {
    if (rate <= 0)
      return;
    auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(1.0 / rate));
    auto next = std::chrono::steady_clock::now();
    for (std::uint64_t k = 0; !stop; ++k) {
      // Pods the loadgen's records resolve to: each change is a new snapshot that matters.
      auto i = k % (loadgen_nodes * loadgen_hosts);
      server->apply(make_pod(i, 1 + k / (loadgen_nodes * loadgen_hosts)));
      ++updates;
      next += period;
      std::this_thread::sleep_until(next);
    }
  }};
  int sig = 0;
  sigwait(&stop_signals, &sig);
  stop = true;
  updater.join();
  std::fprintf(stderr, "kube-api-test-server: %llu updates, %llu lists, %llu watches\n",
               static_cast<unsigned long long>(updates.load()),
               static_cast<unsigned long long>(server->lists()),
               static_cast<unsigned long long>(server->watches()));
  return 0;
}
