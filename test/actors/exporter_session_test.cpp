// exporter_session on the deterministic scheduler with a real io_context that this
// thread runs: loopback sockets only, every wait bounded by a deadline. Actor time (the
// flush and backoff timers) is CAF's test clock, so backoff is observed exactly.

#include "actors/exporter_session.hpp"

#include "test/actors/test_util.hpp"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <map>
#include <set>
#include <thread>

namespace fa::actors::test {
namespace {

using namespace std::chrono_literals;
using asio::ip::tcp;

/// What the collector side read: record values (the payloads' counters) in order, and
/// per message its sequence number and whether it announced a template.
struct received {
  std::vector<std::uint64_t> values;
  std::vector<std::uint32_t> sequences;
  std::vector<bool> templates;
};

/// Declared before the actor system so that it outlives every exporter's connection.
struct io_holder {
  asio::io_context io;
};

class exporter_test : public io_holder, public actor_fixture {
 protected:
  exporter_test() {
    // A port that refuses connections until `listen()`: bound, not listening.
    port_owner.open(tcp::v4());
    port_owner.bind({asio::ip::address_v4::loopback(), 0});
    port = port_owner.local_endpoint().port();
  }

  ~exporter_test() override {
    for (auto& x : spawned)
      caf::anon_send_exit(x, caf::exit_reason::user_shutdown);
    run();
    spawned.clear();
    run();
    asio::error_code ec;
    peer.close(ec);
    port_owner.close(ec);
    if (io.stopped())
      io.restart();
    io.poll();
  }

  exporter_session_config config(on_full_policy policy = on_full_policy::block) {
    exporter_session_config c;
    c.name = "test";
    c.url = "ipfix+tcp://127.0.0.1:" + std::to_string(port);
    c.host = "127.0.0.1";
    c.port = port;
    c.observation_domain_id = 0xabcdef;
    c.max_message_size = 512;
    c.flush_interval = 10ms;
    c.on_full = policy;
    c.reconnect_min = 100ms;
    c.reconnect_max = 400ms;
    c.io = &io;
    return c;
  }

  exporter_session_actor spawn_exporter(exporter_session_config c) {
    auto x = sys.spawn(exporter_session, std::move(c));
    spawned.push_back(x);
    run();
    return x;
  }

  exporter_session_state& state(const exporter_session_actor& x) {
    return state_of<exporter_session_state>(x);
  }

  const messages::destination_status& status(const exporter_session_actor& x) {
    return state(x).status;
  }

  /// Runs the io_context on this thread until `pred()` holds; false after 10 s.
  template <class Pred>
  bool pump_until(Pred pred) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!pred()) {
      if (std::chrono::steady_clock::now() >= deadline)
        return false;
      if (io.stopped())
        io.restart();
      io.run_one_for(20ms);
    }
    return true;
  }

  /// Waits for the next callback of the connection and delivers it to the actor.
  bool next_event() {
    if (!pump_until([&] { return sched.has_job(); }))
      return false;
    run();
    return true;
  }

  /// An exporter whose connection is up and accepted.
  exporter_session_actor spawn_connected(exporter_session_config c) {
    listen_and_accept();
    auto x = spawn_exporter(std::move(c));
    EXPECT_TRUE(next_event());
    EXPECT_EQ(status(x).state, "connected");
    EXPECT_TRUE(pump_until([&] { return accepted; }));
    return x;
  }

  void listen_and_accept() {
    port_owner.listen();
    accept_next();
  }

  void accept_next() {
    accepted = false;
    port_owner.async_accept([this](asio::error_code ec, tcp::socket s) {
      if (!ec) {
        peer = std::move(s);
        accepted = true;
      }
    });
  }

  /// Reads one IPFIX message from the accepted connection (bounded).
  bytes read_message() {
    bytes hdr(ipfix::message_header_size);
    if (!pump_until([&] {
          asio::error_code ec;
          return peer.available(ec) >= hdr.size();
        })) {
      ADD_FAILURE() << "no message arrived";
      return {};
    }
    asio::read(peer, asio::buffer(hdr));
    auto len = ipfix::read_u16(hdr.data() + 2);
    bytes msg = hdr;
    msg.resize(len);
    if (!pump_until([&] {
          asio::error_code ec;
          return peer.available(ec) >= len - hdr.size();
        })) {
      ADD_FAILURE() << "message cut short";
      return {};
    }
    asio::read(peer, asio::buffer(msg.data() + hdr.size(), len - hdr.size()));
    return msg;
  }

