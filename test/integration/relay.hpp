#pragma once

// test/integration/tcp_relay.py as a child process: a TCP relay that plays a faulty
// collector in front of a real one (it stalls and is SIGKILLed, or resets connections).

#include "test/integration/harness.hpp"
#include "test/support/process.hpp"

#include <chrono>
#include <csignal>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace fa::test {

/// test/integration/tcp_relay.py as a child process, forwarding to `target`.
class relay {
 public:
  relay(const std::string& dir, std::uint16_t target, std::vector<std::string> args,
        std::uint16_t port = 0) {
    static int n = 0;
    auto tag = std::to_string(++n);
    auto port_file = dir + "/relay" + tag + ".port";
    stall_file_ = dir + "/relay" + tag + ".stalled";
    std::vector<std::string> argv{"/usr/bin/python3", source("test/integration/tcp_relay.py"),
                                  "--port",           std::to_string(port),
                                  "--port-file",      port_file,
                                  "--target",         std::to_string(target),
                                  "--stall-file",     stall_file_};
    argv.insert(argv.end(), args.begin(), args.end());
    proc_ = std::make_unique<process>(argv, "", dir + "/relay" + tag + ".err");
    auto line = wait_for_file(port_file, std::chrono::seconds{20});
    if (!line)
      throw std::runtime_error("relay did not start: " + read_file(dir + "/relay" + tag + ".err"));
    port_ = static_cast<std::uint16_t>(std::stoi(*line));
  }

  std::uint16_t port() const { return port_; }
  bool stalled() const { return !read_file(stall_file_).empty(); }
  /// SIGKILL: the relay's sockets close with whatever they hold unread (a reset).
  void kill() {
    proc_->signal(SIGKILL);
    proc_->wait(std::chrono::seconds{10});
  }

 private:
  std::unique_ptr<process> proc_;
  std::string stall_file_;
  std::uint16_t port_ = 0;
};

/// A collector that dies mid-stream and comes back: a relay to `target` that stops
/// reading after `stall_after` octets. `die_and_return` waits until `sup` wrote well
/// beyond that (into the relay's unread socket and its own send queue: all counted as
/// sent), SIGKILLs the relay and starts a new one on the same port.
class dying_relay {
 public:
  dying_relay(const std::string& dir, std::uint16_t target, std::size_t stall_after)
      : dir_(dir)
      , target_(target)
      , stall_after_(stall_after)
      , first_(std::make_unique<relay>(
            dir, target, std::vector<std::string>{"--stall-after", std::to_string(stall_after)})) {}

  std::uint16_t port() const { return first_->port(); }

  bool die_and_return(app::supervisor& sup) {
    bool stalled = eventually([&] {
      return first_->stalled() && metric(sup, "flow_aggregator_sent_bytes_total") >
                                      static_cast<double>(stall_after_ + 200000);
    });
    auto port = first_->port();
    first_->kill();
    second_ = std::make_unique<relay>(dir_, target_, std::vector<std::string>{}, port);
    return stalled;
  }

 private:
  std::string dir_;
  std::uint16_t target_;
  std::size_t stall_after_;
  std::unique_ptr<relay> first_, second_;
};

} // namespace fa::test
