#include "guard/names.hpp"

#include <string>

#include "guard/catalog.hpp"
#include "pg/boundary.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/trigger.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

namespace zdm::guard {

namespace {

// The plain C below runs inside pg::call: no C++ object is alive across its PostgreSQL calls.

Oid type_namespace(Oid type) {
  HeapTuple tuple = SearchSysCache1(TYPEOID, ObjectIdGetDatum(type));
  if (!HeapTupleIsValid(tuple)) return InvalidOid;
  Oid nsp = reinterpret_cast<Form_pg_type>(GETSTRUCT(tuple))->typnamespace;
  ReleaseSysCache(tuple);
  return nsp;
}

// A function of that name without arguments in the table's schema, or a trigger of that name on it:
// the hint creates both under one name.
bool function_or_trigger_taken(Oid table, const char* name) {
  Oid nsp = get_rel_namespace(table);
  oidvector* no_arguments = buildoidvector(nullptr, 0);
  if (OidIsValid(nsp) && SearchSysCacheExists3(PROCNAMEARGSNSP, CStringGetDatum(name), PointerGetDatum(no_arguments),
                                               ObjectIdGetDatum(nsp)))
    return true;
  return OidIsValid(get_trigger_oid(table, name, true));
}

// ChooseRelationName's loop (indexcmds.c) for the kinds PostgreSQL has no chooser for: columns, and
// a trigger function with its trigger.
char* choose_numbered(NameKind kind, Oid table, const char* name1, const char* name2, const char* label) {
  char modlabel[NAMEDATALEN];
  strlcpy(modlabel, label, sizeof modlabel);
  for (int pass = 1;; pass++) {
    char* name = makeObjectName(name1, name2, modlabel);
    bool taken = kind == NameKind::Column ? SearchSysCacheExistsAttName(table, name)
                                          : function_or_trigger_taken(table, name);
    if (!taken) return name;
    pfree(name);
    snprintf(modlabel, sizeof modlabel, "%s%d", label, pass);
  }
}

char* choose_name(NameKind kind, Oid owner, const char* name1, const char* name2, const char* label) {
  if (kind == NameKind::DomainConstraint) {
    Oid nsp = OidIsValid(owner) ? type_namespace(owner) : InvalidOid;
    // typecmds.c domainAddConstraint names an unnamed CHECK this way.
    return OidIsValid(nsp) ? ChooseConstraintName(name1, name2, label, nsp, NIL) : makeObjectName(name1, name2, label);
  }
  // Not in the catalog (zdm.lint: created earlier in the file): nothing to collide with yet.
  if (!OidIsValid(owner) || get_rel_relkind(owner) == '\0') return makeObjectName(name1, name2, label);
  switch (kind) {
    case NameKind::Relation:
      return ChooseRelationName(name1, name2, label, get_rel_namespace(owner), false);
    case NameKind::Constraint:
      // As AddRelationNewConstraints names a CHECK: unique in the schema, not only on the table.
      return ChooseConstraintName(name1, name2, label, get_rel_namespace(owner), NIL);
    default:
      return choose_numbered(kind, owner, name1, name2, label);
  }
}

class CatalogNames final : public NameChooser {
 public:
  std::string choose(const NameRequest& r) const override {
    const char* name1 = r.name1.c_str();
    const char* name2 = r.name2.empty() ? nullptr : r.name2.c_str();
    const char* label = r.label.c_str();
    char* chosen = pg::call([&] { return choose_name(r.kind, static_cast<Oid>(r.owner), name1, name2, label); });
    return quote_ident(chosen);
  }
};

const CatalogNames the_catalog_names;

}  // namespace

const NameChooser& catalog_names() { return the_catalog_names; }

}  // namespace zdm::guard