  /// A batch of one set per entry of `records_per_set`, 8-octet records of a one-field
  /// template, holding a credit of 10 octets on `budget` when given.
  messages::enriched_batch payload(std::vector<std::uint32_t> records_per_set,
                                   messages::byte_budget_ptr budget = nullptr) {
    auto p = std::make_shared<messages::enriched_payload>();
    for (auto n : records_per_set) {
      messages::enriched_set s;
      s.tmpl = tmpl;
      s.offset = static_cast<std::uint32_t>(p->bytes.size());
      for (std::uint32_t i = 0; i < n; ++i) {
        std::uint8_t b[8];
        ipfix::write_u64(b, ++counter);
        p->bytes.insert(p->bytes.end(), b, b + 8);
      }
      s.length = n * 8;
      s.records = n;
      p->sets.push_back(s);
      p->records += n;
    }
    messages::enriched_batch b{std::move(p), nullptr};
    if (budget)
      b.hold =
          std::make_shared<const messages::credit>(messages::session_budgets{budget, nullptr}, 10);
    return b;
  }

  void send(const exporter_session_actor& x, messages::enriched_batch b) {
    caf::anon_send(x, std::move(b));
    run();
  }

  /// Flushes and delivers the connection's callbacks until the peer has read `records`
  /// records, or nothing more comes (bounded).
  received read_records(std::size_t records);

  /// Everything queued is written and confirmed by the connection.
  bool idle(const exporter_session_actor& x) {
    return !state(x).writing && status(x).queued_records == 0;
  }

  /// Fires flush timers and delivers the connection's callbacks until `pred()` holds.
  template <class Pred>
  bool flush_until(Pred pred) {
    for (int i = 0; i < 1000 && !pred(); ++i) {
      if (sched.has_job()) {
        run();
      } else if (sched.has_pending_timeout()) {
        sched.trigger_timeout();
        run();
      } else if (!pump_until([&] { return sched.has_job(); })) {
        return false;
      }
    }
    return pred();
  }

  tcp::acceptor port_owner{io};
  tcp::socket peer{io};
  bool accepted = false;
  std::uint16_t port = 0;
  std::shared_ptr<output_template_table> table = std::make_shared<output_template_table>();
  messages::output_template_ptr tmpl = table->intern(make_def(0, {iana(86, 8)}));
  std::uint64_t counter = 0;
  std::vector<exporter_session_actor> spawned;
};

struct parsed_set {
  std::uint16_t id;
  bytes body;
};

struct parsed_message {
  ipfix::message_header header;
  std::vector<parsed_set> sets;
};

parsed_message parse(const bytes& m) {
  parsed_message out;
  ipfix::message_view view;
  EXPECT_EQ(ipfix::message_view::parse(m, view), ipfix::parse_error::none);
  out.header = view.header();
  view.for_each_set([&](const ipfix::set_view& s) {
    out.sets.push_back({s.id, bytes(s.body.begin(), s.body.end())});
  });
  return out;
}

received exporter_test::read_records(std::size_t records) {
  received out;
  while (out.values.size() < records) {
    asio::error_code ec;
    if (!flush_until([&] { return peer.available(ec) >= ipfix::message_header_size; }))
      break;
    auto m = read_message();
    if (m.empty())
      break;
    auto pm = parse(m);
    out.sequences.push_back(pm.header.sequence);
    out.templates.push_back(!pm.sets.empty() && pm.sets[0].id == ipfix::template_set_id);
    for (auto& s : pm.sets)
      if (s.id != ipfix::template_set_id)
        for (std::size_t i = 0; i + 8 <= s.body.size(); i += 8)
          out.values.push_back(ipfix::read_u64(s.body.data() + i));
  }
  return out;
}

TEST_F(exporter_test, reconnect_backoff_doubles_up_to_the_maximum) {
  auto x = spawn_exporter(config());
  EXPECT_EQ(status(x).state, "connecting");
  EXPECT_EQ(status(x).reconnects, 0u);
  const std::chrono::milliseconds want[] = {100ms, 200ms, 400ms, 400ms, 400ms};
  std::uint64_t n = 0;
  for (auto w : want) {
    ASSERT_TRUE(next_event()) << "no connection failure reported";
    ++n;
    EXPECT_EQ(status(x).reconnects, n);
    EXPECT_EQ(status(x).state, "backoff");
    EXPECT_EQ(status(x).connections, 0u);
    // The only pending timer is the reconnect, exactly one backoff ahead.
    EXPECT_EQ(sched.clock().schedule().size(), 1u);
    EXPECT_EQ(next_timeout_in(), w) << "attempt " << n;
    // Nothing happens before the timer fires.
    EXPECT_FALSE(sched.has_job());
    ASSERT_TRUE(sched.trigger_timeout());
    run();
    EXPECT_EQ(status(x).state, "connecting");
  }
  // Once a connection succeeds, the next failure backs off from the minimum again.
  listen_and_accept();
  ASSERT_TRUE(next_event());
  EXPECT_EQ(status(x).state, "connected");
  EXPECT_EQ(status(x).connections, 1u);
  ASSERT_TRUE(pump_until([&] { return accepted; }));
  peer.close();
  ASSERT_TRUE(next_event());
  EXPECT_EQ(status(x).state, "backoff");
  EXPECT_EQ(status(x).reconnects, n + 1);
  EXPECT_EQ(next_timeout_in(), 100ms);
}

