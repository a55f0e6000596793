#include "process.h"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>

#include "errors.h"

namespace memfd_pool {

namespace {

// setParentDeathSignal(signal: number): prctl(PR_SET_PDEATHSIG). The kernel sends `signal` to
// this process when the thread that forked it exits (0 clears it). Returns getppid() read after
// the call: if the parent died before it, the process has been reparented already and no signal
// will ever come, so the caller compares that with the parent it expects.
Napi::Value SetParentDeathSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    throw Napi::TypeError::New(env, "signal must be a number");
  }
  const int32_t signal = info[0].As<Napi::Number>().Int32Value();
  if (signal < 0 || signal >= NSIG) throw Napi::RangeError::New(env, "signal is not a valid signal number");
  if (prctl(PR_SET_PDEATHSIG, static_cast<unsigned long>(signal), 0, 0, 0) != 0) ThrowErrno(env, errno, "prctl");
  return Napi::Number::New(env, static_cast<double>(getppid()));
}

}  // namespace

void InitProcess(Napi::Env env, Napi::Object exports) {
  exports.Set("setParentDeathSignal", Napi::Function::New(env, SetParentDeathSignal, "setParentDeathSignal"));
}

}  // namespace memfd_pool
