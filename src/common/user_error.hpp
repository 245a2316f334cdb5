// An error the user caused (bad input, a refused operation), raised from pure C++ code.
// The entry wrapper in src/pg/boundary turns it into ereport(ERROR) with the same SQLSTATE,
// message, detail and hint, after the C++ exception is gone.
#pragma once
#include "common/cpp_only.hpp"

#include <stdexcept>
#include <string>

namespace zdm {

// SQLSTATEs zdm raises. PostgreSQL's standard codes where one fits; ZD001 is zdm's own.
namespace sqlstate {
inline constexpr const char* kInvalidParameterValue = "22023";
inline constexpr const char* kSyntaxError = "42601";
inline constexpr const char* kUndefinedTable = "42P01";
inline constexpr const char* kUndefinedObject = "42704";
inline constexpr const char* kUndefinedColumn = "42703";
inline constexpr const char* kWrongObjectType = "42809";
inline constexpr const char* kFeatureNotSupported = "0A000";
inline constexpr const char* kActiveSqlTransaction = "25001";
inline constexpr const char* kLockNotAvailable = "55P03";
inline constexpr const char* kObjectInUse = "55006";
inline constexpr const char* kNullValueNotAllowed = "22004";
inline constexpr const char* kInsufficientPrivilege = "42501";
inline constexpr const char* kProgramLimitExceeded = "54000";
// zdm_strict_violation: a statement rejected by zdm.mode = 'strict'.
inline constexpr const char* kStrictViolation = "ZD001";
}  // namespace sqlstate

class UserError : public std::runtime_error {
 public:
  UserError(const char* sqlstate, std::string message, std::string detail = {}, std::string hint = {})
      : std::runtime_error(message),
        sqlstate_(sqlstate),
        detail_(std::move(detail)),
        hint_(std::move(hint)) {}

  const char* sqlstate() const noexcept { return sqlstate_; }
  const std::string& detail() const noexcept { return detail_; }
  const std::string& hint() const noexcept { return hint_; }

 private:
  const char* sqlstate_;
  std::string detail_;
  std::string hint_;
};

}  // namespace zdm