TEST_F(exporter_test, drop_policy_bounds_the_queue_and_counts_dropped_records) {
  auto c = config(on_full_policy::drop);
  c.queue_size = 96;
  auto x = spawn_exporter(c);
  auto budget = std::make_shared<messages::byte_budget>(1000);
  // Never connected (the io_context is not run): everything queues or drops.
  struct step {
    std::vector<std::uint32_t> sets;
    std::uint64_t dropped, queued;
  };
  const std::vector<step> steps = {
      {{5}, 0, 40},    // 40
      {{2, 3}, 0, 80}, // 80
      {{5}, 5, 80},    // 120 > 96: dropped
      {{2}, 5, 96},    // 96: exactly full
      {{1}, 6, 96},    // 104 > 96: dropped
      {{13}, 19, 96},  // 200: dropped
  };
  for (auto& s : steps) {
    send(x, payload(s.sets, budget));
    EXPECT_EQ(status(x).dropped_records, s.dropped);
    EXPECT_EQ(status(x).queued_bytes, s.queued);
    EXPECT_LE(status(x).queued_bytes, c.queue_size);
  }
  EXPECT_EQ(status(x).queued_batches, 3u);
  EXPECT_EQ(status(x).sent_records, 0u);
  // Dropped batches gave their credit back; queued ones keep theirs (3 x 10 octets).
  EXPECT_EQ(budget->available(), 1000 - 30);
}

TEST_F(exporter_test, block_policy_drops_nothing_and_keeps_the_credits) {
  auto c = config(on_full_policy::block);
  c.queue_size = 100;
  auto x = spawn_exporter(c);
  auto budget = std::make_shared<messages::byte_budget>(1000);
  std::uint64_t bytes_total = 0;
  for (std::uint32_t n : {5u, 5u, 5u, 2u, 1u, 13u}) {
    send(x, payload({n}, budget));
    bytes_total += 8 * n;
  }
  EXPECT_EQ(status(x).dropped_records, 0u);
  EXPECT_EQ(status(x).queued_bytes, bytes_total);
  EXPECT_EQ(status(x).queued_batches, 6u);
  // Upstream stays paused: every credit is still spent.
  EXPECT_EQ(budget->available(), 1000 - 60);
}

TEST_F(exporter_test, writes_templates_first_with_own_sequence_numbers_and_odid) {
  auto c = config();
  c.reconnect_min = 50ms;
  auto x = spawn_connected(c);
  auto budget = std::make_shared<messages::byte_budget>(1000);

  // A small batch waits for the flush interval (CAF's test clock).
  send(x, payload({2}, budget));
  EXPECT_EQ(next_timeout_in(), 10ms);
  ASSERT_TRUE(sched.trigger_timeout());
  run();
  ASSERT_TRUE(next_event()); // written
  EXPECT_EQ(status(x).sent_records, 2u);
  EXPECT_EQ(status(x).queued_bytes, 0u);
  EXPECT_EQ(budget->available(), 1000); // written: the credit is back
  auto m1 = parse(read_message());
  EXPECT_EQ(m1.header.version, 10);
  EXPECT_EQ(m1.header.sequence, 0u);
  EXPECT_EQ(m1.header.observation_domain_id, 0xabcdefu);
  ASSERT_EQ(m1.sets.size(), 2u);
  EXPECT_EQ(m1.sets[0].id, ipfix::template_set_id);
  bytes want_template;
  ipfix::encode_template_record(tmpl->def, want_template);
  EXPECT_EQ(m1.sets[0].body, want_template);
  EXPECT_EQ(m1.sets[1].id, tmpl->id);
  EXPECT_EQ(m1.sets[1].body.size(), 16u);
  EXPECT_EQ(ipfix::read_u64(m1.sets[1].body.data()), 1u);

  // 3 sets of 25 records (200 octets each) with max_message_size 512: two full sets go
  // out at once, the last one at the next flush. No template again.
  send(x, payload({25, 25, 25}));
  ASSERT_TRUE(next_event()); // written
  auto m2 = parse(read_message());
  EXPECT_EQ(m2.header.sequence, 2u);
  EXPECT_LE(m2.header.length, 512u);
  ASSERT_EQ(m2.sets.size(), 2u);
  EXPECT_EQ(m2.sets[0].id, tmpl->id);
  EXPECT_EQ(m2.sets[1].id, tmpl->id);
  EXPECT_EQ(ipfix::read_u64(m2.sets[0].body.data()), 3u);
  EXPECT_EQ(status(x).sent_records, 52u);
  ASSERT_TRUE(sched.trigger_timeout()); // flush
  run();
  ASSERT_TRUE(next_event());
  auto m3 = parse(read_message());
  EXPECT_EQ(m3.header.sequence, 52u);
  ASSERT_EQ(m3.sets.size(), 1u);
  EXPECT_EQ(ipfix::read_u64(m3.sets[0].body.data()), 53u);
  EXPECT_EQ(status(x).sent_records, 77u);
  EXPECT_EQ(status(x).sent_messages, 3u);
  EXPECT_EQ(status(x).templates_announced, 1u);

  // A new connection is a new transport session: templates again, sequence from 0.
  accept_next();
  peer.close();
  ASSERT_TRUE(next_event()); // disconnected
  EXPECT_EQ(status(x).state, "backoff");
  EXPECT_EQ(next_timeout_in(), 50ms);
  ASSERT_TRUE(sched.trigger_timeout());
  run();
  ASSERT_TRUE(next_event()); // connected
  EXPECT_EQ(status(x).connections, 2u);
  ASSERT_TRUE(pump_until([&] { return accepted; }));
  // A drain forces the partial message out and is answered once it is written.
  send(x, payload({1}));
  caf::scoped_actor self{sys, true};
  auto drained = self->request(x, caf::infinite, drain_atom_v);
  run();
  ASSERT_TRUE(next_event()); // written
  bool answered = false;
  drained.receive([&](bool ok) { answered = ok; },
                  [&](caf::error& err) { ADD_FAILURE() << sys.render(err); });
  EXPECT_TRUE(answered);
  auto m4 = parse(read_message());
  EXPECT_EQ(m4.header.sequence, 0u);
  ASSERT_EQ(m4.sets.size(), 2u);
  EXPECT_EQ(m4.sets[0].id, ipfix::template_set_id);
  EXPECT_EQ(ipfix::read_u64(m4.sets[1].body.data()), 78u);
  EXPECT_EQ(status(x).templates_announced, 2u);
}

