// Registers the addon's exports. Context-aware (NODE_API_MODULE): no global state, so it loads
// in worker threads too — piscina threads map descriptors themselves.
#include <napi.h>

#include "channel.h"
#include "file-limit.h"
#include "listener.h"
#include "mapping.h"
#include "memfd.h"
#include "process.h"

namespace memfd_pool {

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitMemfd(env, exports);
  InitMapping(env, exports);
  InitChannel(env, exports);
  InitListener(env, exports);
  InitFileLimit(env, exports);
  InitProcess(env, exports);
  return exports;
}

}  // namespace memfd_pool

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return memfd_pool::Init(env, exports); }

NODE_API_MODULE(memfd_pool, InitAddon)
