#pragma once

// Builds the template plan of one input template: where the fields the enricher reads
// are, and the output template (input fields + appended fields, DESIGN 2).

#include "actors/enrichment_options.hpp"
#include "actors/output_template_table.hpp"
#include "messages/template_plan.hpp"

namespace fa::actors {

/// The plan for `input` of observation domain `odid`: where the enricher finds the
/// fields it reads and which fields it appends. Its output template is not allocated
/// (`output` is null) until data needs it (`bind_output`): a template that carries no
/// data holds no output id (issue 16 defect 2). nullptr when the output template would
/// not fit a message.
messages::template_plan_ptr plan_template(const ipfix::template_def& input, std::uint32_t odid,
                                          const enrichment_options& opts);

/// The output template of `plan`: its input fields, then the appended ones (DESIGN 2).
ipfix::template_def output_layout(const messages::template_plan& plan);

/// A copy of `plan` with its output template interned in `table`, or nullptr when the
/// table has no free id. Once per template and binding, never per record.
messages::template_plan_ptr bind_output(const messages::template_plan& plan,
                                        output_template_table& table);

/// A copy of `plan` without its output template, so that the id can be reused once no
/// one else holds it.
messages::template_plan_ptr unbind_output(const messages::template_plan& plan);

/// The output field specifiers appended for `append`, in Antrea's order
/// (antrea-proxy-semantics.md 2 step 4).
std::vector<ipfix::field_spec> appended_specs(const messages::appended_fields& append);

} // namespace fa::actors
