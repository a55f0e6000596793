// memfd creation, sizing, seals and read-only reopening: the kernel-side safety of a buffer.
#pragma once
#include <napi.h>

namespace memfd_pool {

void InitMemfd(Napi::Env env, Napi::Object exports);

// -errno helpers shared with the channel code.
int SetCloexecNonblock(int fd);

}  // namespace memfd_pool
