#pragma once

// The generated Antrea flow messages (rpc/proto/*.proto) under a short name.

#include "flow.pb.h"    // IWYU pragma: export
#include "service.pb.h" // IWYU pragma: export

namespace fa::rpc {

/// Antrea's package `antrea_io.antrea.pkg.apis.flow.v1alpha1`.
namespace pb = ::antrea_io::antrea::pkg::apis::flow::v1alpha1;

} // namespace fa::rpc