// Issue 16 defect 2: a destination does not keep the ids it announced reserved (they
// would never come back while the connection lasts). Once nothing else uses a template
// its id is free; when the id returns with another definition, it is withdrawn before
// it is defined again (RFC 7011 8).
//
// What the collector has not acknowledged (and `replay_window` octets behind it) keeps
// its sets, and so their templates and ids, to send them again after a crash: the
// window is 0 here and the collector acknowledges at once (TCP_QUICKACK), so the set is
// confirmed read as soon as it is written.
TEST_F(exporter_test, an_announced_id_is_not_pinned_and_is_withdrawn_before_its_reuse) {
  table = std::make_shared<output_template_table>(256); // one id: it must come back
  tmpl = table->intern(make_def(0, {iana(86, 8)}));
  listen_and_accept();
  auto c = config();
  c.replay_window = 0;
  const int one = 1;
  auto x = spawn_exporter(c);
  ASSERT_TRUE(next_event());
  ASSERT_TRUE(pump_until([&] { return accepted; }));
  ASSERT_EQ(::setsockopt(peer.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one), 0);
  send(x, payload({2}));
  ASSERT_TRUE(sched.trigger_timeout()); // flush
  run();
  ASSERT_TRUE(next_event()); // written
  auto m1 = parse(read_message());
  ASSERT_EQ(m1.sets.size(), 2u);
  EXPECT_EQ(m1.sets[0].id, ipfix::template_set_id);
  const auto old_id = tmpl->id;
  tmpl.reset(); // the test's own reference; the written batch is gone
  EXPECT_EQ(table->size(), 0u) << "the destination pins the id it announced";
  tmpl = table->intern(make_def(0, {iana(1, 8)}));
  ASSERT_EQ(tmpl->id, old_id); // the freed id again, with another definition
  send(x, payload({1}));
  ASSERT_TRUE(sched.trigger_timeout());
  run();
  ASSERT_TRUE(next_event());
  auto m2 = parse(read_message());
  ASSERT_EQ(m2.sets.size(), 2u);
  EXPECT_EQ(m2.sets[0].id, ipfix::template_set_id);
  bytes want(4);
  ipfix::write_u16(want.data(), old_id); // withdrawal: field count 0 (RFC 7011 8.1)
  ipfix::write_u16(want.data() + 2, 0);
  ipfix::encode_template_record(tmpl->def, want);
  EXPECT_EQ(m2.sets[0].body, want);
  EXPECT_EQ(m2.sets[1].id, old_id);
}

// A set of the largest body the enricher makes (max_message_size - 20) does not fit one
// message together with its template announcement: the template goes in a message of its
// own, and no message exceeds max_message_size.
TEST_F(exporter_test, a_full_set_with_its_template_fits_max_message_size) {
  listen_and_accept();
  auto x = spawn_exporter(config());
  ASSERT_TRUE(next_event());
  ASSERT_TRUE(pump_until([&] { return accepted; }));
  send(x, payload({61})); // 488 octets: a 492-octet set, as the enricher allows for 512
  if (sched.has_pending_timeout()) {
    sched.trigger_timeout();
    run();
  }
  std::uint64_t records = 0;
  while (records < 61) {
    // One write may carry several messages: read what has arrived before waiting.
    asio::error_code ec;
    if (!sched.has_job() && peer.available(ec) < ipfix::message_header_size && !next_event())
      break;
    run();
    auto m = read_message();
    ASSERT_FALSE(m.empty());
    auto pm = parse(m);
    EXPECT_LE(pm.header.length, 512u);
    for (auto& s : pm.sets)
      if (s.id == tmpl->id)
        records += s.body.size() / 8;
    if (sched.has_pending_timeout()) {
      sched.trigger_timeout();
      run();
    }
  }
  EXPECT_EQ(records, 61u);
}

