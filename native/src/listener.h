// A listening SOCK_SEQPACKET Unix socket: accepts connections on the loop and hands each new
// descriptor to JavaScript, which wraps it in a Channel. At the open-file limit it stops polling
// and reports the errno instead (a negative "descriptor"); JavaScript resumes it after a back-off.
#pragma once
#include <napi.h>
#include <sys/types.h>
#include <uv.h>

#include <string>

#include "unique-fd.h"

namespace memfd_pool {

class Listener : public Napi::ObjectWrap<Listener> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Listener(const Napi::CallbackInfo& info);
  ~Listener() override;

 private:
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Resume(const Napi::CallbackInfo& info);
  static void OnPoll(uv_poll_t* handle, int status, int events);
  void Shutdown();

  UniqueFd fd_;
  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference listener_;
  std::string path_;
  dev_t dev_ = 0;  // identity of the socket file we created, so close() never unlinks
  ino_t ino_ = 0;  // a file someone else put at the same path later
  bool open_ = false;
  bool paused_ = false;  // polling stopped after accept failed for want of descriptors
};

void InitListener(Napi::Env env, Napi::Object exports);

}  // namespace memfd_pool
