#pragma once

// template_registry (DESIGN 2): owns the output template table that sessions intern
// their templates in, and answers inspection requests about it.

#include "actors/interfaces.hpp"
#include "actors/output_template_table.hpp"

namespace fa::actors {

struct template_registry_state {
  template_registry_state() = default;
  std::shared_ptr<output_template_table> table;
  static inline const char* name = "template_registry";
};

template_registry_actor::behavior_type
template_registry(template_registry_actor::stateful_pointer<template_registry_state> self,
                  std::shared_ptr<output_template_table> table);

} // namespace fa::actors
