#pragma once

#include "config/config.hpp"

#include <string>

namespace fa::config::test {

/// A destination with every default but its name and URL. (Designated initialisers
/// would trip -Wmissing-field-initializers on gcc.)
inline destination_config destination(std::string name, destination_url url = {}) {
  destination_config result;
  result.name = std::move(name);
  result.url = std::move(url);
  return result;
}

} // namespace fa::config::test
