// The names of the objects a hint creates, chosen in the live catalog the way PostgreSQL chooses
// names of its own, so that the hint's SQL runs as it is.
#pragma once
#include "common/cpp_only.hpp"

#include "rules/model.hpp"

namespace zdm::guard {

// A chooser that reads the catalog (syscache and catalog index scans, no lock on any user table).
// Set it on every Statement before judge().
const NameChooser& catalog_names();

}  // namespace zdm::guard
