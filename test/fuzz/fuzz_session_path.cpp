// libFuzzer entry point for the whole session path, without sockets (issue 16): an
// exporter's messages go through a real agent_session (template store, record walk,
// template plans), a real enricher (with a small Pod snapshot) and a real
// exporter_session, whose connection keeps what it is asked to write; that output is
// then decoded as a collector would (template store, record walk, JSON formatter). The
// enrichment and the output encoder exist only inside their actors, so the actors run
// on CAF's deterministic test coordinator, as the actor tests do (STYLE, Tests).
//
// Input: one byte of options, then what the exporter sends: IPFIX messages back to back.
// They reach the session as a reader would hand them over: over TCP up to four whole
// messages per chunk, over UDP one; the rest after a length that cannot be right is a
// chunk of its own.
//   bit 0: UDP template rules for the input (RFC 7011 8.4), else TCP's (RFC 7011 8)
//   bit 1: the output goes over UDP (one message per datagram, no withdrawals)
//   bit 2: pod_labels        bit 3: fill_k8s_names
//   bit 4: provenance off    bit 5: labels_for_foreign_records
//   bit 6: an IPv6 exporter  bit 7: small output messages (512 octets)
//
// Invariants (a failure traps): the output parses as IPFIX, every data set follows its
// template, every record walks and formats as valid JSON; no message exceeds the size;
// sequence numbers count the data records before them (RFC 7011 3.1); over TCP a
// template id is withdrawn before it is defined anew (RFC 7011 8); and nothing is lost
// silently: records in = records out + the enricher's counted drops, and every record
// out is written and decodes.

#include "actors/agent_session.hpp"
#include "actors/enricher.hpp"
#include "actors/exporter_session.hpp"
#include "actors/output_template_table.hpp"
#include "ipfix/message.hpp"
#include "ipfix/record.hpp"
#include "ipfix/record_json.hpp"
#include "ipfix/template.hpp"
#include "ipfix/template_store.hpp"
#include "labels/pod_index.hpp"
#include "messages/type_ids.hpp"
#include "monitoring/log.hpp"
#include "net/client.hpp"

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace fa;

/// An invariant of the session path; a failure is a bug the fuzzer must report.
void check(bool ok) {
  if (!ok)
    __builtin_trap();
}

constexpr std::uint32_t output_odid = 7;

/// A few Pods whose addresses the seeds use (test/fuzz/fuzz_session_corpus.cpp): the
/// codec seeds' 10.0.0.x, the load generator's 10.244.<node>.<host> and
/// fd00:10:244:<node>::<host>, and one deleted Pod that still resolves.
labels::pod_snapshot_ptr make_pods() {
  labels::pod_index index;
  auto add = [&](const char* uid, const char* ns, const char* name, const char* node,
                 std::vector<std::string> ips, labels::label_list l) {
    labels::pod_info p;
    p.uid = uid;
    p.pod_namespace = ns;
    p.name = name;
    p.node_name = node;
    p.labels = std::move(l);
    p.creation = 1'600'000'000;
    p.ips = std::move(ips);
    p.phase = "Running";
    index.upsert(p, 1'700'000'000);
  };
  add("u1", "default", "web-0", "node-a", {"10.0.0.1", "fd00::1"}, {{"app", "web"}});
  add("u2", "default", "db-0", "node-b", {"10.0.0.2", "10.0.1.1"}, {{"app", "db"}, {"tier", "1"}});
  add("u3", "kube-system", "dns-0", "node-a", {"10.244.1.2", "fd00:10:244:1::2"}, {});
  add("u4", "team-a", std::string(200, 'p').c_str(), "node-c", {"10.244.0.2", "10.0.0.3"},
      {{"app", std::string(300, 'v')}});
  add("u5", "default", "old-0", "node-b", {"10.0.0.4"}, {{"app", "old"}});
  index.remove("u5", 1'700'000'050);
  return index.snapshot();
}

caf::actor_system_config& testing_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  cfg.add_message_types<caf::id_block::fa>();
  return cfg;
}

/// What lives across inputs: the actor system on the deterministic scheduler and the
/// Pod snapshot. Every input spawns its own actors and output template table.
struct world {
  world()
      : sys(testing_config(cfg))
      , sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler()))
      , pods(make_pods()) {
    // Bad input is logged rate-limited per session, and every input is a new session:
    // the lines would cost more than the path under test.
    monitoring::set_log_level(monitoring::log_level::error);
  }
  asio::io_context io; ///< never run: the exporter's connection is a capture_client
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  labels::pod_snapshot_ptr pods;
};

