#pragma once

#include "config/config.hpp"
#include "config/schema.hpp"

#include <toml++/toml.h>

#include <set>
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

/// The full path of every key written in `table` ("collector.tls.cert"), sub-tables
/// excluded and the elements of table arrays merged, to compare with `schema_keys()`.
inline std::set<std::string> written_keys(const toml::table& table, const std::string& path = {}) {
  std::set<std::string> result;
  for (const auto& [key, value] : table) {
    auto full = key_path(path, key.str());
    std::set<std::string> below;
    if (const auto* sub = value.as_table())
      below = written_keys(*sub, full);
    else if (const auto* array = value.as_array(); array && array->is_array_of_tables())
      for (const auto& element : *array)
        below.merge(written_keys(*element.as_table(), full));
    else
      result.insert(full);
    result.merge(below);
  }
  return result;
}

/// `schema_keys()` as a set.
inline std::set<std::string> schema_key_set() {
  auto keys = schema_keys();
  return {keys.begin(), keys.end()};
}

} // namespace fa::config::test
