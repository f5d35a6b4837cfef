#pragma once

// Writes received Flows straight into budgeted chunks as whole IPFIX messages of the
// agent's record shape (rpc/flow_codec.hpp): the templates once per observation domain
// of the stream, then data sets. The chunk then goes to an ordinary agent_session through
// the same `frames` path as a TCP read (DESIGN 2, 10), so a Flow costs one encode into
// the buffer the session keeps, and no further copy.

#include "messages/chunk.hpp"
#include "rpc/flow_codec.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace fa::rpc {

/// What one ExportRequest brought.
struct request_result {
  bool ok = true;          ///< false: malformed, none of its Flows was taken
  std::uint64_t flows = 0; ///< Flows in it (0 when malformed)
  std::array<std::uint64_t, num_flow_errors> refused{}; ///< Flows refused, by reason
  bool any_refused = false;
};

class flow_writer {
 public:
  using emit_fn = std::function<void(messages::chunk_ptr)>;

  /// Chunks are charged to `budgets` (DESIGN 3); each full or flushed one goes to `emit`.
  /// Records carry the UUID elements when `uids` (flow_template).
  flow_writer(messages::session_budgets budgets, emit_fn emit, bool uids = true);

  /// Converts and appends one Flow; a refused one (the reason returned) leaves nothing.
  /// `now` (unix seconds) is the export time of a message whose first Flow has none.
  flow_error add(const flow_fields& f, std::uint32_t now);

  /// Converts and appends each Flow of a serialized ExportRequest, read straight from its
  /// wire format (rpc/flow_wire.hpp) into the chunk in one pass. A malformed request (one
  /// protobuf would refuse to parse) leaves nothing, as if it had not been read: what its
  /// first Flows wrote is taken back.
  request_result add_request(std::string_view request, std::uint32_t now);

  /// Closes the open message and hands the chunk on, if anything is in it.
  void flush();

  /// Bytes written and not yet flushed.
  std::size_t pending() const { return chunk_ ? size_ : 0; }

  /// Distinct observation domains one stream may use (each has its own templates and
  /// sequence numbers in the session; RFC 7011 8). More are refused.
  static constexpr std::size_t max_domains = 64;
  /// Chunk sizes: start small (an agent sends one Flow per request), grow to the TCP
  /// reader's read size under load.
  static constexpr std::size_t min_chunk = 8 * 1024;
  static constexpr std::size_t max_chunk = 256 * 1024;

 private:
  struct domain {
    std::uint32_t odid = 0;
    std::uint32_t sequence = 0; ///< data records sent before the open message (RFC 7011 3.1)
  };

  /// Makes room for `record` octets of template `set_id` in domain `d`.
  bool reserve(std::size_t record, std::uint16_t set_id, std::uint32_t odid,
               std::uint32_t export_time);
  void begin_message(domain& d, std::uint32_t export_time, bool templates);
  void end_message();
  void new_chunk(std::size_t at_least);
  void emit_chunk();
  domain* find_domain(std::uint32_t odid, bool& is_new);

  /// Where the writer stood before a request, to take the request back.
  struct mark {
    const messages::chunk* chunk = nullptr;
    std::size_t size = 0;
    std::size_t next_capacity = 0;
    bool in_message = false;
    std::size_t message_start = 0;
    std::size_t set_start = 0;
    std::uint16_t set_id = 0;
    std::uint32_t message_records = 0;
    domain* current = nullptr;
    std::size_t domains = 0;
  };
  mark begin_request();
  /// Hands on the chunks the request filled.
  void commit_request();
  /// Back to `m`: what the request wrote is gone, its chunks are dropped.
  void rollback_request(const mark& m);

  messages::session_budgets budgets_;
  emit_fn emit_;
  bool uids_;
  std::shared_ptr<messages::chunk> chunk_;
  std::size_t size_ = 0;
  std::size_t next_capacity_ = min_chunk;
  // The open message (when in_message_).
  bool in_message_ = false;
  std::size_t message_start_ = 0;
  std::size_t set_start_ = 0;
  std::uint16_t set_id_ = 0; ///< 0 = no open set
  std::uint32_t message_records_ = 0;
  domain* domain_ = nullptr;
  std::vector<domain> domains_;
  // During add_request: chunks it filled, handed on only once the request is whole, and
  // the domains' sequence numbers before it (once saved_sequences_: saved by the first
  // message the request ends).
  bool in_request_ = false;
  std::vector<std::shared_ptr<messages::chunk>> held_;
  std::vector<std::uint32_t> sequences_;
  bool saved_sequences_ = false;
};

} // namespace fa::rpc