/// What the exporter wrote: a byte stream (TCP) or datagrams (UDP).
struct capture {
  std::vector<std::uint8_t> stream;
  std::vector<std::vector<std::uint8_t>> datagrams;
};

/// The exporter's downstream connection, in place of a socket: connects at once and
/// keeps every write as the collector would receive it.
class capture_client final : public net::client {
 public:
  capture_client(net::client_handlers h, capture& out)
      : h_(std::move(h))
      , out_(out) {}

  void connect(std::uint64_t gen) override { h_.connected(gen); }

  void write(std::uint64_t gen, std::shared_ptr<net::write_job> job) override {
    auto append = [](std::vector<std::uint8_t>& to, const asio::const_buffer& b) {
      const auto* p = static_cast<const std::uint8_t*>(b.data());
      to.insert(to.end(), p, p + b.size());
    };
    if (job->datagrams.empty()) {
      for (const auto& b : job->buffers)
        append(out_.stream, b);
    } else {
      std::size_t i = 0;
      for (auto n : job->datagrams) {
        auto& d = out_.datagrams.emplace_back();
        for (std::uint32_t k = 0; k < n; ++k) {
          check(i < job->buffers.size());
          append(d, job->buffers[i++]);
        }
      }
      check(i == job->buffers.size());
    }
    // The capture is the collector: what is written is read at once, none unacknowledged.
    h_.written(gen, job->size(), 0);
  }

  void shutdown(std::uint64_t) override {}
  void stop() override {}

 private:
  net::client_handlers h_;
  capture& out_;
};

template <class State, class Handle>
State& state_of(const Handle& hdl) {
  auto* ptr = caf::actor_cast<caf::abstract_actor*>(hdl);
  using impl = typename Handle::template stateful_base<State>;
  return dynamic_cast<impl&>(*ptr).state;
}

messages::session_info_ptr exporter(bool v6, bool udp) {
  auto info = std::make_shared<messages::session_info>();
  info->id = 1;
  info->proto = udp ? messages::transport::udp : messages::transport::tcp;
  if (v6) {
    info->peer_v6 = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42};
    info->peer_text = "[fd00::42]:4739";
  } else {
    info->peer_v6 = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 172, 18, 0, 3};
    info->peer_is_v4 = true;
    info->peer_text = "172.18.0.3:4739";
  }
  info->peer_port = 4739;
  return info;
}

messages::chunk_ptr make_chunk(const std::uint8_t* data, std::size_t size) {
  auto c = std::make_shared<messages::chunk>(size, messages::session_budgets{});
  if (size > 0)
    std::memcpy(c->data(), data, size);
  c->set_size(size);
  return c;
}

