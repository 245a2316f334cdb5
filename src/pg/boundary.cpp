#include "pg/boundary.hpp"

#include <cstring>

namespace zdm::pg {

namespace {
void copy(char* dst, size_t size, const char* src) noexcept {
  if (src == nullptr) src = "";
  size_t n = std::strlen(src);
  if (n >= size) n = size - 1;
  std::memcpy(dst, src, n);
  dst[n] = '\0';
}
}  // namespace

void capture(Failure& failure, const UserError& e) noexcept {
  failure.user = true;
  copy(failure.sqlstate, sizeof failure.sqlstate, e.sqlstate());
  copy(failure.message, sizeof failure.message, e.what());
  copy(failure.detail, sizeof failure.detail, e.detail().c_str());
  copy(failure.hint, sizeof failure.hint, e.hint().c_str());
}

void capture(Failure& failure, const char* internal_message) noexcept {
  failure.user = false;
  copy(failure.message, sizeof failure.message, internal_message);
}

void raise(const Failure& failure) {
  if (failure.pg_error != nullptr) ReThrowError(failure.pg_error);
  if (failure.out_of_memory)
    ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
  if (!failure.user)
    ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("zdm internal error: %s", failure.message)));
  const char* s = failure.sqlstate;
  int code = MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]);
  ereport(ERROR, (errcode(code), errmsg_internal("%s", failure.message),
                  failure.detail[0] ? errdetail_internal("%s", failure.detail) : 0,
                  failure.hint[0] ? errhint("%s", failure.hint) : 0));
  pg_unreachable();
}

}  // namespace zdm::pg
