// Shared mappings exposed to JavaScript as Buffers that unmap themselves.
#pragma once
#include <napi.h>

namespace memfd_pool {

void InitMapping(Napi::Env env, Napi::Object exports);

}  // namespace memfd_pool