/// Decodes the output as a collector would; returns the data records it holds.
std::uint64_t decode(const capture& out, bool udp, std::size_t max_message_size) {
  ipfix::template_store_config tc;
  tc.transport = udp ? ipfix::transport_kind::udp : ipfix::transport_kind::tcp;
  tc.max_templates = 65535;
  ipfix::template_store store{tc};
  const auto now = ipfix::clock_type::time_point{};
  std::uint32_t sequence = 0;
  std::uint64_t records = 0;
  std::string json;
  auto on_message = [&](const ipfix::message_view& msg) {
    const auto& h = msg.header();
    check(msg.bytes().size() <= max_message_size);
    check(h.observation_domain_id == output_odid);
    check(h.sequence == sequence); // RFC 7011 3.1: data records sent before this message
    std::uint32_t n = 0;
    msg.for_each_set([&](const ipfix::set_view& set) {
      if (set.kind() != ipfix::set_kind::data_set) {
        auto err = ipfix::parse_template_set(set.id, set.body, [&](ipfix::template_record&& rec) {
          using ipfix::template_event;
          auto ev = store.apply(h.observation_domain_id, set.id, rec, now);
          check(ev == template_event::added || ev == template_event::refreshed ||
                ev == template_event::replaced || ev == template_event::withdrawn);
          check(!(udp && rec.withdrawal)); // RFC 7011 8.4: never over UDP
        });
        check(err == ipfix::parse_error::none);
        return;
      }
      const auto* def = store.find(h.observation_domain_id, set.id, now);
      check(def != nullptr); // RFC 7011 8: the template comes first
      ipfix::record_layout layout{**def};
      ipfix::record_cursor cursor{set.body, layout};
      ipfix::bytes_view rec;
      while (cursor.next(rec)) {
        ++n;
        json.clear();
        ipfix::append_record_json(json, **def, layout, rec);
        check(nlohmann::json::accept(json));
      }
      // The encoder writes whole records and no padding.
      check(cursor.error() == ipfix::parse_error::none && cursor.consumed() == set.body.size());
    });
    sequence += n;
    records += n;
  };
  if (udp) {
    check(out.stream.empty());
    for (const auto& d : out.datagrams) {
      ipfix::message_view msg;
      check(ipfix::message_view::parse_datagram(d, msg) == ipfix::parse_error::none);
      on_message(msg);
    }
    return records;
  }
  check(out.datagrams.empty());
  const ipfix::bytes_view stream{out.stream};
  for (std::size_t pos = 0; pos < stream.size();) {
    ipfix::message_view msg;
    check(ipfix::message_view::parse(stream.subspan(pos), msg) == ipfix::parse_error::none);
    on_message(msg);
    pos += msg.bytes().size();
  }
  return records;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static world& w = *new world; // never destroyed: actors of the last input may linger
  if (size < 1)
    return 0;
  const std::uint8_t opts = data[0];
  const bool udp_in = (opts & 1) != 0;
  const bool udp_out = (opts & 2) != 0;
  actors::enrichment_options eo;
  eo.pod_labels = (opts & 4) != 0;
  eo.fill_k8s_names = (opts & 8) != 0;
  eo.provenance = (opts & 16) == 0;
  eo.labels_for_foreign_records = (opts & 32) != 0;
  eo.cluster_id = "5f1a2b3c-0000-4000-8000-000000000001";
  const std::size_t max_message_size = (opts & 128) ? 512 : udp_out ? 1472 : 65535;

  capture out;
  actors::exporter_session_config xc;
  xc.name = "fuzz";
  xc.url = "ipfix+tcp://collector:4739";
  xc.host = "collector";
  xc.io = &w.io;
  xc.observation_domain_id = output_odid;
  xc.max_message_size = max_message_size;
  xc.datagram = udp_out;
  xc.make_client = [&out](net::client_handlers h) {
    return std::make_shared<capture_client>(std::move(h), out);
  };
  auto x = w.sys.spawn(actors::exporter_session, std::move(xc));
  actors::enricher_config ec;
  ec.destinations = {x};
  ec.enrichment = eo;
  // As the pipeline sizes it (app/pipeline.cpp): every set fits a message.
  ec.max_set_body = max_message_size - ipfix::message_header_size - ipfix::set_header_size;
  auto e = w.sys.spawn(actors::enricher, std::move(ec));
  caf::anon_send(e, messages::label_snapshot{w.pods});
  actors::agent_session_config ac;
  ac.info = exporter((opts & 64) != 0, udp_in);
  ac.enricher = e;
  ac.table = std::make_shared<actors::output_template_table>();
  ac.enrichment = eo;
  ac.templates.transport = udp_in ? ipfix::transport_kind::udp : ipfix::transport_kind::tcp;
  auto s = w.sys.spawn(actors::agent_session, std::move(ac));
  w.sched.run();

  // What a reader hands over: whole messages, by their length fields.
  const std::size_t per_chunk = udp_in ? 1 : 4;
  for (std::size_t pos = 1; pos < size;) {
    std::size_t end = pos;
    for (std::size_t k = 0; k < per_chunk && end < size; ++k) {
      const std::size_t len =
          size - end >= ipfix::message_header_size ? ipfix::read_u16(data + end + 2) : 0;
      if (len < ipfix::message_header_size || len > size - end) {
        end = size; // a reader would close here; the session sees the rest once
        break;
      }
      end += len;
    }
    caf::anon_send(s, messages::frames{make_chunk(data + pos, end - pos)});
    w.sched.run();
    pos = end;
  }
  // The exporter sends a partial message when its flush timer fires.
  for (int i = 0; i < 1000 && w.sched.trigger_timeout(); ++i)
    w.sched.run();
  check(w.sched.clock().schedule().empty());

  const auto& in = state_of<actors::agent_session_state>(s).status;
  const auto& enriched = state_of<actors::enricher_state>(e).status;
  const auto& sent = state_of<actors::exporter_session_state>(x).status;
  check(enriched.records_in == in.records);
  check(enriched.records_in == enriched.records_out + enriched.dropped_invalid_addresses +
                                   enriched.dropped_no_start_time + enriched.dropped_too_large);
  check(sent.dropped_records == 0 && sent.queued_records == 0);
  check(sent.sent_records == enriched.records_out);
  check(decode(out, udp_out, max_message_size) == sent.sent_records);

  caf::anon_send(s, caf::close_atom_v, std::string{"eof"});
  caf::anon_send_exit(e, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(x, caf::exit_reason::user_shutdown);
  w.sched.run();
  return 0;
}