// A collector that resets its connection (it crashed, or was killed with data unread)
// loses whatever its socket held, although every write had completed: all of it is
// queued again and sent on the next connection, after the templates, with the new
// transport session's sequence numbers (RFC 7011 10.4.1), and counted as replayed.
TEST_F(exporter_test, a_reset_connection_sends_again_what_the_collector_may_not_have_read) {
  auto c = config();
  c.reconnect_min = 50ms;
  auto x = spawn_connected(c);
  send(x, payload({10, 10, 10, 10}));
  ASSERT_TRUE(flush_until([&] { return status(x).sent_records == 40; }));
  EXPECT_EQ(status(x).queued_records, 0u);
  // The collector read nothing and resets: its socket's data is gone.
  accept_next();
  peer.set_option(tcp::socket::linger(true, 0));
  peer.close();
  ASSERT_TRUE(next_event()); // disconnected
  EXPECT_EQ(status(x).state, "backoff");
  EXPECT_EQ(status(x).replayed_records, 40u);
  EXPECT_EQ(status(x).queued_records, 40u);
  EXPECT_EQ(status(x).queued_bytes, 320u);
  ASSERT_TRUE(sched.trigger_timeout()); // reconnect
  run();
  ASSERT_TRUE(next_event()); // connected
  ASSERT_TRUE(pump_until([&] { return accepted; }));
  auto got = read_records(40);
  ASSERT_EQ(got.values.size(), 40u);
  for (std::size_t i = 0; i < 40; ++i)
    EXPECT_EQ(got.values[i], i + 1) << "in order, none missing, none twice";
  EXPECT_EQ(got.sequences.front(), 0u) << "a new transport session counts from 0";
  EXPECT_TRUE(got.templates.front()) << "templates are announced again first";
  ASSERT_TRUE(flush_until([&] { return idle(x); }));
  EXPECT_EQ(status(x).sent_records, 80u) << "a record sent again counts again";
}

// After a reset, only sets within `replay_window` octets behind what the collector's TCP
// acknowledged are sent again: older ones were read (a collector holds at most its
// socket's buffer unread). A clean close sends nothing again that was acknowledged.
TEST_F(exporter_test, only_the_replay_window_behind_the_acknowledged_octets_is_sent_again) {
  auto c = config();
  c.reconnect_min = 50ms;
  c.replay_window = 600;
  auto x = spawn_connected(c);
  // 20 sets of 10 records (84-octet sets): messages of 5 sets, ending at octets 448
  // (with the template), 884, 1320 and 1756.
  send(x, payload(std::vector<std::uint32_t>(20, 10)));
  auto first = read_records(200);
  ASSERT_EQ(first.values.size(), 200u);
  ASSERT_TRUE(flush_until([&] { return idle(x); }));
  // The collector read it all, so its TCP acknowledged it all before the next write
  // (one message of 100 octets, ending at 1856) looks at the kernel's count.
  send(x, payload({10}));
  auto second = read_records(10);
  ASSERT_EQ(second.values.size(), 10u);
  ASSERT_TRUE(flush_until([&] { return idle(x); }));
  accept_next();
  peer.set_option(tcp::socket::linger(true, 0));
  peer.close();
  ASSERT_TRUE(next_event()); // disconnected
  // Acknowledged: 1756 or 1856 octets; the window reaches back to 1156 or 1256, so the
  // messages ending at 1320, 1756 and 1856 are sent again: 11 sets.
  EXPECT_EQ(status(x).replayed_records, 110u);
  ASSERT_TRUE(sched.trigger_timeout());
  run();
  ASSERT_TRUE(next_event()); // connected
  ASSERT_TRUE(pump_until([&] { return accepted; }));
  auto again = read_records(110);
  ASSERT_EQ(again.values.size(), 110u);
  EXPECT_EQ(again.values.front(), 101u);
  EXPECT_EQ(again.values.back(), 210u);
  ASSERT_TRUE(flush_until([&] { return idle(x); }));
  // A clean close (the collector read everything, then closed): nothing is sent again.
  accept_next();
  peer.close();
  ASSERT_TRUE(next_event()); // disconnected
  EXPECT_EQ(status(x).replayed_records, 110u);
  EXPECT_EQ(status(x).queued_records, 0u);
}

TEST_F(exporter_test, a_bad_config_stops_the_actor) {
  auto c = config();
  c.max_message_size = 100;
  auto x = sys.spawn(exporter_session, c);
  run();
  auto* ptr = caf::actor_cast<caf::abstract_actor*>(x);
  ASSERT_NE(ptr, nullptr);
  EXPECT_TRUE(ptr->getf(caf::abstract_actor::is_terminated_flag));
}

