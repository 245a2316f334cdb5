// The one place where C++ and PostgreSQL errors cross.
//
// PostgreSQL reports errors with ereport(ERROR), a longjmp that skips C++ destructors; C++ reports
// them with exceptions, which must never unwind through PostgreSQL's C frames. So:
//   * every entry point from PostgreSQL (hook, SQL-callable function, event trigger, worker main)
//     runs its body through guarded(): C++ exceptions are caught, their text copied into a plain
//     struct, the catch left, and only then is ereport(ERROR) raised;
//   * C++ code that calls a PostgreSQL function which may ereport makes the call through call():
//     the error is caught with PG_TRY, copied, flushed and thrown as PgError, so destructors run and
//     guarded() re-raises it with ReThrowError, SQLSTATE, message, detail and position intact.
// (Modelled on pg_duckdb's InvokeCPPFunc and PostgresFunctionGuard.)
#pragma once

#include <exception>
#include <new>
#include <type_traits>
#include <utility>

#include "common/user_error.hpp"
#include "pg/postgres.hpp"

namespace zdm::pg {

// A PostgreSQL error caught under C++ code. Owns nothing: the ErrorData lives in the memory context
// that was current when the call was made.
class PgError final : public std::exception {
 public:
  explicit PgError(ErrorData* edata) noexcept : edata_(edata) {}
  ErrorData* data() const noexcept { return edata_; }
  int sqlerrcode() const noexcept { return edata_ ? edata_->sqlerrcode : 0; }
  const char* what() const noexcept override {
    return edata_ && edata_->message ? edata_->message : "PostgreSQL error";
  }

 private:
  ErrorData* edata_;
};

// Runs `fn`, a call into PostgreSQL, and turns an ereport(ERROR) inside it into a PgError.
// `fn` must keep no object with a destructor alive across the PostgreSQL call: the longjmp skips
// its frame. Its return value must be trivially copyable (a Datum, a pointer, a number).
template <typename Fn>
auto call(Fn&& fn) -> decltype(fn()) {
  using Result = decltype(fn());
  MemoryContext volatile caller_context = CurrentMemoryContext;
  ErrorData* volatile error = nullptr;
  if constexpr (std::is_void_v<Result>) {
    PG_TRY();
    { fn(); }
    PG_CATCH();
    {
      MemoryContextSwitchTo(caller_context);
      error = CopyErrorData();
      FlushErrorState();
    }
    PG_END_TRY();
    if (error != nullptr) throw PgError(error);
  } else {
    static_assert(std::is_trivially_copyable_v<Result>, "pg::call returns plain values only");
    Result result{};
    PG_TRY();
    { result = fn(); }
    PG_CATCH();
    {
      MemoryContextSwitchTo(caller_context);
      error = CopyErrorData();
      FlushErrorState();
    }
    PG_END_TRY();
    if (error != nullptr) throw PgError(error);
    return result;
  }
}

// What an entry point caught, copied out of the exception into fixed buffers (no allocation, no
// destructor) so that nothing C++ is alive when it is raised. The buffers are left uninitialised:
// capture() writes every one that raise() reads, and an entry point that succeeds (the hook, on
// every statement) does not clear 5 KB for nothing.
struct Failure {
  ErrorData* pg_error = nullptr;
  bool out_of_memory = false;
  bool user = false;
  char sqlstate[6];
  char message[1024];
  char detail[2048];
  char hint[2048];
};
static_assert(std::is_trivially_destructible_v<Failure>);

void capture(Failure& failure, const UserError& e) noexcept;
void capture(Failure& failure, const char* internal_message) noexcept;
[[noreturn]] void raise(const Failure& failure);

// Runs an entry point's body. Any exception becomes ereport(ERROR) after the catch is left.
template <typename Fn>
auto guarded(Fn&& fn) -> decltype(fn()) {
  Failure failure;
  try {
    return fn();
  } catch (const PgError& e) {
    failure.pg_error = e.data();
  } catch (const UserError& e) {
    capture(failure, e);
  } catch (const std::bad_alloc&) {
    failure.out_of_memory = true;
  } catch (const std::exception& e) {
    capture(failure, e.what());
  } catch (...) {
    capture(failure, "unknown C++ exception");
  }
  raise(failure);
}

}  // namespace zdm::pg
