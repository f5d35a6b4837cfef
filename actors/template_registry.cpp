#include "actors/template_registry.hpp"

#include "actors/actor_stats.hpp"

namespace fa::actors {

template_registry_actor::behavior_type
template_registry(template_registry_actor::stateful_pointer<template_registry_state> self,
                  std::shared_ptr<output_template_table> table) {
  self->state.table = std::move(table);
  return counted_behavior{
      self,
      [=](caf::get_atom) { return static_cast<std::uint64_t>(self->state.table->size()); },
  };
}

} // namespace fa::actors
