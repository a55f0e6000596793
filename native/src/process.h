// Process-level settings of the calling process (not of a descriptor): for now, dying with the
// parent, so a worker process never outlives the server that spawned it.
#pragma once
#include <napi.h>

namespace memfd_pool {

void InitProcess(Napi::Env env, Napi::Object exports);

}  // namespace memfd_pool
