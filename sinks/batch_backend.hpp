#pragma once

// What a batch destination's thread does with one batch (sinks/batch_worker.hpp): a
// ClickHouse insert or a flow-log file write. Blocking is allowed: it runs on the
// destination's own thread, never on an actor's.

#include "messages/batches.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace fa::sinks {

using payload_ptr = std::shared_ptr<const messages::enriched_payload>;

enum class write_outcome : std::uint8_t {
  ok,       ///< written
  retry,    ///< not written, or maybe not (an outage): the same batch is tried again
  rejected, ///< refused for its content (a schema mismatch): dropped, counted, not retried
};

struct write_report {
  write_outcome outcome = write_outcome::ok;
  std::string reason;          ///< the failure's metric label (a fixed set per backend)
  std::string detail;          ///< for the log: the server's error text, the system's reason
  std::uint64_t rows = 0;      ///< ok: records written
  std::uint64_t skipped = 0;   ///< ok: records left out on purpose (flow-log filters)
  std::uint64_t bytes = 0;     ///< ok: octets sent or written
  std::uint64_t rotations = 0; ///< flow log: files rotated during this write
  std::string warning;         ///< a problem that lost nothing (a rotated file not gzipped)
};

class batch_backend {
 public:
  virtual ~batch_backend() = default;

  /// Writes every record of `batch`. `again` is true when this is the batch of the
  /// previous call, which failed with `retry`: a backend then sends again what it built
  /// for it (the same bytes), or writes only what did not go in.
  virtual write_report write(std::span<const payload_ptr> batch, bool again) = 0;

  /// Makes a write in progress on another thread return soon (the destination stops).
  virtual void cancel() {}

  /// The failure reasons `write` reports, so that their series exist from the start.
  virtual std::span<const std::string_view> failure_reasons() const = 0;
};

} // namespace fa::sinks
