#pragma once

// Record rewriting (DESIGN 2, antrea-proxy-semantics.md 2): copies each record of a data
// slice and appends the configured fields (Pod labels, clusterId, provenance,
// flowDirection), filling the empty Pod names of InterNode records from the Pod index.
// Plain C++, no actors: the enricher actor owns one per enricher and feeds it batches;
// tests and the benchmark drive it directly (architecture-2 weakness 1).

#include "enrich/enrichment_options.hpp"
#include "enrich/set_writer.hpp"
#include "labels/pod_snapshot.hpp"
#include "messages/batches.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace fa::enrich {

/// What enriching counted, added to on every call (never reset here).
struct slice_counts {
  std::uint64_t dropped_invalid_addresses = 0; ///< Antrea records without both addresses
  std::uint64_t dropped_no_start_time = 0;     ///< Antrea records without a start time
  std::uint64_t dropped_too_large = 0;         ///< records too large for a set
  std::uint64_t label_lookups = 0;             ///< addresses looked up for labels
  std::uint64_t label_hits = 0;                ///< ... and found
};

/// Picks the output of each record when a slice is split by flow (aggregate shards,
/// fanout flow): `record` is its input octets and `varlen` its variable-length values.
class record_router {
 public:
  virtual set_writer& writer_for(ipfix::bytes_view record,
                                 std::span<const ipfix::field_slice> varlen) = 0;

 protected:
  ~record_router() = default;
};

class slice_enricher {
 public:
  /// `max_set_body`: the largest data set body an output set may have.
  explicit slice_enricher(enrichment_options options = {}, std::size_t max_set_body = 65535 - 20);

  const enrichment_options& options() const { return options_; }
  std::size_t max_set_body() const { return max_set_body_; }
  void reconfigure(enrichment_options options, std::size_t max_set_body);

  /// The Pod index records are looked up in (the label cache's latest snapshot).
  void set_pods(labels::pod_snapshot_ptr pods) { pods_ = std::move(pods); }
  const labels::pod_snapshot_ptr& pods() const { return pods_; }

  /// Enriches every record of `slice`, received on `session`, into `out`. `varlen` holds
  /// the variable-length values of its records as `ipfix::slice_records` found them
  /// (`data_batch::varlen_of`): the records are not walked again (issue 15).
  void enrich(const messages::session_info& session, const messages::data_slice& slice,
              std::span<const ipfix::field_slice> varlen, set_writer& out, slice_counts& counts);

  /// The same, each record into the writer `route` picks for it.
  void enrich(const messages::session_info& session, const messages::data_slice& slice,
              std::span<const ipfix::field_slice> varlen, record_router& route,
              slice_counts& counts);

 private:
  template <class Route>
  void run(const messages::session_info& session, const messages::data_slice& slice,
           std::span<const ipfix::field_slice> varlen, Route&& route, slice_counts& counts);

  enrichment_options options_;
  std::size_t max_set_body_;
  labels::pod_snapshot_ptr pods_;
  std::vector<std::uint8_t> block_; ///< the fields every record of a slice gets (scratch)
  /// Without labels: all that follows each record of a slice but flowDirection (scratch).
  std::vector<std::uint8_t> tail_;
};

/// flowDirection by Antrea's rules (antrea-proxy-semantics.md 2), decided from the
/// names as received, before any are filled in.
std::uint8_t flow_direction(std::uint8_t flow_type, bool source_pod_named,
                            bool destination_pod_named);

} // namespace fa::enrich
