#pragma once

#include "ipfix/template.hpp"

#include <memory>

namespace fa::messages {

/// A downstream template: a definition with the id the template registry gave it. The
/// id is reserved while any pointer to it lives (DESIGN 2: ids are reference-counted).
struct output_template {
  std::uint16_t id = 0;
  ipfix::template_def def; ///< def.id == id
};

using output_template_ptr = std::shared_ptr<const output_template>;

} // namespace fa::messages
