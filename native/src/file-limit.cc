#include "file-limit.h"

#include <sys/resource.h>

#include <cerrno>
#include <cmath>

#include "errors.h"

namespace memfd_pool {

namespace {

// RLIM_INFINITY does not fit a JavaScript number exactly; it is reported as Infinity. (Linux caps
// RLIMIT_NOFILE at fs.nr_open anyway, so it is not seen in practice.)
Napi::Value LimitValue(Napi::Env env, rlim_t value) {
  if (value == RLIM_INFINITY) return Napi::Number::New(env, HUGE_VAL);
  return Napi::Number::New(env, static_cast<double>(value));
}

Napi::Object LimitObject(Napi::Env env, const struct rlimit& limit) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("soft", LimitValue(env, limit.rlim_cur));
  out.Set("hard", LimitValue(env, limit.rlim_max));
  return out;
}

Napi::Value FileLimit(const Napi::CallbackInfo& info) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) < 0) ThrowErrno(info.Env(), errno, "getrlimit");
  return LimitObject(info.Env(), limit);
}

// Soft up to hard: an unprivileged process may always do this (setrlimit(2)). The node binary
// does it at start-up, but an embedder, a parent (prlimit) or a shell may have lowered it since,
// and the usual soft default of 1024 would cap a server whose every buffer is a descriptor far
// below what the system allows. The store's budget is derived from the result.
Napi::Value RaiseFileLimit(const Napi::CallbackInfo& info) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) < 0) ThrowErrno(info.Env(), errno, "getrlimit");
  if (limit.rlim_cur != limit.rlim_max) {
    struct rlimit raised = {limit.rlim_max, limit.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &raised) < 0) ThrowErrno(info.Env(), errno, "setrlimit");
    limit = raised;
  }
  return LimitObject(info.Env(), limit);
}

}  // namespace

void InitFileLimit(Napi::Env env, Napi::Object exports) {
  exports.Set("fileLimit", Napi::Function::New(env, FileLimit, "fileLimit"));
  exports.Set("raiseFileLimit", Napi::Function::New(env, RaiseFileLimit, "raiseFileLimit"));
}

}  // namespace memfd_pool