// -- UDP (RFC 7011 10.3) -----------------------------------------------------------------

/// What a strict UDP collector sees in a run of datagrams.
struct datagram_scan {
  std::vector<std::size_t> sizes;
  std::vector<bool> has_template;        ///< per datagram: announces a template
  std::vector<std::uint64_t> first_data; ///< per datagram: first record value (0 = none)
  std::uint64_t records = 0;
  std::uint64_t withdrawals = 0;
  std::uint64_t undecodable_sets = 0; ///< data sets whose template was not announced before
  std::uint64_t bad_datagrams = 0;    ///< not exactly one well-formed message
  std::vector<std::uint32_t> sequences;
};

/// Checks each datagram as a UDP collector must (RFC 7011 10.3.3: exactly one message
/// per datagram) and that every data set's template came in the same or an earlier
/// datagram (RFC 7011 8.4).
datagram_scan scan(const std::vector<bytes>& datagrams,
                   std::map<std::uint16_t, std::size_t> record_sizes) {
  datagram_scan out;
  std::set<std::uint16_t> known;
  for (auto& d : datagrams) {
    out.sizes.push_back(d.size());
    ipfix::message_view view;
    if (ipfix::message_view::parse(d, view) != ipfix::parse_error::none ||
        view.header().length != d.size()) {
      ++out.bad_datagrams;
      out.has_template.push_back(false);
      out.first_data.push_back(0);
      continue;
    }
    out.sequences.push_back(view.header().sequence);
    bool tmpl_here = false;
    std::uint64_t first = 0;
    view.for_each_set([&](const ipfix::set_view& s) {
      if (s.id == ipfix::template_set_id || s.id == ipfix::options_template_set_id) {
        tmpl_here = true;
        ipfix::parse_template_set(s.id, s.body, [&](ipfix::template_record&& r) {
          if (r.withdrawal)
            ++out.withdrawals;
          else
            known.insert(r.def.id);
        });
        return;
      }
      if (!known.count(s.id)) {
        ++out.undecodable_sets;
        return;
      }
      auto size = record_sizes.at(s.id);
      if (first == 0 && s.body.size() >= 8)
        first = ipfix::read_u64(s.body.data());
      out.records += s.body.size() / size;
    });
    out.has_template.push_back(tmpl_here);
    out.first_data.push_back(first);
  }
  return out;
}

class udp_exporter_test : public exporter_test {
 protected:
  udp_exporter_test() { open_receiver(0); }

  ~udp_exporter_test() override {
    asio::error_code ec;
    rx.close(ec);
  }

  /// Binds the collector's socket on 127.0.0.1:`p` (0 = any port).
  void open_receiver(std::uint16_t p) {
    rx.open(asio::ip::udp::v4());
    rx.set_option(asio::socket_base::reuse_address(true));
    rx.set_option(asio::socket_base::receive_buffer_size(4 << 20));
    rx.bind({asio::ip::address_v4::loopback(), p});
    udp_port = rx.local_endpoint().port();
  }

  exporter_session_config udp_config() {
    auto c = config();
    c.url = "ipfix+udp://127.0.0.1:" + std::to_string(udp_port);
    c.port = udp_port;
    c.datagram = true;
    c.flush_interval = 0ms; // every batch is written at once: no flush timers to drive
    c.template_refresh = 600s;
    return c;
  }

  /// Delivers the connection's callbacks until the queue is empty (bounded).
  void write_all(const exporter_session_actor& x) {
    for (int i = 0; i < 1000 && !state(x).queue.empty(); ++i)
      if (!next_event())
        break;
  }

  /// Everything the collector's socket holds now.
  std::vector<bytes> receive() {
    std::vector<bytes> out;
    asio::error_code ec;
    while (rx.available(ec) > 0 && !ec) {
      bytes d(65536);
      auto n = rx.receive(asio::buffer(d), 0, ec);
      if (ec)
        break;
      d.resize(n);
      out.push_back(std::move(d));
    }
    return out;
  }

  std::shared_ptr<const messages::enriched_payload>
  payload_of(const messages::output_template_ptr& t, std::vector<std::uint32_t> records_per_set) {
    auto p = std::make_shared<messages::enriched_payload>();
    for (auto n : records_per_set) {
      messages::enriched_set s;
      s.tmpl = t;
      s.offset = static_cast<std::uint32_t>(p->bytes.size());
      for (std::uint32_t i = 0; i < n; ++i) {
        std::uint8_t b[8];
        ipfix::write_u64(b, ++counter);
        p->bytes.insert(p->bytes.end(), b, b + 8);
      }
      s.length = n * 8;
      s.records = n;
      p->sets.push_back(s);
      p->records += n;
    }
    return p;
  }

  std::map<std::uint16_t, std::size_t> sizes() const { return {{tmpl->id, 8}}; }

  asio::ip::udp::socket rx{io};
  std::uint16_t udp_port = 0;
};

