#pragma once

// The variable-length values the enricher hands over with its records
// (enriched_payload varlen), made in tests by walking the records, so that a reader's
// path through handed-over values can be checked against its walking path.

#include "ipfix/record.hpp"
#include "messages/batches.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

namespace fa::test {

/// The variable-length values of every record of a data set body, walked, record after
/// record (`layout.num_varlen()` each).
inline std::vector<ipfix::field_slice> walked_values(const ipfix::record_layout& layout,
                                                     ipfix::bytes_view body) {
  const std::size_t nv = layout.num_varlen();
  std::vector<ipfix::field_slice> out;
  std::size_t pos = 0;
  while (body.size() - pos >= std::max<std::size_t>(layout.min_length(), 1)) {
    out.resize(out.size() + nv);
    ipfix::parse_error err = ipfix::parse_error::none;
    const auto len = layout.walk_varlen(body.subspan(pos), {out.data() + out.size() - nv, nv}, err);
    EXPECT_GT(len, 0u);
    if (len == 0) {
      out.resize(out.size() - nv);
      break;
    }
    pos += len;
  }
  return out;
}

/// A copy of `p` that carries each set's values, as the enricher writes them for the
/// destinations that read fields.
inline std::shared_ptr<const messages::enriched_payload>
with_values(const messages::enriched_payload& p) {
  auto out = std::make_shared<messages::enriched_payload>(p);
  out->varlen.clear();
  for (auto& s : out->sets) {
    ipfix::record_layout layout{s.tmpl->def};
    s.varlen = static_cast<std::uint32_t>(out->varlen.size());
    auto v = walked_values(layout, {p.bytes.data() + s.offset, s.length});
    out->varlen.insert(out->varlen.end(), v.begin(), v.end());
  }
  return out;
}

} // namespace fa::test
