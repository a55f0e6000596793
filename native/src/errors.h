// Errors at the addon's edge, shaped like Node's own system errors: `code` (EBADF), `errno`
// (negative, as libuv reports it), `syscall`. Helpers inside return -errno; only the binding
// functions turn a failure into a JavaScript exception.
#pragma once
#include <napi.h>
#include <string>

namespace memfd_pool {

// Throws an Error for errno value `err` (positive) raised by `syscall`.
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char* syscall);
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall);
// An Error with a custom `code` (e.g. ERR_FD_LIMIT) for protocol-level failures.
Napi::Error CodedError(Napi::Env env, const char* code, const std::string& message);

// Argument validation: TypeError for a wrong type, RangeError for an out-of-range value.
int ArgFd(const Napi::CallbackInfo& info, size_t index, const char* name);
int64_t ArgSize(const Napi::CallbackInfo& info, size_t index, const char* name);
int64_t OptSize(Napi::Object options, const char* name, int64_t fallback);
bool OptBool(Napi::Object options, const char* name, bool fallback);

}  // namespace memfd_pool