TEST_F(udp_exporter_test, datagrams_fit_max_message_size_and_are_decodable_alone) {
  auto x = spawn_exporter(udp_config());
  ASSERT_TRUE(next_event());
  ASSERT_EQ(status(x).state, "connected");
  // Sets of every size up to the enricher's largest for 512 (61 records = 488 octets).
  std::uint64_t sent = 0;
  for (std::uint32_t n : {1u, 61u, 7u, 30u, 61u, 2u, 45u, 60u, 3u, 61u}) {
    send(x, payload({n, n / 2 + 1}));
    sent += n + n / 2 + 1;
    write_all(x);
  }
  EXPECT_EQ(status(x).sent_records, sent);
  auto d = receive();
  auto sc = scan(d, sizes());
  EXPECT_EQ(sc.bad_datagrams, 0u);
  EXPECT_EQ(sc.undecodable_sets, 0u);
  EXPECT_EQ(sc.withdrawals, 0u);
  EXPECT_EQ(sc.records, sent);
  EXPECT_EQ(d.size(), status(x).sent_messages);
  for (auto size : sc.sizes)
    EXPECT_LE(size, 512u);
  // Several datagrams are full-sized: the packing is tight, not one set per datagram.
  EXPECT_GT(*std::max_element(sc.sizes.begin(), sc.sizes.end()), 480u);
  // RFC 7011 3.1: each message's sequence number counts the data records before it.
  ASSERT_FALSE(sc.sequences.empty());
  EXPECT_EQ(sc.sequences.front(), 0u);
}

TEST_F(udp_exporter_test, templates_are_refreshed_every_n_messages) {
  auto c = udp_config();
  c.template_refresh_messages = 3;
  auto x = spawn_exporter(c);
  ASSERT_TRUE(next_event());
  // 61 records (488 octets) fill a 512-octet message: one set per message.
  for (int i = 0; i < 10; ++i) {
    send(x, payload({61}));
    write_all(x);
  }
  auto d = receive();
  auto sc = scan(d, sizes());
  ASSERT_EQ(sc.bad_datagrams, 0u);
  EXPECT_EQ(sc.undecodable_sets, 0u);
  EXPECT_EQ(sc.records, 610u);
  // The first message announces the template; the template with a full set does not
  // fit 512 octets, so it goes alone. Then every third message announces it again.
  std::vector<std::size_t> with_template;
  for (std::size_t i = 0; i < sc.has_template.size(); ++i)
    if (sc.has_template[i])
      with_template.push_back(i);
  ASSERT_GE(with_template.size(), 4u) << "the template was not refreshed by message count";
  for (std::size_t k = 1; k < with_template.size(); ++k)
    EXPECT_EQ(with_template[k] - with_template[k - 1], 3u) << "refresh " << k;
  EXPECT_EQ(sc.withdrawals, 0u);
  EXPECT_EQ(status(x).templates_announced, with_template.size());
}

TEST_F(udp_exporter_test, templates_are_refreshed_after_template_refresh) {
  auto c = udp_config();
  c.template_refresh = 30s;
  auto x = spawn_exporter(c);
  ASSERT_TRUE(next_event());
  send(x, payload({2}));
  write_all(x);
  sched.advance_time(29s);
  send(x, payload({2}));
  write_all(x);
  sched.advance_time(2s); // 31 s since the connection's first announcement
  send(x, payload({2}));
  write_all(x);
  send(x, payload({2}));
  write_all(x);
  auto sc = scan(receive(), sizes());
  ASSERT_EQ(sc.has_template.size(), 4u);
  EXPECT_EQ(sc.has_template, (std::vector<bool>{true, false, true, false}));
  EXPECT_EQ(sc.undecodable_sets, 0u);
  EXPECT_EQ(sc.records, 8u);
}

TEST_F(udp_exporter_test, a_changed_definition_is_announced_again_never_withdrawn) {
  auto x = spawn_exporter(udp_config());
  ASSERT_TRUE(next_event());
  // The same id with another definition (the registry recycled it).
  auto t1 = std::make_shared<messages::output_template>(
      messages::output_template{400, make_def(400, {iana(86, 8)})});
  auto t2 = std::make_shared<messages::output_template>(
      messages::output_template{400, make_def(400, {iana(2, 4), iana(8, 4)})});
  send(x, {payload_of(t1, {3}), nullptr});
  write_all(x);
  send(x, {payload_of(t2, {4}), nullptr});
  write_all(x);
  auto d = receive();
  auto sc = scan(d, {{400, 8}});
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(sc.has_template, (std::vector<bool>{true, true}));
  EXPECT_EQ(sc.withdrawals, 0u); // RFC 7011 8.4
  EXPECT_EQ(sc.records, 7u);
  // The second datagram carries the new definition.
  ipfix::message_view view;
  ASSERT_EQ(ipfix::message_view::parse(d[1], view), ipfix::parse_error::none);
  std::vector<ipfix::template_def> defs;
  view.for_each_set([&](const ipfix::set_view& s) {
    if (s.id == ipfix::template_set_id)
      ipfix::parse_template_set(s.id, s.body,
                                [&](ipfix::template_record&& r) { defs.push_back(r.def); });
  });
  ASSERT_EQ(defs.size(), 1u);
  EXPECT_EQ(defs[0].fields.size(), 2u);
}

