#include "errors.h"

#include <cmath>
#include <cstring>
#include <string.h>

namespace memfd_pool {

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall) {
  const char* name = strerrorname_np(err);
  std::string code = name != nullptr ? name : "UNKNOWN";
  std::string message = code + ": " + strerror(err) + ", " + syscall;
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", code);
  error.Set("errno", Napi::Number::New(env, -err));
  error.Set("syscall", syscall);
  return error;
}

void ThrowErrno(Napi::Env env, int err, const char* syscall) {
  throw ErrnoError(env, err, syscall);
}

Napi::Error CodedError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", code);
  return error;
}

static int64_t CheckedInteger(Napi::Env env, Napi::Value value, const char* name, int64_t max) {
  if (!value.IsNumber()) {
    throw Napi::TypeError::New(env, std::string("The \"") + name + "\" argument must be a number");
  }
  double d = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d) {
    throw Napi::RangeError::New(env, std::string("The \"") + name + "\" argument must be an integer");
  }
  if (d < 0 || d > static_cast<double>(max)) {
    throw Napi::RangeError::New(env, std::string("The \"") + name + "\" argument is out of range");
  }
  return static_cast<int64_t>(d);
}

int ArgFd(const Napi::CallbackInfo& info, size_t index, const char* name) {
  return static_cast<int>(CheckedInteger(info.Env(), info[index], name, INT32_MAX));
}

// 2^53: the largest size a JavaScript number carries exactly; no 32-bit truncation anywhere.
static constexpr int64_t kMaxSafeInteger = 9007199254740991LL;

int64_t ArgSize(const Napi::CallbackInfo& info, size_t index, const char* name) {
  return CheckedInteger(info.Env(), info[index], name, kMaxSafeInteger);
}

int64_t OptSize(Napi::Object options, const char* name, int64_t fallback) {
  Napi::Value value = options.Get(name);
  if (value.IsUndefined()) return fallback;
  return CheckedInteger(options.Env(), value, name, kMaxSafeInteger);
}

bool OptBool(Napi::Object options, const char* name, bool fallback) {
  Napi::Value value = options.Get(name);
  if (value.IsUndefined()) return fallback;
  if (!value.IsBoolean()) {
    throw Napi::TypeError::New(options.Env(), std::string("The \"") + name + "\" option must be a boolean");
  }
  return value.As<Napi::Boolean>().Value();
}

}  // namespace memfd_pool
