#pragma once

// Builds the template plan of one input template: where the fields the enricher reads
// are, and the output template (input fields + appended fields, DESIGN 2).

#include "actors/enrichment_options.hpp"
#include "actors/output_template_table.hpp"
#include "messages/template_plan.hpp"

namespace fa::actors {

/// The plan for `input` of observation domain `odid`; its output template is interned
/// in `table`. Returns nullptr when the table has no free id or the output template
/// would not fit a message.
messages::template_plan_ptr plan_template(const ipfix::template_def& input, std::uint32_t odid,
                                          const enrichment_options& opts,
                                          output_template_table& table);

/// The output field specifiers appended for `append`, in Antrea's order
/// (antrea-proxy-semantics.md 2 step 4).
std::vector<ipfix::field_spec> appended_specs(const messages::appended_fields& append);

} // namespace fa::actors