// A collector that is gone answers with ICMP port unreachable. The write that drew it
// has left and is lost (UDP); the kernel reports ECONNREFUSED on the next send, so that
// write fails: the exporter backs off, and on the next connection sends every datagram
// of the failed write again, templates first.
TEST_F(udp_exporter_test, refused_sends_back_off_and_are_sent_again) {
  auto c = udp_config();
  c.reconnect_min = 100ms;
  auto x = spawn_exporter(c);
  ASSERT_TRUE(next_event());
  ASSERT_EQ(status(x).state, "connected");
  rx.close(); // the collector stops: its port is closed
  send(x, payload({1}));
  ASSERT_TRUE(next_event()); // written: UDP cannot know yet
  EXPECT_EQ(status(x).sent_records, 1u);
  // Wait (bounded) until the kernel has answered datagrams to the closed port with ICMP:
  // a probe socket of our own sees ECONNREFUSED once its own ICMP is back.
  {
    asio::ip::udp::socket probe{io};
    probe.open(asio::ip::udp::v4());
    probe.connect({asio::ip::address_v4::loopback(), udp_port});
    probe.non_blocking(true);
    std::uint8_t one = 0;
    probe.send(asio::buffer(&one, 1));
    asio::error_code ec;
    auto deadline = std::chrono::steady_clock::now() + 5s;
    do {
      probe.receive(asio::buffer(&one, 1), 0, ec);
      if (ec == asio::error::would_block)
        std::this_thread::sleep_for(1ms);
    } while (ec == asio::error::would_block && std::chrono::steady_clock::now() < deadline);
    ASSERT_EQ(ec, asio::error::connection_refused) << ec.message();
  }
  send(x, payload({61, 61, 61})); // three datagrams: this write fails
  ASSERT_TRUE(next_event());
  EXPECT_EQ(status(x).state, "backoff");
  EXPECT_EQ(status(x).reconnects, 1u);
  EXPECT_EQ(status(x).sent_records, 1u) << "a refused write was counted as sent";
  EXPECT_EQ(status(x).queued_records, 183u);
  EXPECT_EQ(next_timeout_in(), 100ms);
  // The collector comes back on the same port; the backoff timer reconnects.
  open_receiver(udp_port);
  ASSERT_TRUE(sched.trigger_timeout());
  run();
  ASSERT_TRUE(next_event()); // connected; the queued write starts again
  EXPECT_EQ(status(x).connections, 2u);
  // The first write after a failure is one set only (the template goes alone before it,
  // as both do not fit 512 octets): were the collector still down, only it is lost.
  ASSERT_TRUE(next_event());
  EXPECT_EQ(status(x).sent_records, 1u + 61u);
  write_all(x);
  EXPECT_EQ(status(x).sent_records, 184u);
  auto sc = scan(receive(), sizes());
  EXPECT_EQ(sc.bad_datagrams, 0u);
  EXPECT_EQ(sc.undecodable_sets, 0u) << "templates were not announced again";
  EXPECT_EQ(sc.records, 183u);
  ASSERT_FALSE(sc.first_data.empty());
  EXPECT_EQ(sc.has_template.front(), true);
  EXPECT_EQ(sc.sequences.front(), 0u); // a new socket is a new transport session
}

// The collector may be an IPv6 address: the socket takes the family of what the host
// resolves to.
TEST_F(udp_exporter_test, an_ipv6_collector_gets_the_same_datagrams) {
  asio::ip::udp::socket rx6{io};
  asio::error_code ec;
  rx6.open(asio::ip::udp::v6(), ec);
  if (!ec)
    rx6.bind({asio::ip::address_v6::loopback(), 0}, ec);
  if (ec)
    GTEST_SKIP() << "no IPv6 loopback: " << ec.message();
  auto c = udp_config();
  c.host = "::1";
  c.port = rx6.local_endpoint().port();
  auto x = spawn_exporter(c);
  ASSERT_TRUE(next_event());
  ASSERT_EQ(status(x).state, "connected");
  send(x, payload({61, 10}));
  write_all(x);
  std::vector<bytes> d;
  while (rx6.available(ec) > 0 && !ec) {
    bytes b(65536);
    b.resize(rx6.receive(asio::buffer(b)));
    d.push_back(std::move(b));
  }
  auto sc = scan(d, sizes());
  EXPECT_EQ(sc.bad_datagrams, 0u);
  EXPECT_EQ(sc.undecodable_sets, 0u);
  EXPECT_EQ(sc.records, 71u);
  for (auto size : sc.sizes)
    EXPECT_LE(size, 512u);
}

} // namespace
} // namespace fa::actors::test
