// The process's open-file limit (RLIMIT_NOFILE): read it, and raise the soft limit to the hard
// one. Every buffer costs the server one descriptor, so the limit is what its buffer budget is
// derived from (server/store/descriptor-budget.ts).
#pragma once
#include <napi.h>

namespace memfd_pool {

void InitFileLimit(Napi::Env env, Napi::Object exports);

}  // namespace memfd_pool
