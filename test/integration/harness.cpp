#include "test/integration/harness.hpp"

#include "ipfix/message_builder.hpp"

#include <curl/curl.h>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <csignal>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>

namespace fa::test {

config::config test_config(const std::string& destinations_toml, const std::string& extra_toml) {
  std::string text = "cluster_id = \"0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11\"\n" + extra_toml +
                     "\n[collector]\nlisten = [\"tcp://127.0.0.1:0\"]\n\n" + destinations_toml +
                     "\n[admin]\nlisten = \"\"\n";
  auto r = config::load_string(text, "test.toml");
  for (auto& e : r.errors)
    ADD_FAILURE() << config::to_string(e);
  return r.cfg.value_or(config::config{});
}

std::string tcp_destination(std::uint16_t port, const std::string& extra) {
  return "[[destination]]\nname = \"col\"\nurl = \"ipfix+tcp://127.0.0.1:" + std::to_string(port) +
         "\"\nflush_interval = \"5ms\"\nreconnect_min = \"50ms\"\nreconnect_max = \"200ms\"\n" +
         extra;
}

running::running(config::config cfg)
    : sup(std::move(cfg)) {
  auto err = sup.start();
  EXPECT_FALSE(err) << *err;
  auto ports = sup.listen_ports();
  port = ports.empty() ? 0 : ports.front();
}

collector::collector(const std::string& dir, std::vector<std::string> args, std::uint16_t port) {
  static int n = 0;
  auto tag = std::to_string(++n);
  auto port_file = dir + "/collector" + tag + ".port";
  report_file_ = dir + "/collector" + tag + ".json";
  err_file_ = dir + "/collector" + tag + ".err";
  std::vector<std::string> argv{binary("tools/ipfix-collector"),
                                "--listen",
                                "127.0.0.1:" + std::to_string(port),
                                "--port-file",
                                port_file,
                                "--report",
                                report_file_};
  argv.insert(argv.end(), args.begin(), args.end());
  out_file_ = dir + "/collector" + tag + ".out";
  proc_ = std::make_unique<process>(argv, out_file_, err_file_);
  auto line = wait_for_file(port_file, std::chrono::seconds{20});
  if (!line)
    throw std::runtime_error("collector did not start: " + read_file(err_file_));
  port_ = static_cast<std::uint16_t>(std::stoi(*line));
}

nlohmann::json collector::report(std::chrono::milliseconds timeout) {
  auto rc = proc_->wait(timeout);
  if (!rc) {
    ADD_FAILURE() << "collector did not finish in time";
    proc_->signal(SIGTERM);
    proc_->wait(std::chrono::seconds{15});
  }
  auto text = read_file(report_file_);
  if (text.empty()) {
    ADD_FAILURE() << "no collector report; stderr: " << read_file(err_file_);
    return nlohmann::json::object();
  }
  return nlohmann::json::parse(text);
}

std::unique_ptr<process> start_loadgen(std::uint16_t port, std::vector<std::string> args,
                                       const std::string& log_file) {
  std::vector<std::string> argv{binary("tools/ipfix-loadgen"), "--target",
                                "127.0.0.1:" + std::to_string(port), "--quiet"};
  argv.insert(argv.end(), args.begin(), args.end());
  return std::make_unique<process>(argv, "", log_file);
}

int run_loadgen(std::uint16_t port, std::vector<std::string> args,
                std::chrono::milliseconds timeout) {
  auto p = start_loadgen(port, std::move(args));
  auto rc = p->wait(timeout);
  return rc ? *rc : -1;
}

double metric(app::supervisor& sup, const std::string& name,
              const std::vector<std::pair<std::string, std::string>>& labels) {
  double sum = 0;
  for (auto& fam : sup.metrics().registry()->Collect()) {
    if (fam.name != name)
      continue;
    for (auto& m : fam.metric) {
      bool match = true;
      for (auto& [k, v] : labels) {
        bool found = false;
        for (auto& l : m.label)
          found |= l.name == k && l.value == v;
        match &= found;
      }
      if (match)
        sum += fam.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
  }
  return sum;
}

std::vector<flow_record> flow_records(int n, std::uint64_t first) {
  std::vector<flow_record> out(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i].octets = first + i;
  return out;
}

std::vector<std::uint8_t> flow_message(std::uint32_t seq, std::uint32_t odid,
                                       const std::vector<flow_record>& records, bool with_template,
                                       std::uint32_t export_time) {
  std::vector<std::uint8_t> bytes;
  ipfix::message_builder b{bytes};
  b.begin_message(export_time, seq, odid);
  if (with_template) {
    b.begin_set(ipfix::template_set_id);
    b.add_template({256, 0, {{8, 4, 0}, {12, 4, 0}, {1, 8, 0}}});
    b.end_set();
  }
  b.begin_set(256);
  for (const auto& r : records) {
    b.put_u32(r.src);
    b.put_u32(r.dst);
    b.put_u64(r.octets);
  }
  b.end_set();
  b.end_message();
  return bytes;
}

tcp_peer::tcp_peer(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
  timeval tv{10, 0};
  if (fd_ >= 0)
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

tcp_peer::~tcp_peer() {
  if (fd_ >= 0)
    ::close(fd_);
}

void tcp_peer::send(std::string_view bytes) {
  while (fd_ >= 0 && !bytes.empty()) {
    auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0)
      return;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void tcp_peer::shutdown_send() {
  if (fd_ >= 0)
    ::shutdown(fd_, SHUT_WR);
}

std::string tcp_peer::read_all() {
  std::string out;
  char buf[4096];
  while (fd_ >= 0) {
    auto n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0)
      break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

void send_raw(std::uint16_t port, const std::vector<std::uint8_t>& bytes) {
  tcp_peer p{port};
  ASSERT_TRUE(p.connected());
  p.send({reinterpret_cast<const char*>(bytes.data()), bytes.size()});
  p.shutdown_send();
  // Wait (bounded) for the service to close its side.
  p.read_all();
}

namespace {

/// GET `url` with libcurl (10 s timeout): a bearer token if given, the server verified
/// against `ca` if given (HTTPS). status 0 = no HTTP answer (`error` says why).
http_result curl_get(const std::string& url, const std::string& token, const std::string& ca,
                     std::string* error) {
  http_result r;
  CURL* curl = curl_easy_init();
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  if (!ca.empty())
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca.c_str());
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char* p, std::size_t size, std::size_t n, void* out) {
        static_cast<std::string*>(out)->append(p, size * n);
        return size * n;
      });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  curl_slist* headers = nullptr;
  if (!token.empty()) {
    headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  }
  if (curl_easy_perform(curl) == CURLE_OK)
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  else if (error != nullptr)
    *error = errbuf;
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return r;
}

} // namespace

http_result http_get(std::uint16_t port, const std::string& path, const std::string& token) {
  return curl_get("http://127.0.0.1:" + std::to_string(port) + path, token, "", nullptr);
}

http_result https_get(std::uint16_t port, const std::string& path, const std::string& ca,
                      std::string* error) {
  return curl_get("https://127.0.0.1:" + std::to_string(port) + path, "", ca, error);
}

} // namespace fa::test
