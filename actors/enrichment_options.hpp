#pragma once

// The options moved to enrich/ with the record rewriting; the actors name them here.

#include "enrich/enrichment_options.hpp"

namespace fa::actors {

using enrich::enrichment_options;

} // namespace fa::actors
